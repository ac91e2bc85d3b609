"""How well the fineweb2 preset's language ID labels lingua's test sentences, per language.

    python -m thresher.pipeline.lab.fineweb2_lid [--lingua DIR] [--backend glotlid --model-path model_v3.bin]

For each of lingua's languages (one file of sentences each, named by ISO 639-1 code), the preset's
`fineweb2_language` block labels every sentence, and documents of 3-30 of those sentences (closer to what
the block sees on the web): accuracy is the share given the language's FineWeb-2 label, kept the share
also at or above that label's `language_score`. Languages the model has no label for score 0 by
construction and are marked.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from collections import Counter

from datatrove.data import Document

from ...filters.fineweb2.configs import open_configs
from ...filters.fineweb2.labels import LID176_TO_ISO3, dominant_script
from ...filters.language import bundled_model_path, load_model
from .fineweb2_bench import LINGUA_EXTRA, default_lingua, lingua_texts


def expected_label(code: str, text: str) -> str | None:
    """The FineWeb-2 label a lingua file's text should get."""
    iso3 = LINGUA_EXTRA.get(code) or LID176_TO_ISO3.get(code)
    scripts = tuple(sorted(lab.split("_")[1] for lab in open_configs().labels if lab.split("_")[0] == iso3))
    if not iso3 or not scripts:
        return f"{iso3}_Latn" if iso3 else None
    return f"{iso3}_{scripts[0] if len(scripts) == 1 else dominant_script(text, scripts)}"


def score(block, docs: list[Document], expected: list[str]) -> tuple[float, float, Counter]:
    """(accuracy, kept share, confusions) of the block's labels on `docs`."""
    block.filter_batch(docs)  # writes each document's label and score
    right = kept = 0
    confusions: Counter = Counter()
    for doc, want in zip(docs, expected, strict=True):
        got = doc.metadata["language"]
        if got == want:
            right += 1
            kept += block.decide(got, doc.metadata["language_score"]) is True
        else:
            confusions[got] += 1
    return right / len(docs), kept / len(docs), confusions


def evaluate(lingua: str, backend: str = "lid176", model_path: str | None = None) -> list[dict]:
    from ...filters.fineweb2.language import FineWeb2LanguageFilter

    block = FineWeb2LanguageFilter(backend=backend, model_path=model_path)
    labels = {x.removeprefix("__label__") for x in load_model(block.model_path).get_labels()}
    reachable = open_configs().lid176.reachable() | {"eng_Latn"}  # the labels lid.176's mapping can give
    rows = []
    for path in sorted(glob.glob(os.path.join(lingua, "*.txt"))):
        code = os.path.basename(path)[:-4]
        with open(path, encoding="utf-8") as f:
            sentences = [s.strip() for s in f if s.strip()]
        expected = [expected_label(code, s) for s in sentences]
        docs = [Document(text=s, id=str(i)) for i, s in enumerate(sentences)]
        acc, kept, conf = score(block, docs, expected)
        texts = lingua_texts(path)
        joined = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
        d_acc, d_kept, _ = score(block, joined, [expected_label(code, t) for t in texts])
        label = expected[0]
        covered = label in (reachable if backend == "lid176" else labels)
        rows.append(
            {
                "code": code,
                "label": label,
                "covered": covered,
                "has_config": label in open_configs(),
                "language_score": open_configs().get(label)["language_score"] if label in open_configs() else None,
                "sentences": len(sentences),
                "accuracy": acc,
                "kept": kept,
                "documents": len(joined),
                "doc_accuracy": d_acc,
                "doc_kept": d_kept,
                "confusions": conf.most_common(3),
            }
        )
    return rows


def format_markdown(rows: list[dict]) -> str:
    lines = [
        "| lingua | FineWeb-2 label | model label? | language_score | sentences: accuracy | sentences: kept | "
        "documents: accuracy | documents: kept | main confusions |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        threshold = "– (no config)" if r["language_score"] is None else f"{r['language_score']:g}"
        confusions = ", ".join(f"{k} {v}" for k, v in r["confusions"])
        lines.append(
            f"| {r['code']} | {r['label']} | {'yes' if r['covered'] else 'no'} | {threshold} | "
            f"{100 * r['accuracy']:.1f}% | {100 * r['kept']:.1f}% | {100 * r['doc_accuracy']:.1f}% | "
            f"{100 * r['doc_kept']:.1f}% | {confusions} |"
        )
    both = [r for r in rows if r["covered"] and r["has_config"]]
    if both:
        mean = {k: sum(r[k] for r in both) / len(both) for k in ("accuracy", "kept", "doc_accuracy", "doc_kept")}
        lines.append(
            f"\nMacro average over the {len(both)} languages the model labels and FineWeb-2 has a config for: "
            f"sentences {100 * mean['accuracy']:.1f}% right, {100 * mean['kept']:.1f}% kept; documents "
            f"{100 * mean['doc_accuracy']:.1f}% right, {100 * mean['doc_kept']:.1f}% kept."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m thresher.pipeline.lab.fineweb2_lid", description=__doc__)
    p.add_argument("--lingua", default=default_lingua(), help="lingua's sentences folder (one XX.txt per language)")
    p.add_argument("--backend", choices=["lid176", "glotlid"], default="lid176")
    p.add_argument("--model-path", help="the model file (default: the bundled lid.176.ftz)")
    args = p.parse_args(argv)
    if not args.lingua:
        print("no lingua sentences folder: give --lingua", file=sys.stderr)
        return 2
    model = args.model_path or (bundled_model_path() if args.backend == "lid176" else None)
    print(format_markdown(evaluate(args.lingua, args.backend, model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
