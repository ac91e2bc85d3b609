"""The fineweb2 preset: FineWeb-2's configs shipped verbatim and read per language, its labels, its words,
its blocks against datatrove's own FineWeb-2 filtering, partitioned output, and one-line refusals."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import SHARED, needs_shared, shared_path
from datatrove.data import Document

from thresher.filters.fineweb2.configs import KEYS, bundled_path, open_configs, verify_zip
from thresher.filters.fineweb2.fineweb_quality import FineWeb2QualityFilter
from thresher.filters.fineweb2.gopher_quality import FineWeb2GopherQualityFilter
from thresher.filters.fineweb2.gopher_repetition import FineWeb2RepetitionFilter
from thresher.filters.fineweb2.labels import LID176_TO_ISO3, dominant_script
from thresher.filters.fineweb2.language import FineWeb2LanguageFilter
from thresher.filters.fineweb2.ngrams import JoinedNgrams
from thresher.filters.fineweb2.words import check_installed, language_words
from thresher.filters.presets import ConfigError

UPSTREAM = SHARED / "reference" / "fineweb-2" / "configs"
CC_SAMPLE = ("data", "warc", "real", "cc-main-2020-34-sample.warc.gz")
THRESHER = [sys.executable, "-m", "thresher.pipeline.cli"]


def upstream(label: str) -> dict:
    """FineWeb-2's published config of `label`, read from ../shared, not through the package."""
    with open(shared_path("reference", "fineweb-2", "configs", f"{label}.yml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def extract(html: str) -> str | None:
    """Main text as the preset's extract block (datatrove's Trafilatura(favour_precision=True)) gives it."""
    from trafilatura import extract as trafilatura_extract

    return trafilatura_extract(html, favor_precision=True, include_comments=False, deduplicate=True)


def labelled(texts: list[tuple[str, str]]) -> list[Document]:
    """Documents labelled by the preset's language block, every score kept."""
    block = FineWeb2LanguageFilter(min_score=0.0)
    docs = [Document(text=t, id=i) for i, t in texts]
    block.filter_batch(docs)
    return docs


@pytest.fixture(scope="module")
def real_pages() -> dict[str, Document]:
    """Real pages, one per language: German, Dutch, Russian and Chinese from the Common Crawl 2020 sample,
    Polish from the trafilatura bench pages; label -> the longest page of that label."""
    from thresher.pipeline.read.warc import WarcReader

    texts = []
    for doc in WarcReader([str(shared_path(*CC_SAMPLE))]).run():
        text = extract(doc.text)
        if text:
            texts.append((doc.id, text))
    with tarfile.open(shared_path("bench", "trafilatura-pages.tar.xz")) as tar:
        member = tar.getmember("tests/eval/Eurostat_ Polska z najniższym bezrobociem w całej UE.html")
        html = tar.extractfile(member).read().decode("utf-8", "replace")
    texts.append(("polska", extract(html)))
    pages: dict[str, Document] = {}
    for doc in labelled(texts):
        label = doc.metadata["language"]
        if label not in pages or len(doc.text) > len(pages[label].text):
            pages[label] = doc
    return pages


# --- the configs: shipped verbatim, read per language ------------------------------------------------


def test_bundled_configs_match_their_manifest():
    assert verify_zip(bundled_path()) == []
    with zipfile.ZipFile(bundled_path()) as z:
        manifest = json.loads(z.read("MANIFEST.json"))
        assert manifest["commit"].startswith("d0defb24") and manifest["license"] == "Apache-2.0"
        assert len(manifest["files"]) == 1929 and "LICENSE" in z.namelist()


@needs_shared("reference", "fineweb-2", "configs")
def test_bundled_configs_are_fineweb2s_files_byte_for_byte():
    with zipfile.ZipFile(bundled_path()) as z:
        members = {Path(n).name: n for n in z.namelist() if n.endswith(".yml")}
        upstream_files = sorted(UPSTREAM.glob("*.yml"))
        assert {p.name for p in upstream_files} == set(members)
        for path in upstream_files:
            assert z.read(members[path.name]) == path.read_bytes(), path.name


def test_every_config_has_fineweb2s_ten_keys():
    configs = open_configs()
    for label in sorted(configs.labels):
        assert set(configs.get(label)) == set(KEYS), label


def test_another_configs_folder_can_be_named(tmp_path):
    (tmp_path / "deu_Latn.yml").write_text(yaml.safe_dump({**open_configs().get("deu_Latn"), "language_score": 0.5}))
    block = FineWeb2LanguageFilter(configs=str(tmp_path))
    assert block.decide("deu_Latn", 0.6) is True
    assert block.decide("pol_Latn", 0.99) == (False, "no_config")


# --- labels -------------------------------------------------------------------------------------------


def test_every_lid176_label_but_english_has_a_config():
    configs = open_configs()
    for code in LID176_TO_ISO3:
        label = configs.lid176.label(code, "text")
        assert (label in configs) == (code != "en"), (code, label)
    assert configs.lid176.reachable() <= configs.labels


@pytest.mark.parametrize(
    "code, text, label",
    [
        ("de", "Der Hafen", "deu_Latn"),
        ("zh", "中文", "cmn_Hani"),
        ("ja", "日本語", "jpn_Jpan"),
        ("en", "The harbour", "eng_Latn"),
        ("als", "Grüezi", "gsw_Latn"),  # Alemannic, not Tosk Albanian (FineWeb-2's als_Latn)
        ("sq", "Përshëndetje", "als_Latn"),
        ("no", "Havnen", "nob_Latn"),
        ("sr", "Лука је стара", "srp_Cyrl"),  # Serbian in either script: the text decides
        ("sr", "Luka je stara", "srp_Latn"),
        ("sh", "Лука је стара", "srp_Cyrl"),
        ("sh", "Luka je stara", "hrv_Latn"),
        ("hi", "बंदरगाह पुराना है", "hin_Deva"),
        ("hi", "bandargah purana hai", "hin_Latn"),
    ],
)
def test_lid176_labels_become_fineweb2_labels(code, text, label):
    assert open_configs().lid176.label(f"__label__{code}", text) == label


def test_dominant_script_counts_letters():
    assert dominant_script("Лука је стара, Luka", ("Latn", "Cyrl")) == "Cyrl"
    assert dominant_script("12345", ("Latn", "Cyrl")) == "Latn"  # a tie: the first candidate


# --- words ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label, text",
    [
        ("deu_Latn", "Der Hafen (gebaut 1850) ist z. B. alt – und „schön“: 3,5 km² groß! Siehe www.hafen.de."),
        ("spa_Latn", "Los EE. UU. y la U.E. firmaron el 12/3 un acuerdo; ¿por qué?"),  # a special case with a space
        ("rus_Cyrl", "Порт, т. е. гавань, в т.ч. старый — 1850 г."),
        ("cmn_Hani", "中国人民在北京举行了会议。 他们说：“我们很高兴！” 2024年"),
        ("jpn_Jpan", "東京の港は古い。 私たちは「とても嬉しい」と言った。"),
        ("pol_Latn", "Port w Gdańsku jest stary, a jego historia – długa (od XIV w.)."),
    ],
)
def test_words_are_datatroves(label, text):
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    assert language_words(text, label).words == load_word_tokenizer(label).word_tokenize(text)


def test_words_are_split_once_per_document_and_language():
    text = "Der Hafen ist alt."
    assert language_words(text, "deu_Latn") is language_words(text, "deu_Latn")
    assert language_words(text, "nld_Latn") is not language_words(text, "deu_Latn")


def test_a_missing_tokenizer_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jieba" else real(name, *a))
    with pytest.raises(ConfigError, match=r"jieba .*thresher\[fineweb2\]"):
        check_installed(["deu_Latn", "cmn_Hani"])
    check_installed(["deu_Latn"])  # German needs spaCy only


@pytest.mark.parametrize("seed", range(40))
def test_ngram_statistics_are_datatroves(seed):
    from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate, find_top_duplicate, get_n_grams

    rng = random.Random(seed)
    vocab = ["a", "b", "ab", "ba", "c", "abc", "中国", "人", "中", "国人", "x y"]  # joined keys can collide
    words = [rng.choice(vocab) for _ in range(rng.randint(0, 60))]
    stats = JoinedNgrams(words)
    for n in range(2, 11):
        top = find_top_duplicate(get_n_grams(words, n)) if len(words) >= n else 0
        assert stats.top_chars(n) == top, (n, words)
        assert stats.repeated_chars(n) == find_all_duplicate(words, n), (n, words)


# --- each language's thresholds and stop words come from its own config --------------------------------


@needs_shared(*CC_SAMPLE)
def test_real_pages_of_five_languages_are_judged_with_their_own_config(real_pages):
    assert {"deu_Latn", "nld_Latn", "rus_Cyrl", "cmn_Hani", "pol_Latn"} <= set(real_pages)
    blocks = [FineWeb2RepetitionFilter(), FineWeb2QualityFilter(), FineWeb2GopherQualityFilter()]
    for label in ("deu_Latn", "nld_Latn", "rus_Cyrl", "cmn_Hani", "pol_Latn"):
        doc, cfg = real_pages[label], upstream(label)
        for block in blocks:
            block.filter(Document(text=doc.text, id=doc.id, metadata=dict(doc.metadata)))
        rep, fwq, gq = (block._thresholds[label] for block in blocks)
        assert (rep.dup_line_frac, rep.top_n_grams, rep.dup_n_grams) == (
            cfg["dup_line_frac"],
            tuple((n, f) for n, f in cfg["top_n_grams"]),
            tuple((n, f) for n, f in cfg["dup_n_grams"]),
        )
        assert (fwq.line_punct_thr, fwq.new_line_ratio) == (cfg["line_punct_thr"], cfg["new_line_ratio"])
        assert (gq.min_avg_word_length, gq.max_avg_word_length, gq.max_non_alpha_words_ratio) == (
            cfg["min_avg_word_length"],
            cfg["max_avg_word_length"],
            cfg["max_non_alpha_words_ratio"],
        )
        assert gq.stop_words == frozenset(cfg["stopwords"])
        # FineWeb-2's global overrides, the same for every language
        assert (rep.dup_para_frac, rep.dup_para_char_frac, rep.dup_line_char_frac) == (0, 0, 0)
        assert (fwq.short_line_thr, fwq.char_duplicates_ratio, gq.min_stop_words) == (999, 0.1, 2)
        # the threshold of the language block is the label's own too
        assert FineWeb2LanguageFilter().decide(label, cfg["language_score"]) is True
        assert FineWeb2LanguageFilter().decide(label, cfg["language_score"] - 1e-6) == (False, "low_language_score")


@needs_shared(*CC_SAMPLE)
def test_a_page_meets_only_its_own_languages_stop_words(real_pages):
    for label, doc in real_pages.items():
        if label not in ("deu_Latn", "nld_Latn", "rus_Cyrl", "cmn_Hani", "pol_Latn"):
            continue
        words = language_words(doc.text, label)
        own = words.distinct_stop_words(frozenset(upstream(label)["stopwords"]))
        assert own >= 2, label
        for other in ("deu_Latn", "rus_Cyrl", "cmn_Hani"):
            if other != label and not (label, other) == ("nld_Latn", "deu_Latn"):
                assert words.distinct_stop_words(frozenset(upstream(other)["stopwords"])) < own, (label, other)


@needs_shared(*CC_SAMPLE)
def test_real_pages_get_datatroves_decisions_and_text(real_pages):
    from thresher.pipeline.lab.fineweb2_bench import decisions, run_preset
    from thresher.pipeline.lab.fineweb2_datatrove import run_datatrove

    for label, doc in real_pages.items():
        if label not in open_configs():
            continue
        ref_dropped, ref_kept, _ = run_datatrove(label, upstream(label), [doc])
        dropped, kept, _ = run_preset(label, [doc])
        assert decisions([doc], dropped, kept) == decisions([doc], ref_dropped, ref_kept), label
        assert kept == ref_kept, label


# --- formatters -------------------------------------------------------------------------------------

FORMAT_TEXTS = [
    "Der Hafen ist alt.\n| | |\n|---|\n\nNeue Zeile\r\nEnde\n",
    "Ã©tÃ© Ã  Paris\nâ€œquotedâ€\n",  # mojibake
    "Fish &amp; chips &lt;3\x1b[31m red\x1b[0m \x85 end",
    "\nÃ ligne\nA \u0096 dash",
    "full-width，punctuation：“中文”。 ligature ﬁ",
    "e-mail me@example.net or 8.8.8.8, not 192.168.0.1",
    "",
]


@pytest.mark.parametrize("text", FORMAT_TEXTS)
def test_formatters_are_datatroves(text):
    from datatrove.pipeline.formatters import FTFYFormatter as DtFTFY
    from datatrove.pipeline.formatters import PIIFormatter as DtPII
    from datatrove.pipeline.formatters import SymbolLinesFormatter as DtSymbols

    from thresher.pipeline.format.ftfy import FTFYFormatter
    from thresher.pipeline.format.pii import PIIFormatter
    from thresher.pipeline.format.symbol_lines import SymbolLinesFormatter

    ours = SymbolLinesFormatter().format(PIIFormatter.from_preset("fineweb2").format(FTFYFormatter().format(text))[0])
    theirs = DtSymbols(["|"], "\n").format(DtPII().format(DtFTFY().format(text)))
    assert ours == theirs


# --- output partitioned by language --------------------------------------------------------------


def test_writer_partitions_by_language_and_a_task_restart_clears_them(tmp_path):
    from thresher.pipeline.run.plan import TaskStart
    from thresher.pipeline.write.parquet import ParquetDocReader, ParquetShardWriter

    writer = ParquetShardWriter(str(tmp_path), partition_by="language", max_rows_per_shard=2)
    docs = [Document(text=f"t{i}", id=f"d{i}", metadata={"language": lang}) for i, lang in enumerate("aabac")]
    docs.append(Document(text="none", id="d9", metadata={}))
    list(writer.run(iter(docs), rank=3))
    found = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.parquet"))
    assert found == ["a/00003_0000.parquet", "a/00003_0001.parquet", "b/00003_0000.parquet", "c/00003_0000.parquet",
                     "unknown/00003_0000.parquet"]  # fmt: skip
    assert sorted(d.id for d in ParquetDocReader(str(tmp_path)).run()) == sorted(d.id for d in docs)
    assert writer.stats.stats["partition_a"].total == 3
    list(TaskStart([str(tmp_path)]).run(rank=3))
    assert not list(tmp_path.rglob("*.parquet"))


# --- dedup within each language -------------------------------------------------------------------


def test_dedup_keeps_a_copy_in_each_language(tmp_path):
    from thresher.filters.presets import block_params
    from thresher.pipeline.lab.dedup_eval import run_dedup, write_docs

    text = "Der Hafen der kleinen Stadt ist seit Jahrhunderten das Herz des Ortes und der Fischer."
    docs = [
        Document(text=text, id="de-1", metadata={"language": "deu_Latn", "warc_date": "2024-01-01T00:00:00Z"}),
        Document(text=text + " Ja.", id="de-2", metadata={"language": "deu_Latn", "warc_date": "2024-01-02T00:00:00Z"}),
        Document(text=text, id="nl-1", metadata={"language": "nld_Latn", "warc_date": "2024-01-03T00:00:00Z"}),
    ]
    result = run_dedup(write_docs(docs, str(tmp_path / "in"), 1), str(tmp_path / "dedup"),
                       block_params("fineweb2", "minhash_dedup"), 1)  # fmt: skip
    assert sorted(result["kept"]) == ["de-1", "nl-1"]
    assert result["removed"]["de-2"][0] == "de-1"


# --- refusals before any work -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, words",
    [
        ({"languages": ["deu_latn"]}, ["deu_latn", "did you mean deu_Latn"]),
        ({"languages": ["de"]}, ["'de'", "deu_Latn"]),  # lid.176's code, not a FineWeb-2 label
        ({"languages": ["eng_Latn"]}, ["eng_Latn", "English has none"]),
        ({"languages": ["lug_Latn"]}, ["lug_Latn", "lid.176 has no label", "glotlid"]),
        ({"configs": "/nonexistent/configs"}, ["/nonexistent/configs", "no such folder"]),
        ({"backend": "glotlid"}, ["model_path", "model_v3.bin"]),
    ],
)
def test_bad_languages_are_refused_when_the_block_is_built(params, words):
    with pytest.raises(ConfigError) as e:
        FineWeb2LanguageFilter(**params)
    assert "\n" not in str(e.value)
    for word in words:
        assert word in str(e.value)


def test_a_preset_with_an_unknown_language_is_one_line_before_any_work(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("extends: fineweb2\noverride:\n  fineweb2_language:\n    languages: [deu_Latn, xyz_Latn]\n")
    out = tmp_path / "out"
    r = subprocess.run([*THRESHER, "run", str(preset), "-i", str(shared_path(*CC_SAMPLE)), "-o", str(out)],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "xyz_Latn" in lines[0] and "fineweb2_language" in lines[0]
    assert not out.exists()


# --- a run end to end, and the bench ------------------------------------------------------------------


@pytest.mark.slow
@needs_shared(*CC_SAMPLE)
def test_run_writes_shards_per_language_and_reports_them(tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "run"
    r = subprocess.run([*THRESHER, "run", "fineweb2", "-i", str(shared_path(*CC_SAMPLE)), "-o", str(out), "-w", "1",
                        "--no-progress"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    shards = sorted((out / "data").glob("*/*.parquet"))
    assert {p.parent.name for p in shards} >= {"cmn_Hani", "rus_Cyrl"}
    for shard in shards:
        assert set(pq.read_table(shard, columns=["language"]).column("language").to_pylist()) == {shard.parent.name}
    stats = json.loads((out / "stats.json").read_text())
    assert stats["partitions"]["by"] == "language"
    assert sum(stats["partitions"]["documents"].values()) == stats["documents"]["kept"]
    assert subprocess.run([*THRESHER, "report", str(out)], capture_output=True, timeout=300).returncode == 0
    card = (out / "README.md").read_text()
    assert "config_name: cmn_Hani" in card and "path: data/cmn_Hani/*.parquet" in card
    assert "| cmn_Hani |" in card and "word_count" in card
    sample = subprocess.run([*THRESHER, "sample", str(out), "-n", "2"], capture_output=True, text=True, timeout=300)
    assert sample.returncode == 0 and "[kept]" in sample.stdout


@pytest.mark.slow
@needs_shared("data", "lid", "lingua", "sentences")
def test_agreement_with_datatrove_on_lingua_documents_of_twelve_languages():
    from thresher.pipeline.lab.fineweb2_bench import compare_language, lingua_documents

    wanted = ["deu_Latn", "pol_Latn", "rus_Cyrl", "nld_Latn", "cmn_Hani", "jpn_Jpan", "spa_Latn", "vie_Latn",
              "tha_Thai", "hin_Deva", "arb_Arab", "ell_Grek"]  # fmt: skip
    docs = lingua_documents(str(shared_path("data", "lid", "lingua", "sentences")), lambda label: label in wanted)
    for label in wanted:
        result = compare_language(label, [d for d in docs if d.metadata["language"] == label], 1, ())
        assert result.error is None and result.docs >= 25, label
        assert result.same_keep == result.docs and result.same_text == result.both_kept, (label, result.diffs)


def test_a_glotlid_model_given_by_path_labels_as_it_is(tmp_path, monkeypatch):
    """GlotLID's labels (ISO 639-3 + script) are used without mapping; its file is loaded from the path."""
    import thresher.filters.fineweb2.language as language

    class GlotLIDLike:  # fastText's predict(texts, k=1) answer, with GlotLID's labels
        def predict(self, texts, k=1):
            return [("__label__deu_Latn",), ("__label__pol_Latn",)][: len(texts)], [[0.95], [0.5]][: len(texts)]

    path = tmp_path / "model_v3.bin"
    path.write_bytes(b"")
    monkeypatch.setattr(language, "load_model", lambda p: GlotLIDLike() if p == str(path) else None)
    block = FineWeb2LanguageFilter(backend="glotlid", model_path=str(path))
    docs = [Document(text="der Hafen ist alt", id="de"), Document(text="port jest stary", id="pl")]
    assert block.filter_batch(docs) == [True, (False, "low_language_score")]  # pol_Latn keeps >= 0.689
    assert [d.metadata["language"] for d in docs] == ["deu_Latn", "pol_Latn"]
