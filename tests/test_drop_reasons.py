"""One small document per drop reason of every registered block, as datatrove tests its filters.

Each block is built with its defaults (`Cls()`: the thresholds of its defaults preset, FineWeb's, or
fast.yaml's for extract_resiliparse) and run as a pipeline step runs it (`block.run`, the drop counted in
its stats); a setting is given only where a reason needs one that is off by default (a drop policy, a
threshold, a tiny size or time limit). `test_every_declared_reason_has_a_case` fails when a block
declares a reason with no case here, and `test_block_keeps_a_paragraph_of_english_prose` checks that
every block keeps ordinary prose, under its defaults and its strictest settings.
"""

from __future__ import annotations

import io
import os
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from datatrove.data import Document
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from thresher.filters.presets import block_params
from thresher.pipeline.run.presets import registry

URL = "https://www.harbour-town.example/visit"

# a normal paragraph of English prose: every block keeps it
PROSE = (
    "The harbour town keeps its old stone quay, where fishing boats still land their catch each morning.\n"
    "Visitors walk along the sea wall to the lighthouse and watch the tide come in over the sand banks.\n"
    "In the evening the cafes fill with people who have spent the day on the cliffs and in the coves.\n"
    "The museum by the church tells the story of the town and of the families that built the harbour.\n"
    "Most of the cottages were built from the same grey stone, and many have been in one family for generations.\n"
    "It is a quiet place in winter, but in summer the beaches are busy with children and their parents."
)


def html(body: str, head: str = "<title>A harbour town</title>", lang: str = "en") -> str:
    return f'<html lang="{lang}"><head>{head}</head><body>{body}</body></html>'


PAGE = html("<article>" + "".join(f"<p>{line}</p>" for line in PROSE.splitlines()) + "</article>")
# blocks that read the page's HTML (they run before extraction); the others read its text
HTML_BLOCKS = {"language_prefilter", "consent", "extract", "extract_resiliparse"}


# --- running a block on one document ------------------------------------------------------------


def verdict(block, doc: Document) -> str | None:
    """The reason `block` drops `doc` for, as a pipeline runs it (None: kept)."""
    kept = list(block.run([doc]))
    reasons = [k.removeprefix("dropped_") for k in block.stats.stats if k.startswith("dropped_")]
    if kept:
        assert not reasons
        return None
    assert len(reasons) == 1, reasons
    return reasons[0]


def dedup_verdict(doc: Document, keeper: Document, tmp_path: Path) -> str | None:
    """The reason the MinHash dedup run drops `doc` for when `keeper` (earlier) is in the run too."""
    from thresher.pipeline.lab.dedup_eval import run_dedup, write_docs

    filtered = write_docs([keeper, doc], str(tmp_path / "filtered"), 1)
    result = run_dedup(filtered, str(tmp_path / "dedup"), block_params("fineweb", "minhash_dedup"), 1)
    assert keeper.id in result["kept"]
    if doc.id in result["kept"]:
        return None
    duplicate_of, reason = result["removed"][doc.id]
    assert duplicate_of == keeper.id
    return reason


def write_robots_warc(path: Path, url: str, robots_txt: bytes) -> Path:
    """A one-record WARC of the crawl's robots.txt subset."""
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/plain")], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(url, "response", payload=io.BytesIO(robots_txt), http_headers=http)
        )
    return path


def robots_index(tmp_path: Path) -> dict:
    """news.example's robots.txt disallows GPTBot everywhere."""
    from thresher.pipeline.read.robots import build_robots_index

    warc = write_robots_warc(
        tmp_path / "robots.warc.gz", "https://news.example/robots.txt", b"User-agent: GPTBot\nDisallow: /\n"
    )
    build_robots_index([str(warc)], str(tmp_path / "robots.sqlite"))
    return {"robots_index": str(tmp_path / "robots.sqlite")}


def opt_out_file(tmp_path: Path) -> dict:
    """optout.example (and its subdomains) asked to be left out."""
    (tmp_path / "opted-out.txt").write_text("optout.example\n")
    return {"opt_out_domains_file": str(tmp_path / "opted-out.txt")}


def die_in_extraction(block) -> None:
    """The extraction process is killed on the page, as the kernel's OOM killer kills it."""

    def extract(html: str):
        if html:  # not the sandbox's empty warm-up text
            os.kill(os.getpid(), signal.SIGKILL)

    block.extract = extract


def raise_in_extraction(block) -> None:
    """The extractor raises on the page (trafilatura catches its own errors, so a bug stands in)."""

    def extract(html: str):
        if html:
            raise ValueError("extractor bug")

    block.extract = extract


# --- the cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class How:
    url: str = URL
    params: dict = field(default_factory=dict)  # settings the reason needs (the rest: the block's defaults)
    setup: Callable[[Path], dict] | None = None  # files the settings name, made in tmp_path
    patch: Callable | None = None  # applied to the built block
    expect: str | None = None  # the concrete reason, when the declared one has {n} or {languages}
    keeper: str | None = None  # minhash_dedup: the earlier document this one duplicates
    metadata: dict = field(default_factory=dict)  # what earlier blocks wrote (the fineweb2 blocks read `language`)


def case(block: str, reason: str, text: str, marks=(), **how) -> pytest.param:
    h = How(**how)
    return pytest.param(block, reason, text, h, id=f"{block}-{h.expect or reason}", marks=marks)


AI_BOILERPLATE = (
    "As an AI language model, I do not have personal opinions, but I can delve into the topic. "
    "It is important to note that the question has many facets, and the answer depends on context. "
    "In conclusion, it is crucial to foster a nuanced understanding of this intricate landscape. "
    "Overall, this multifaceted journey underscores the pivotal role of collaboration."
)
GERMAN = (
    "Der Hafen der kleinen Stadt ist seit Jahrhunderten das Herz des Ortes. Jeden Morgen landen die "
    "Fischer ihren Fang an der alten Kaimauer, und am Abend füllen sich die Cafés am Wasser."
)
GERMAN_HEAD = (
    "<title>Der Hafen von Husum</title>"
    '<meta name="description" content="Geschichte und Gegenwart des alten Hafens an der Nordseeküste">'
)
REPEATED = "The old stone quay is still used by the fishing boats of the town."
DEEP = html("<div>" * 20_000 + "deep" + "</div>" * 20_000)

# --- the fineweb2 preset's blocks: each language's thresholds from its FineWeb-2 config ---------------
DE = {"language": "deu_Latn"}  # deu_Latn.yml: dup_line_frac 0.263, new_line_ratio 0.152, word length 0-15, ...
GERMAN_PROSE = (
    "Der Hafen der kleinen Stadt ist seit Jahrhunderten das Herz des Ortes, und die Fischer landen ihren Fang.\n"
    "Jeden Morgen kommen die Boote an die alte Kaimauer, und am Abend füllen sich die Cafés am Wasser.\n"
    "Besucher gehen auf der Mauer zum Leuchtturm und sehen zu, wie die Flut über die Sandbänke kommt.\n"
    "Das Museum neben der Kirche erzählt die Geschichte der Stadt und der Familien, die den Hafen bauten.\n"
    "Im Winter ist es ein stiller Ort, aber im Sommer sind die Strände voll mit Kindern und ihren Eltern."
)
GERMAN_REPEATED = "Der alte Kai aus Stein wird noch von den Fischerbooten der Stadt genutzt."
FINEWEB2_QUALITY = ("fineweb2_gopher_repetition", "fineweb2_fineweb_quality", "fineweb2_gopher_quality")
FINEWEB2_PROSE = {"fineweb2_language": (GERMAN_PROSE, {}), **{name: (GERMAN_PROSE, DE) for name in FINEWEB2_QUALITY}}
# kaz_Cyrl's tokenizer is Stanza's, which cannot run offline
NO_TOKENIZER = {"metadata": {"language": "kaz_Cyrl"}, "params": {"unavailable_tokenizer": "drop"}}
FINEWEB2_CASES = [
    # fineweb2_language: lid.176 mapped to FineWeb-2's labels, each kept at its config's language_score
    case("fineweb2_language", "no_config", PROSE),  # eng_Latn: English is FineWeb's
    case("fineweb2_language", "not_in_languages", GERMAN_PROSE, params={"languages": ["pol_Latn"]}),
    case("fineweb2_language", "low_language_score", "Guten Tag"),  # deu_Latn at 0.39, below 0.821
    # fineweb2_gopher_repetition (paragraph and line-character rules are off in FineWeb-2)
    case("fineweb2_gopher_repetition", "empty", "", metadata=DE),
    case(
        "fineweb2_gopher_repetition",
        "dup_para_frac",
        "Ich bin dein Vater.\n\n" * 4,
        metadata=DE,
        params={"dup_para_frac": 0.3},
    ),
    case(
        "fineweb2_gopher_repetition",
        "dup_para_char_frac",
        "Ich bin Groot.\n\nDu bist ein Zauberer.\n\nIch bin dein Vater.\n\n" + f"{'x' * 30}.\n\n" * 2,
        metadata=DE,
        params={"dup_para_char_frac": 0.2},
    ),
    case("fineweb2_gopher_repetition", "dup_line_frac", "Ich bin dein Vater.\n" * 4, metadata=DE),
    case(
        "fineweb2_gopher_repetition",
        "dup_line_char_frac",
        "Ich bin Groot.\nDu bist ein Zauberer.\nIch bin dein Vater.\n" + f"{'x' * 30}.\n" * 2,
        metadata=DE,
        params={"dup_line_char_frac": 0.2},
    ),
    case(
        "fineweb2_gopher_repetition",
        "top_{n}_gram",
        "Ich bin Frank, ich bin Frank, ich bin Frank",
        metadata=DE,
        expect="top_2_gram",
    ),
    case(
        "fineweb2_gopher_repetition",
        "duplicated_{n}_n_grams",
        f"Besucher gehen zum Leuchtturm. {GERMAN_REPEATED} "
        f"Am Abend füllen sich die Cafés. {GERMAN_REPEATED} Das Museum erzählt die Geschichte der Familien.",
        metadata=DE,
        expect="duplicated_5_n_grams",
    ),
    case("fineweb2_gopher_repetition", "no_config", GERMAN_PROSE),  # no language label
    case("fineweb2_gopher_repetition", "no_tokenizer", "Қала айлағы", **NO_TOKENIZER),
    # fineweb2_fineweb_quality (short-line rule off, char_duplicates_ratio 0.1)
    case("fineweb2_fineweb_quality", "empty", "\n \n", metadata=DE),
    # pol_Latn.yml: line_punct_thr 0.087 (deu_Latn's is 0: the rule never fires in German)
    case(
        "fineweb2_fineweb_quality",
        "line_punct_ratio",
        "Strona główna\nO nas\nKontakt",
        metadata={"language": "pol_Latn"},
    ),
    case(
        "fineweb2_fineweb_quality",
        "short_line_ratio",
        "Ja.\nNein.\nVielleicht.",
        metadata=DE,
        params={"short_line_thr": 0.67},
    ),
    case(
        "fineweb2_fineweb_quality",
        "char_dup_ratio",
        "Diese Zeile ist lang genug, um keine kurze Zeile zu sein.\n" * 2 + "Und das ist eine andere Zeile.",
        metadata=DE,
    ),
    case("fineweb2_fineweb_quality", "list_ratio", "Donaudampfschifffahrt!\nKapitänsmützenträger!\n", metadata=DE),
    case("fineweb2_fineweb_quality", "no_config", GERMAN_PROSE),
    case("fineweb2_fineweb_quality", "no_tokenizer", "Қала айлағы.", **NO_TOKENIZER),
    # fineweb2_gopher_quality (50 to 100,000 words; word length, letter share and stop words from the config)
    case("fineweb2_gopher_quality", "gopher_short_doc", "Ich bin zu klein...", metadata=DE),
    case("fineweb2_gopher_quality", "gopher_long_doc", "der Hafen " * 50_001, metadata=DE),
    # pol_Latn.yml: min_avg_word_length 3 (deu_Latn's is 0: off)
    case("fineweb2_gopher_quality", "gopher_below_avg_threshold", "i w " * 30, metadata={"language": "pol_Latn"}),
    case(
        "fineweb2_gopher_quality", "gopher_above_avg_threshold", "Donaudampfschifffahrtsgesellschaft " * 60, metadata=DE
    ),
    case("fineweb2_gopher_quality", "gopher_too_many_hashes", "# Kommentar " * 60, metadata=DE),
    case("fineweb2_gopher_quality", "gopher_too_many_ellipsis", "... Kommentar " * 60, metadata=DE),
    case(
        "fineweb2_gopher_quality",
        "gopher_too_many_bullets",
        "- die Boote landen ihren Fang jeden Morgen am Kai\n" * 6,
        metadata=DE,
    ),
    case(
        "fineweb2_gopher_quality",
        "gopher_too_many_end_ellipsis",
        "die Boote landen ihren Fang am Kai und dann...\n" * 6,
        metadata=DE,
    ),
    case(
        "fineweb2_gopher_quality",
        "gopher_below_alpha_threshold",
        "der ./!*?<><> Apfel <?////> Orange ++ Verbindung !<>??? haben" * 20,
        metadata=DE,
    ),
    case(
        "fineweb2_gopher_quality",
        "gopher_enough_stop_words",
        "Fischerboote landen jeden Morgen ihren Fang. " * 10,
        metadata=DE,
    ),
    case("fineweb2_gopher_quality", "no_config", GERMAN_PROSE),
    case("fineweb2_gopher_quality", "no_tokenizer", "Қала айлағы.", **NO_TOKENIZER),
]

CASES = [
    # url_filter: the UT1 blocklist and banned words as datatrove ships them
    case("url_filter", "domain", PROSE, url="https://0-secure-paypal.com/login"),
    case("url_filter", "subdomain", PROSE, url="http://0.b.free.fr/"),  # free.fr itself is not listed
    # listed without a scheme; datatrove compares the URL as given, so only a URL written so matches
    case("url_filter", "url", PROSE, url="0b1-bofa.org/bofa/"),
    case("url_filter", "hard_blacklisted", PROSE, url="https://pharmacy.example.com/buy-cialis-online"),
    case("url_filter", "soft_blacklisted", PROSE, url="https://shop.example.com/brunette-lingerie"),
    case("url_filter", "blacklisted_subword", PROSE, url="https://www.example.com/watch-chaturbatelive"),
    # language_prefilter: English below 0.02 on the page's quick text; or, with the head check on, a
    # page that declares another language and whose title and description are in it
    case("language_prefilter", "not_{languages}", html(f"<p>{GERMAN}</p>", lang="de"), expect="not_en"),
    case(
        "language_prefilter",
        "not_{languages}_by_head",
        html(f"<p>{GERMAN}</p>", GERMAN_HEAD, "de"),
        params={"head_max_score": 0.005, "head_min_chars": 40},
        expect="not_en_by_head",
    ),
    # consent: each signal under the drop policy
    case(
        "consent",
        "opt_out_domain",
        PAGE,
        url="https://blog.optout.example/",
        params={"opt_out_domains": "drop"},
        setup=opt_out_file,
    ),
    case(
        "consent",
        "robots_disallow",
        PAGE,
        url="https://news.example/story",
        params={"robots": "drop"},
        setup=robots_index,
    ),
    case("consent", "noai", html("<p>Hello.</p>", '<meta name="robots" content="noai">'), params={"noai": "drop"}),
    case(
        "consent",
        "tdm_reservation",
        html("<p>Hello.</p>", '<meta name="tdm-reservation" content="1">'),
        params={"tdm": "drop"},
    ),
    # extract (trafilatura in its killable sandbox)
    case("extract", "too_large", PAGE, params={"max_html_chars": 100}),
    case("extract", "timeout", DEEP, params={"timeout": 0.001}),  # CPU seconds
    case("extract", "process_died", PAGE, patch=die_in_extraction),
    case("extract", "extract_error", PAGE, patch=raise_in_extraction),
    case("extract", "empty", html("")),
    # extract_resiliparse (the fast preset's; its defaults come from fast.yaml)
    case("extract_resiliparse", "too_large", PAGE, params={"max_html_chars": 100}),
    case("extract_resiliparse", "timeout", DEEP, params={"timeout": 0.001}),  # CPU seconds, in its killable process
    case("extract_resiliparse", "process_died", PAGE, patch=die_in_extraction),
    case("extract_resiliparse", "extract_error", "<p>a lone surrogate \ud800 from a bad decode</p>"),
    case("extract_resiliparse", "empty", html("")),
    # language: fastText lid.176, English above 0.65
    case("language", "not_{languages}", GERMAN, expect="not_en"),
    case("language", "low_language_score", "Main page"),  # English, at 0.59
    # gopher_repetition (datatrove's own examples, FineWeb's thresholds)
    case("gopher_repetition", "empty", ""),
    case("gopher_repetition", "dup_para_frac", "I am your father.\n\n" * 4),
    case(
        "gopher_repetition",
        "dup_para_char_frac",
        "I am groot.\n\nYou are a wizard.\n\nI am your father.\n\n" + f"{'x' * 30}.\n\n" * 2,
    ),
    case("gopher_repetition", "dup_line_frac", "I am your father.\n" * 4),
    case(
        "gopher_repetition",
        "dup_line_char_frac",
        "I am groot.\nYou are a wizard.\nI am your father.\n" + f"{'x' * 30}.\n" * 2,
    ),
    case("gopher_repetition", "top_{n}_gram", "I am Frank, I am Frank, I am Frank", expect="top_2_gram"),
    case(
        "gopher_repetition",
        "top_{n}_gram",
        "I am Frank, you are Jhon. I am Frank. I am Frank you are Jhon",
        expect="top_3_gram",
    ),
    case(
        "gopher_repetition",
        "duplicated_{n}_n_grams",
        f"Visitors walk along the sea wall to the lighthouse. {REPEATED} In the evening the cafes fill with "
        f"people who spent the day on the cliffs. {REPEATED} The museum tells the story of the families who "
        "built the harbour.",
        expect="duplicated_5_n_grams",
    ),
    # gopher_quality (50 to 100,000 words, mean word length 3 to 10, ...)
    case("gopher_quality", "gopher_short_doc", "I am too small..."),
    case("gopher_quality", "gopher_long_doc", "the harbour " * 50_001),
    case("gopher_quality", "gopher_below_avg_threshold", "I am " * 30),
    case("gopher_quality", "gopher_above_avg_threshold", "interconnection " * 60),
    case("gopher_quality", "gopher_too_many_hashes", "# comment " * 60),
    case("gopher_quality", "gopher_too_many_ellipsis", "... comment " * 60),
    case("gopher_quality", "gopher_too_many_bullets", "- the boats land their catch at the quay each morning\n" * 6),
    case("gopher_quality", "gopher_too_many_end_ellipsis", "the boats land their catch at the quay and then...\n" * 6),
    case(
        "gopher_quality",
        "gopher_below_alpha_threshold",
        "the ./!*?<><> apple <?////> orange  ++ interconnection !<>??? have" * 20,
    ),
    case("gopher_quality", "gopher_enough_stop_words", "Fishing boats still land their catch each morning. " * 10),
    # c4_quality (FineWeb's: five sentences, lines of three words or more)
    case("c4_quality", "lorem_ipsum", PROSE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit."),
    case("c4_quality", "curly_bracket", PROSE + "\nfunction show() { return harbour; }"),
    case("c4_quality", "too_few_sentences", "One short sentence here."),
    # fineweb_quality
    case("fineweb_quality", "empty", "\n \n"),
    case("fineweb_quality", "line_punct_ratio", "Home\nAbout the harbour town\nContact us"),
    case("fineweb_quality", "short_line_ratio", "Yes.\nNo.\nMaybe."),
    case(
        "fineweb_quality",
        "char_dup_ratio",
        "This line is long enough not to be a short line.\n" * 2 + "And this one is a different line of text.",
    ),
    case(
        "fineweb_quality",
        "list_ratio",
        "Electroencephalographically unquestionable!\nIncomprehensibilities notwithstanding!\n",
    ),
    # ai_text: annotate only by default; the thresher preset drops at the model's 1 % false-positive threshold
    case("ai_text", "ai_generated", AI_BOILERPLATE, params={"threshold": "1pct_fpr"}),
    # ai_text_lm: the LM head's score where lm_* columns exist, else the cheap score (here: chat boilerplate)
    case("ai_text_lm", "ai_generated", AI_BOILERPLATE, params={"threshold": 0.5}),
    # minhash_dedup: the later of two copies goes (FineWeb's 5-grams, 14 bands x 8 rows)
    case("minhash_dedup", "exact_duplicate", "  " + PROSE.upper() + "\n", keeper=PROSE),
    case("minhash_dedup", "near_duplicate", PROSE.replace("morning", "evening"), keeper=PROSE),
    *FINEWEB2_CASES,
]


def concrete(reason: str) -> re.Pattern:
    """A declared reason as a pattern: `{n}` a number, `{languages}` kept languages joined by `_`."""
    pattern = re.escape(reason).replace(r"\{n\}", r"\d+").replace(r"\{languages\}", r"[a-z]+(?:_[a-z]+)*")
    return re.compile(pattern)


@pytest.mark.parametrize("name, reason, text, how", CASES)
def test_block_drops_with_its_reason(name, reason, text, how, tmp_path):
    cls = registry()[name]
    expected = how.expect or reason
    assert concrete(reason).fullmatch(expected), f"{expected} is not an instance of {reason}"
    doc = Document(text=text, id="doc", metadata={"url": how.url, "warc_date": "2024-05-02T00:00:00Z", **how.metadata})
    if how.keeper is not None:
        keeper = Document(text=how.keeper, id="keeper", metadata={"url": URL, "warc_date": "2024-05-01T00:00:00Z"})
        assert dedup_verdict(doc, keeper, tmp_path) == expected
        return
    block = cls(**how.params, **(how.setup(tmp_path) if how.setup else {}))
    if how.patch:
        how.patch(block)
    assert verdict(block, doc) == expected


def test_every_declared_reason_has_a_case():
    blocks = registry()
    covered = {(p.values[0], p.values[1]) for p in CASES}
    declared = {(name, reason) for name, cls in blocks.items() for reason in cls.drop_reasons}
    assert not declared - covered, f"drop reasons without a test document: {sorted(declared - covered)}"
    assert not covered - declared, f"cases for reasons no block declares: {sorted(covered - declared)}"


# --- the kept document ----------------------------------------------------------------------------

# the settings under which a block drops the most (its defaults may only annotate)
STRICT = {
    "consent": lambda tmp: {
        "robots": "drop",
        "noai": "drop",
        "tdm": "drop",
        "opt_out_domains": "drop",
        **robots_index(tmp),
        **opt_out_file(tmp),
    },
    "ai_text": lambda tmp: {"threshold": "1pct_fpr"},
    "ai_text_lm": lambda tmp: {"threshold": "every_human_domain"},
    "language_prefilter": lambda tmp: {"head_max_score": 0.005, "head_min_chars": 40},
}


@pytest.mark.parametrize("name", sorted(registry()))
def test_block_keeps_a_paragraph_of_english_prose(name, tmp_path):
    cls = registry()[name]
    text = PAGE if name in HTML_BLOCKS else PROSE
    if name in FINEWEB2_PROSE:  # FineWeb-2 has no English: its blocks keep German prose
        text, metadata = FINEWEB2_PROSE[name]
        assert verdict(cls(), Document(text=text, id="doc", metadata={"url": URL, **metadata})) is None
        return
    if name == "minhash_dedup":  # a document unlike the run's others stays
        other = Document(text=AI_BOILERPLATE, id="keeper", metadata={"warc_date": "2024-05-01T00:00:00Z"})
        assert dedup_verdict(Document(text=PROSE, id="doc"), other, tmp_path) is None
        return
    settings = [{}] + ([STRICT[name](tmp_path)] if name in STRICT else [])
    for params in settings:
        doc = Document(text=text, id="doc", metadata={"url": URL})
        assert verdict(cls(**params), doc) is None, params
    if name in ("extract", "extract_resiliparse"):
        assert doc.text.split() == PROSE.split()
