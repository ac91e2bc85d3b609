"""FineWeb-2's per-language configs, read as published: the bundled zip, or a folder or zip a user names.

Every per-language number the fineweb2 blocks use (the language-score threshold, the repetition and
quality thresholds, the stop words) is read from FineWeb-2's own `configs/<label>.yml`, never retyped.
The package ships the 1,929 files verbatim in one zip (`filters/data/fineweb2_configs.zip`) with the
upstream LICENSE and a MANIFEST.json naming the commit and each file's sha256: one file in the repository,
random access by name with the standard library, bytes checkable against the source. A language's file
is parsed the first time a document of that language arrives (about 1 ms), once per worker.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import os
import zipfile
from importlib import resources

import yaml

from ..presets import ConfigError
from .labels import LID176_TO_ISO3, Lid176Labels

BUNDLED = "bundled"
# the keys every FineWeb-2 config has (all 1,929 checked), and what reads them
KEYS = {
    "language_score": "fineweb2_language: minimum score of the top label",
    "dup_line_frac": "fineweb2_gopher_repetition",
    "top_n_grams": "fineweb2_gopher_repetition",
    "dup_n_grams": "fineweb2_gopher_repetition",
    "line_punct_thr": "fineweb2_fineweb_quality",
    "new_line_ratio": "fineweb2_fineweb_quality",
    "min_avg_word_length": "fineweb2_gopher_quality",
    "max_avg_word_length": "fineweb2_gopher_quality",
    "max_non_alpha_words_ratio": "fineweb2_gopher_quality",
    "stopwords": "fineweb2_gopher_quality",
}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def bundled_path() -> str:
    return str(resources.files("thresher.filters").joinpath("data", "fineweb2_configs.zip"))


class LanguageConfigs:
    """The configs of one source (a folder of `<label>.yml`, or a zip holding them anywhere inside)."""

    def __init__(self, source: str = BUNDLED):
        self.source = source
        self.path = bundled_path() if source == BUNDLED else os.path.expanduser(source)
        self._parsed: dict[str, dict] = {}
        self._zip: zipfile.ZipFile | None = None
        if os.path.isdir(self.path):
            self._members = {n[:-4]: os.path.join(self.path, n) for n in os.listdir(self.path) if n.endswith(".yml")}
        elif os.path.isfile(self.path) and zipfile.is_zipfile(self.path):
            self._zip = zipfile.ZipFile(self.path)
            self._members = {os.path.basename(n)[:-4]: n for n in self._zip.namelist() if n.endswith(".yml")}
        else:
            raise ConfigError(
                f"FineWeb-2 configs {source!r}: no such folder or zip; give `bundled` or the path of a "
                f"folder of <lang>_<Script>.yml files"
            )
        if not self._members:
            raise ConfigError(f"FineWeb-2 configs {source!r} holds no <lang>_<Script>.yml file")
        self.labels = frozenset(self._members)
        self._lid176: Lid176Labels | None = None

    @property
    def lid176(self) -> Lid176Labels:
        """lid.176's labels mapped to these configs' labels."""
        if self._lid176 is None:
            self._lid176 = Lid176Labels(self.labels)
        return self._lid176

    def __contains__(self, label: object) -> bool:
        return label in self._members

    def get(self, label: str) -> dict:
        """The parsed config of `label` (KeyError when there is none); checked for FineWeb-2's 10 keys."""
        found = self._parsed.get(label)
        if found is None:
            member = self._members[label]
            if self._zip is not None:
                raw = self._zip.read(member)
            else:
                with open(member, "rb") as f:
                    raw = f.read()
            found = yaml.load(io.BytesIO(raw), Loader=_LOADER)
            missing = [k for k in KEYS if not isinstance(found, dict) or k not in found]
            if missing:
                raise ConfigError(f"FineWeb-2 config {label}.yml in {self.source!r} lacks {', '.join(missing)}")
            self._parsed[label] = found
        return found

    def check(self, languages: list[str] | None) -> None:
        """Each listed label must have a config: a typo would silently keep nothing of that language."""
        for label in languages or []:
            if label not in self._members:
                raise ConfigError(f"language {label!r}: {self.hint(str(label))}")

    def hint(self, label: str) -> str:
        """Why `label` is not a config here, and the closest labels that are."""
        code = label.lower().split("_")[0]
        iso3 = LID176_TO_ISO3.get(code, code)  # `de` and `deu_latn` both point at deu_Latn
        if iso3 == "eng":
            return "no FineWeb-2 config: English has none (English is FineWeb's: the fineweb preset)"
        same_language = sorted(lab for lab in self._members if lab.split("_")[0] == iso3)
        close = same_language or difflib.get_close_matches(label, sorted(self._members), n=3, cutoff=0.6)
        fix = f"did you mean {', '.join(close)}? " if close else ""
        return (
            f"no FineWeb-2 config in {self.source!r}: {fix}labels are ISO 639-3 + ISO 15924 script, e.g. "
            f"deu_Latn ({len(self._members)} configs; English has none: it is FineWeb's)"
        )

    def __getstate__(self):
        raise TypeError("LanguageConfigs holds an open zip: keep the source string, call open_configs() in a worker")


_OPEN: dict[str, LanguageConfigs] = {}


def open_configs(source: str = BUNDLED) -> LanguageConfigs:
    """The configs of `source`, opened once per process (blocks keep the source string, not the object)."""
    found = _OPEN.get(source)
    if found is None:
        found = _OPEN[source] = LanguageConfigs(source)
    return found


def verify_zip(path: str) -> list[str]:
    """Problems of a configs zip: a file missing from or not matching its MANIFEST.json sha256 ([] if none)."""
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("MANIFEST.json"))
        members = {os.path.basename(n): n for n in z.namelist() if n.endswith(".yml")}
        problems = [f"{name}: not in the zip" for name in manifest["files"] if name not in members]
        problems += [f"{name}: not in the manifest" for name in members if name not in manifest["files"]]
        for name, digest in manifest["files"].items():
            if name in members and hashlib.sha256(z.read(members[name])).hexdigest() != digest:
                problems.append(f"{name}: sha256 differs from the manifest")
    return problems


def pack_configs(folder: str, license_path: str, out: str, commit: str) -> None:
    """Build the bundled zip from FineWeb-2's configs/ folder: the files verbatim, its LICENSE, a manifest."""
    names = sorted(n for n in os.listdir(folder) if n.endswith(".yml"))
    files = {}
    for n in names:
        with open(os.path.join(folder, n), "rb") as f:
            files[n] = hashlib.sha256(f.read()).hexdigest()
    manifest = {"source": "huggingface/fineweb-2", "commit": commit, "license": "Apache-2.0", "files": files}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("MANIFEST.json", json.dumps(manifest, indent=0, sort_keys=True))
        z.write(license_path, "LICENSE")
        for n in names:
            z.write(os.path.join(folder, n), f"configs/{n}")
