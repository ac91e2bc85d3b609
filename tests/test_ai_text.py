"""AI-text detector: the bundled model on real data (fast tier), and a retrain through `thresher train
ai-detector` on a subset of the training data (`small_model`: minutes, the slow tier)."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor

from thresher.filters.ai_text import AIGeneratedTextFilter
from thresher.filters.ai_text.features import BigramTable, feature_names
from thresher.filters.ai_text.model import AIDetectorModel
from thresher.pipeline.lab import ai_data, ai_protocol, ai_train
from thresher.pipeline.lab.ai_bench import benchmark


def _german_sentences(n: int = 20) -> str:
    de = shared_path("data", "lid", "lingua", "sentences", "de.txt").read_text(encoding="utf-8")
    return " ".join(de.splitlines()[:n])


def _fold(cluster: str) -> int:
    return int(hashlib.sha1(cluster.encode()).hexdigest(), 16) % 5


@pytest.fixture(scope="module")
def fdg_rows() -> list[dict]:
    """fast-detect-gpt rows, labelled 0/1, shared prompts removed (as training does)."""
    rows = ai_data.load_rows([str(shared_path("data", "aitext", "fast-detect-gpt.jsonl"))], min_words=40)
    return [
        {"text": r.text, "label": r.y, "generator": r.generator, "domain": r.domain, "src_cluster": r.cluster}
        for r in rows
    ]


@pytest.fixture(scope="module")
def small_model(fdg_rows, tmp_path_factory) -> tuple[Path, list[dict]]:
    """Train through `main(args)` on clusters of folds 1-4 (a subset); return the model dir + fold-0 rows."""
    rng = np.random.default_rng(0)
    train = [r for r in fdg_rows if _fold(r["src_cluster"]) != 0]
    train = [train[i] for i in rng.choice(len(train), 900, replace=False)]
    held = [r for r in fdg_rows if _fold(r["src_cluster"]) == 0]
    held = [held[i] for i in rng.choice(len(held), 300, replace=False)]
    d = tmp_path_factory.mktemp("aitrain")
    (d / "train.jsonl").write_text("\n".join(json.dumps(r) for r in train), encoding="utf-8")
    parser = argparse.ArgumentParser()
    ai_train.configure(parser)
    args = parser.parse_args(
        [
            "--data",
            str(d / "train.jsonl"),
            "--out",
            str(d / "model"),
            "--folds",
            "3",
            "--trees",
            "100",
            "--sym-bigrams",
            "32",
            "--fasttext-epochs",
            "10",
            "--learning-curve",
        ]
    )
    assert ai_train.main(args) == 0
    return d / "model", held


def _auroc(scores, labels) -> float:
    return ai_protocol.auroc(np.asarray(scores), np.asarray(labels))


def test_bundled_model_loads_and_carries_its_threshold():
    model = AIDetectorModel.load()
    assert model.languages == ["en"]
    assert 0.0 < model.threshold_1pct_fpr < 1.0
    assert len(model.featurizer.zipf) > 10000


def test_bundled_scores_in_unit_interval_and_order_classes(fdg_rows):
    f = AIGeneratedTextFilter(threshold=None, languages=["en"], min_words=20, min_english_share=0.12)
    sample = fdg_rows[::40]
    scores = [f.score(r["text"]) for r in sample]
    assert all(0.0 <= s <= 1.0 for s in scores)
    labels = [r["label"] for r in sample]
    assert _auroc(scores, labels) > 0.85  # in-sample for the bundled model: a sanity floor


@pytest.mark.slow
def test_retrained_model_separates_held_out_clusters(small_model):
    model_dir, held = small_model
    f = AIGeneratedTextFilter(
        threshold=None,
        languages=["en"],
        min_words=20,
        min_english_share=0.12,
        model_path=str(model_dir / "ai_detector.npz"),
    )
    scores = np.array([f.score(r["text"]) for r in held])
    labels = np.array([r["label"] for r in held])
    assert scores[labels == 1].mean() > scores[labels == 0].mean()
    # 900 training texts: 0.807 measured (the same in every run since features stopped depending on
    # set order); chance is 0.5
    assert _auroc(scores, labels) > 0.78


@pytest.mark.slow
def test_training_writes_model_and_card(small_model):
    model_dir, _ = small_model
    model = AIDetectorModel.load(model_dir / "ai_detector.npz")
    assert model.threshold_1pct_fpr is not None
    assert (model_dir / "ai_detector.ftz").exists() and model.ft is not None
    assert model.fasttext_weight >= 0.0
    card = (model_dir / "AI_DETECTOR_CARD.md").read_text(encoding="utf-8")
    assert "ii_leave_one_generator_out" in card and "Who it may wrong" in card
    assert model.trees.num_trees() == 100  # --trees 100
    for name in ("ai_detector.ftz", "ai_detector.trees.txt", "ai_detector.lm.trees.txt"):
        assert f"`{name}`" in card  # the card names the model's files
    # the LM head: its own trees, calibration, band and thresholds, each human domain in the card's table
    assert model.lm is not None and model.lm.trees.num_trees() == 100
    low, high = model.lm.band
    assert 0.0 <= low <= high <= 1.0
    for with_lm in (False, True):
        assert model.threshold("every_human_domain", with_lm) >= model.threshold("1pct_fpr", with_lm) - 0.2
    for domain in ("squad", "writing", "xsum"):
        assert f"| {domain} |" in card
    (model_dir / "ai_detector.lm.trees.txt").rename(model_dir / "moved.txt")
    try:
        with pytest.raises(ValueError, match="LM head"):
            AIDetectorModel.load(model_dir / "ai_detector.npz")
    finally:
        (model_dir / "moved.txt").rename(model_dir / "ai_detector.lm.trees.txt")


@pytest.mark.slow
def test_learning_curve_grows_the_training_share_and_ends_at_split_i(small_model):
    """The curve retrains (i) on nested shares of the training clusters; its last row, with every
    cluster, must be split (i) itself, and the card must show the curve and its reading."""
    model_dir, _ = small_model
    metrics = json.loads((model_dir / "ai_detector.metrics.json").read_text(encoding="utf-8"))
    curve = metrics["learning_curve"]
    assert [r["fraction"] for r in curve] == list(ai_protocol.LEARNING_CURVE_FRACTIONS)
    sizes = [r["train_texts"] for r in curve]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] / 4
    split_i = metrics["results_cheap"][0]  # the curve is the cheap score's
    assert split_i["setting"] == "i_heldout_src_cluster" and split_i["subset"] == "all"
    assert curve[-1]["auroc"] == pytest.approx(split_i["auroc"], abs=1e-9)
    assert curve[-1]["auroc_features"] == pytest.approx(metrics["results_features_only"][0]["auroc"], abs=1e-9)
    card = (model_dir / "AI_DETECTOR_CARD.md").read_text(encoding="utf-8")
    assert "## Would more labelled data help?" in card and "--learning-curve" in card
    assert f"| 100.0% | {sizes[-1]} |" in card and "multiplied the shortfall" in card


def test_data_needed_reads_a_power_law():
    """On an exact power law, the fit must give back its halving rate and the data it needs."""
    curve = [{"train_texts": n, "auroc": 1.0 - 0.4 * (n / 100) ** -0.5} for n in (100, 200, 400, 800)]
    per_doubling, multiple = ai_protocol.data_needed(curve, target=0.95)
    assert per_doubling == pytest.approx(2**-0.5)
    assert multiple == pytest.approx(((0.4 / 0.05) ** 2 * 100) / 800)  # n where 0.4 (n/100)^-0.5 = 0.05
    flat = [{"train_texts": n, "auroc": 0.7} for n in (100, 200, 400)]
    assert ai_protocol.data_needed(flat)[1] is None


def test_whitespace_and_layout_do_not_change_the_score(fdg_rows):
    """The corpora kept newlines only in machine text: layout must not be a signal, in any part."""
    model = AIDetectorModel.load()
    text = fdg_rows[1]["text"]
    words = text.split()
    flat = " ".join(words)
    laid_out = "\n\n".join("  ".join(words[i : i + 12]) for i in range(0, len(words), 12)) + "\n"
    from thresher.filters.ai_text import score

    assert score(flat) == pytest.approx(score(laid_out), abs=1e-9)
    assert model.featurizer.extract(flat).ft_text == model.featurizer.extract(laid_out).ft_text


def test_features_do_not_depend_on_what_the_featurizer_saw_before(fdg_rows):
    """The type table grows with every document (ids in order of arrival); a document's features must
    be bit-identical however the table was filled, or a retrain differs from run to run (set order
    follows Python's per-process string hashing) and a score depends on its batch."""
    texts = [r["text"] for r in fdg_rows[:60]]
    first = AIDetectorModel.load().featurizer
    fresh = [first.extract(t).x for t in texts]
    other = AIDetectorModel.load().featurizer
    for t in reversed(texts):
        other.extract(t)
    again = [other.extract(t).x for t in texts]
    assert all(np.array_equal(a, b) for a, b in zip(fresh, again, strict=True))


def test_phrases_match_whole_tokens_not_substrings():
    """'there is a' must not count as the marker phrase 'here is a' (the old substring search did)."""
    fz = AIDetectorModel.load().featurizer
    plain = "Oddly enough, there is a picture of me with a dog on the wall of the kitchen in that house."
    marked = "Here is a picture of me with a dog. It is important to note that the wall was   painted."
    assert not [m for m in fz.extract(plain).markers if "here" in m]
    ev = fz.extract(marked).markers
    assert "here is a" in ev and "it is important to note" in ev


@pytest.mark.slow
def test_bigram_table_round_trips_through_the_model_file(small_model):
    model_dir, _ = small_model
    bg = AIDetectorModel.load(model_dir / "ai_detector.npz").featurizer.bigrams
    assert bg is not None and len(bg.keys) > 100_000
    assert np.all(np.diff(bg.keys) > 0) and np.all(bg.log10_p <= 0) and bg.rank.min() == 1
    fz = AIDetectorModel.load(model_dir / "ai_detector.npz").featurizer
    again = BigramTable.from_scored(list(fz.zipf), bg.scored(list(fz.zipf)))
    assert np.array_equal(again.keys, bg.keys) and np.array_equal(again.rank, bg.rank)
    # "of the" is among the commonest continuations of "of"; the pair is in the table with a high probability
    vid = {w: i for i, w in enumerate(fz.zipf)}
    k = vid["of"] * bg.stride + vid["the"]
    i = int(np.searchsorted(bg.keys, k))
    assert bg.keys[i] == k and bg.rank[i] == 1 and bg.log10_p[i] > -1.5


def test_lm_features_see_likelier_continuations_in_machine_text(fdg_rows):
    """On real held-in data the reference-bigram surprisal is lower for machine text (what the LM
    features are for), and a shuffled text is far less predictable than its original."""
    fz = AIDetectorModel.load().featurizer
    names = feature_names(fz.sym_bigrams, fz.bigrams is not None)
    j = names.index("lm_surprisal_mean")
    sample = fdg_rows[::25]
    s = np.array([fz.extract(r["text"]).x[j] for r in sample])
    y = np.array([r["label"] for r in sample])
    assert s[y == 1].mean() < s[y == 0].mean()
    words = sample[0]["text"].split()
    shuffled = " ".join(np.random.default_rng(0).permutation(words))
    assert fz.extract(shuffled).x[j] > fz.extract(sample[0]["text"]).x[j]


@pytest.mark.slow
def test_training_rows_have_no_length_signal(fdg_rows):
    """Length is taken out of the data: each machine text is at most as long as its human pair."""
    by_pair: dict[str, dict[int, int]] = {}
    rows = ai_data.load_rows([str(shared_path("data", "aitext", "fast-detect-gpt.jsonl"))], min_words=15)
    for r in rows:
        by_pair.setdefault(r.pair_key, {}).setdefault(r.y, len(r.text.split()))
    pairs = [v for v in by_pair.values() if len(v) == 2]
    assert len(pairs) > 1000 and all(v[1] <= v[0] for v in pairs)
    lengths = np.array([len(r.text.split()) for r in rows], dtype=float)
    assert ai_protocol.auroc(lengths, np.array([r.y for r in rows])) < 0.55


def test_non_english_gets_no_score():
    text = _german_sentences()
    f = AIGeneratedTextFilter(threshold=0.5, languages=["en"], min_words=20, min_english_share=0.12)
    doc = Document(text=text, id="de")
    assert f.filter(doc) is True
    assert doc.metadata["ai_score"] is None and doc.metadata["ai_evidence"] == []
    tagged = Document(text=text, id="de2", metadata={"language": "de"})
    f.filter(tagged)
    assert tagged.metadata["ai_score"] is None


def test_language_metadata_decides_when_present(fdg_rows):
    f = AIGeneratedTextFilter(threshold=None, languages=["en"], min_words=20, min_english_share=0.12)
    doc = Document(text=fdg_rows[0]["text"], id="x", metadata={"language": "fr"})
    f.filter(doc)
    assert doc.metadata["ai_score"] is None
    doc = Document(text=fdg_rows[0]["text"], id="y", metadata={"language": "en"})
    f.filter(doc)
    assert 0.0 <= doc.metadata["ai_score"] <= 1.0


def test_boilerplate_is_evidence_and_floors_the_score():
    text = (
        "As an AI language model, I do not have personal opinions, but I can delve into the topic. "
        "It is important to note that the question has many facets, and the answer depends on context. "
    ) * 3
    f = AIGeneratedTextFilter(threshold=None, languages=["en"], min_words=20, min_english_share=0.12)
    doc = Document(text=text, id="b")
    f.filter(doc)
    assert doc.metadata["ai_score"] >= 0.9
    assert "as an ai language model" in doc.metadata["ai_evidence"]
    assert "delve" in doc.metadata["ai_evidence"]


def test_a_batch_scores_as_one_document_at_a_time(fdg_rows):
    texts = [r["text"] for r in fdg_rows[::97]] + [_german_sentences(), "Too short to score."]
    block = AIGeneratedTextFilter(threshold=0.5, languages=["en"], min_words=20, min_english_share=0.12)
    batch = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    single = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    decisions = block.filter_batch(batch)
    assert decisions == [block.filter(d) for d in single]
    assert [d.metadata for d in batch] == [d.metadata for d in single]  # exactly the same floats
    assert batch[-1].metadata["ai_score"] is None and batch[-2].metadata["ai_score"] is None
    assert (False, "ai_generated") in decisions and True in decisions[:-2]


def _run(docs: list[Document], block: AIGeneratedTextFilter, logs: Path) -> list[Document]:
    """Run [docs, block, collector] in a plain LocalPipelineExecutor; return the documents that came out."""
    out: list[Document] = []

    def collect(data, rank: int = 0, world_size: int = 1):
        for doc in data:
            out.append(doc)
            yield doc

    LocalPipelineExecutor(pipeline=[docs, block, collect], tasks=1, workers=1, logging_dir=str(logs)).run()
    return out


def test_block_in_datatrove_pipeline_annotates_and_drops(fdg_rows, tmp_path):
    sample = [r for r in fdg_rows if r["label"] == 0][:10] + [r for r in fdg_rows if r["label"] == 1][:10]
    docs = [Document(text=r["text"], id=str(i)) for i, r in enumerate(sample)]
    block = AIGeneratedTextFilter(threshold=None, languages=["en"], min_words=20, min_english_share=0.12)
    kept = [d.metadata for d in _run(docs, block, tmp_path / "logs1")]
    assert len(kept) == 20
    assert all(0.0 <= m["ai_score"] <= 1.0 for m in kept)
    assert all(isinstance(m["ai_evidence"], list) for m in kept)
    scores = sorted(m["ai_score"] for m in kept)
    cut = scores[len(scores) // 2]
    docs = [Document(text=r["text"], id=str(i)) for i, r in enumerate(sample)]
    block = AIGeneratedTextFilter(threshold=cut, languages=["en"], min_words=20, min_english_share=0.12)
    filtered = [d.metadata for d in _run(docs, block, tmp_path / "logs2")]
    assert 0 < len(filtered) < 20
    assert all(m["ai_score"] <= cut for m in filtered)


def test_benchmark_reports_ms_per_1000_words():
    out = benchmark(batch_size=8, rounds=3)
    assert out["batch_size"] == 8
    assert out["n_docs"] == 3 * 40  # a batch under 40 documents is timed 40 documents at a time, per round
    for key in ("ms_per_1000_words", "ms_per_1000_words_tokens_shared"):
        assert math.isfinite(out[key]) and 0 < out[key] < 1000, out  # CPU ms a document, not seconds
    # the block reuses the split the filters before it made: scoring without splitting costs less
    assert out["ms_per_1000_words_tokens_shared"] < out["ms_per_1000_words"], out
    bigger = benchmark(batch_size=64, rounds=1)
    assert bigger["batch_size"] == 64 and bigger["n_docs"] == 64


def test_thresher_preset_annotates_and_drops_nothing():
    """Until the model meets its held-out targets on every domain (its card), no preset drops on the score."""
    from thresher.filters.ai_text.with_lm import AIGeneratedTextLMFilter

    for preset in ("fineweb", "fast", "thresher", "fineweb2"):
        assert AIGeneratedTextFilter.from_preset(preset).drop_threshold() is None
    assert AIGeneratedTextLMFilter.from_preset("thresher").drop_threshold() is None


def test_named_thresholds_come_from_the_model():
    block = AIGeneratedTextFilter(threshold="1pct_fpr")
    assert block.drop_threshold() == pytest.approx(block.model.threshold("1pct_fpr", with_lm=False))


def test_evaluation_names_the_worst_human_domain_and_what_each_preset_drops():
    """The line `thresher train ai-detector --evaluate-only` prints under each threshold table, on the
    shipped model's own held-out figures."""
    from importlib import resources

    from thresher.pipeline.lab.ai_train import _worst_line

    path = resources.files("thresher.filters") / "models" / "ai_detector.metrics.json"
    meta = json.loads(path.read_text(encoding="utf-8"))["meta"]
    rows = meta["thresholds_human_drop"]
    line = _worst_line(rows)
    worst = max(rows, key=lambda r: r["1pct_fpr"])
    assert f"at 1pct_fpr {100 * worst['1pct_fpr']:.1f} % ({worst['domain']})" in line
    assert "non-native TOEFL essays" in line
    assert "thresher annotates only (0 % dropped)" in line
