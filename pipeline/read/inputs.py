"""What a run reads: paths, folders, globs and URLs turned into a sorted list of archive files."""

from __future__ import annotations

import glob
import os
from importlib import resources

import fsspec

BUNDLED_SAMPLE = "bundled-sample"


def expand_inputs(inputs: list[str]) -> list[str]:
    """Paths, folders, globs or fsspec URLs -> sorted, de-duplicated list of files."""
    files: list[str] = []
    for item in inputs:
        if "://" in item:
            fs, _, paths = fsspec.get_fs_token_paths(item)
            protocol = item.split("://", 1)[0]
            files.extend(p if "://" in p else f"{protocol}://{p}" for p in paths)
            continue
        if os.path.isdir(item):
            found = [
                p
                for p in glob.glob(os.path.join(item, "**", "*"), recursive=True)
                if os.path.isfile(p) and _looks_like_archive(p)
            ]
        else:
            found = glob.glob(item, recursive=True) if glob.has_magic(item) else [item]
            if found == [item] and not os.path.isfile(item):
                raise FileNotFoundError(f"input {item!r}: no such file")
        if not found:
            raise FileNotFoundError(f"input {item!r} matches no file")
        files.extend(os.path.abspath(p) for p in found)
    return sorted(dict.fromkeys(files))


def _looks_like_archive(path: str) -> bool:
    name = os.path.basename(path).lower()
    return any(ext in name for ext in (".warc", ".arc", ".wet"))


def bundled_sample_files() -> list[str]:
    folder = resources.files("thresher.pipeline").joinpath("sample_data")
    return sorted(str(p) for p in folder.iterdir() if ".warc" in p.name)


def resolve_inputs(items: list[str]) -> list[str]:
    """`expand_inputs`, with `bundled-sample` naming the sample WARC files shipped in the package."""
    out: list[str] = []
    for item in items:
        out.extend(bundled_sample_files() if item == BUNDLED_SAMPLE else expand_inputs([item]))
    return sorted(dict.fromkeys(out))


def file_size(path: str) -> int | None:
    """Size in bytes of a local file or fsspec URL (None when it cannot be known)."""
    try:
        if "://" in path:
            fs, _, (p,) = fsspec.get_fs_token_paths(path)
            return int(fs.size(p))
        return os.path.getsize(path)
    except (OSError, ValueError):
        return None
