"""Per-document text splits, computed once and shared by every filter.

datatrove's filters re-tokenise the text in every block (about 7 ms per 1,000 words each time); here
the first block that needs words, lines or paragraphs computes them and later blocks reuse them. The
cache is keyed by the identity of the text string, so it is correct even when a block rewrites
`doc.text` (a new string object gets new splits) and it never leaks into document metadata.

`tokens` follow the rules of spaCy's blank English tokenizer (which FineWeb's filters used) closely
enough that the FineWeb filters' decisions agree with datatrove's, at a fraction of the cost:
whitespace chunks made only of letters or only of digits (most of them) are taken as they are, the
rest go through the same prefix / suffix / infix / special-case steps as spaCy's, written with
`regex`, and cached per chunk. `words` is the older quick split other blocks' features rely on.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice

import regex

# --- spaCy-like English word splitting -------------------------------------------------------------

_PUNCT = r"…|……|,|:|;|\!|\?|¿|؟|¡|\(|\)|\[|\]|\{|\}|<|>|_|#|\*|&|。|？|！|，|、|；|：|～|·|।|،|۔|؛|٪"
_QUOTE_CHARS = "'\"”“`‘´’‚,„»«「」『』（）〔〕【】《》〈〉⟦⟧"
_QUOTES = "|".join(regex.escape(c) for c in _QUOTE_CHARS)
_CURRENCY = r"\$|£|€|¥|฿|US\$|C\$|A\$|₽|﷼|₴|₠|₡|₢|₣|₤|₥|₦|₧|₨|₩|₪|₫|₭|₮|₯|₰|₱|₲|₳|₵|₶|₷|₸|₹|₺|₻|₼|₾|₿"
_UNITS = (
    r"km|km²|km³|m|m²|m³|dm|dm²|dm³|cm|cm²|cm³|mm|mm²|mm³|ha|µm|nm|yd|in|ft|kg|g|mg|µg|t|lb|oz|m/s|"
    r"km/h|kmh|mph|hPa|Pa|mbar|mb|MB|kb|KB|gb|GB|tb|TB|T|G|M|K|%"
)
_HYPHENS = r"-|–|—|--|---|——|~"
_ICON = r"\p{So}"
# uncased scripts (Hangul, Arabic, CJK...) count as both lower and upper case, as in spaCy
_A, _AL, _AU = r"\p{L}", r"\p{Ll}\p{Lo}", r"\p{Lu}\p{Lo}"

_PREFIX = regex.compile(
    r"^(?:§|%|=|—|–|\+(?![0-9])|" + _PUNCT + r"|\.\.+|…|" + _QUOTES + "|" + _CURRENCY + "|" + _ICON + ")"
)
_SUFFIX = regex.compile(
    "(?:"
    + "|".join(
        [
            _PUNCT,
            r"\.\.+",
            "…",
            _QUOTES,
            _ICON,
            "'s|'S|’s|’S|—|–",
            r"(?<=[0-9])\+",
            r"(?<=°[FfCcKk])\.",
            rf"(?<=[0-9])(?:{_CURRENCY})",
            rf"(?<=[0-9])(?:{_UNITS})",
            rf"(?<=[0-9{_AL}%²\-\+…,:;!?¿؟¡()\[\]{{}}<>_#*&。？！，、；：～·।،۔؛٪|\\{_QUOTE_CHARS}])\.",
            rf"(?<=[{_AU}][{_AU}])\.",
        ]
    )
    + ")$"
)
_INFIX = regex.compile(
    "|".join(
        [
            r"\.\.+",
            "…",
            _ICON,
            r"(?<=[0-9])[+\-\*^](?=[0-9-])",
            rf"(?<=[{_AL}{_QUOTE_CHARS}])\.(?=[{_AU}{_QUOTE_CHARS}])",
            rf"(?<=[{_A}]),(?=[{_A}])",
            rf"(?<=[{_A}0-9])(?:{_HYPHENS})(?=[{_A}])",
            rf"(?<=[{_A}0-9])[:<>=/](?=[{_A}])",
        ]
    )
)
# spaCy's URL_MATCH, shortened: a URL or bare domain stays one token
_URL = regex.compile(
    r"^(?:(?:[\w\+\-\.]{2,})://)?(?:\S+(?::\S*)?@)?"
    r"(?:\d{1,3}(?:\.\d{1,3}){3}|(?:(?:[A-Za-z0-9\u00a1-\uffff][A-Za-z0-9\u00a1-\uffff_-]{0,62})?"
    r"[A-Za-z0-9\u00a1-\uffff]\.)+(?:[a-z\u00df-\u00f6\u00f8-\u00ff]{2,63}))(?::\d{2,5})?(?:[/?#]\S*)?$"
)
# spaCy's single-token exceptions with punctuation: abbreviations, emoticons
_ABBREVIATIONS = frozenset(
    (
        """(._.) ._. 0.0 0.o <.< >.< >.> Adm. Ak. Ala. Apr. Ariz. Ark. Aug. Bros. Calif. Co. Colo. Conn. Corp.
    D.C. Dec. Del. Dr. E.G. E.g. Feb. Fla. Ga. Gen. Gov. I.E. I.e. Ia. Id. Ill. Inc. Ind. Jan. Jr. Jul. Jun.
    Kan. Kans. Ky. La. Ltd. Mar. Mass. Md. Messrs. Mich. Minn. Miss. Mo. Mont. Mr. Mrs. Ms. Mt. N.C. N.D.
    N.H. N.J. N.M. N.Y. Neb. Nebr. Nev. Nov. O.O O.o Oct. Okla. Ore. Pa. Ph.D. Prof. Rep. Rev. S.C. Sen.
    Sep. Sept. St. Tenn. V.V Va. Wash. Wis. a. a.m. b. c. co. d. e. e.g. f. g. h. i. i.e. j. k. l. m. n.
    o. o.0 o.O o.o p. p.m. q. r. s. t. u. v. v.s. v.v vs. w. x. y. z. ä. ö. ü. and/or"""
        # spaCy's base exceptions: emoticons and a few symbols
        r""" — ' '' C++ ]= ;-) XD 0_0 O_O V.V 0.o 0.0 :X 8D )-: :-x (: :-] 8) =] :'-( :1 (>_<) <33 -_- <333
    0_o XDD ¯\(ツ)/¯ :))) (= ;) :)) :( :| =3 (; :D :} :'-) :(( (¬_¬) :] (-: :* =D :-O O.o o_o :-X :o) -__-
    (-_-) :p V_V :o :-> :0 (o: :-} :O o_0 :-) :) xD :x O_o :((( <.< =| :-((( ^_^ [= [: ಠ︵ಠ ): 8-) @_@ =[
    :-D (._.) :'( :-3 :-0 ^___^ :-( ._. o.o :/ :-* :3 (╯°□°）╯︵┻━┻ [-: 8-D :P o.O :-))) =( :-| </3 :')
    (-; :-(( <3 =/ =) >:( ^__^ ;D ;-D ;_; ಠ_ಠ :-p ><(((*> :-o v.v o.0 :() O.O (*_*) (-8 (^_^) >.< :-/ :>
    >.> v_v o_O :-P :-)) (ಠ_ಠ) xDD >:o"""
    ).split()
)
# spaCy's contraction exceptions written without an apostrophe (lowercase; Titlecase also matches)
_BARE_CONTRACTIONS = frozenset(
    """aint arent cannot cant cantve couldnt couldntve couldve darent didnt didntve doesnt doesntve dont
    dontve gonna gotta hadnt hadntve hasnt havent hed hedve hellve hes howd howdve howll howllve howre hows
    howve id idve illve im ima isnt itd itdve itll itllve ive maynt mayntve mightnt mightntve mightve
    mustnt mustntve mustve neednt needntve notve oughtnt oughtntve shant shantve shedve shellve shes
    shouldnt shouldntve shouldve thatd thatdve thatll thatllve thats thered theredve therell therellve
    therere theres thereve thesed thesedve thesell thesellve thesere theseve theyd theydve theyll
    theyllve theyre theyve thisd thisdve thisll thisllve thiss thosed thosedve thosell thosellve thosere
    thoseve wasnt wed wedve wellve werent weve whatd whatdve whatll whatllve whatre whats whatve whend
    whendve whenll whenllve whenre whens whenve whered wheredve wherell wherellve wherere wheres whereve
    whod whodve wholl whollve whos whove whyd whydve whyll whyllve whyre whys whyve wont wontve wouldnt
    wouldntve wouldve yall youd youdve youll youllve youre youve""".split()
)
_BARE_TAIL = re.compile(r"(nt|ll|re|d|s|m|na|ta|not|all|a)?(ve)?$")
_APOS_CONTRACTION = re.compile(
    r"^([^\W\d_]+?n?)(n['’]t|N['’]T)((?:['’]ve)?)$"
    r"|^((?i:i|you|he|she|it|we|they|who|what|where|when|why|how|that|there|these|those|this|would|could"
    r"|should|might|must|y))(['’](?i:m|re|ve|ll|d))((?:['’]ve)?)$"
)
_TIME = re.compile(r"^(1[0-2]|[1-9])(am|pm|a\.m\.|p\.m\.)$")


def _special(chunk: str) -> list[str] | None:
    """spaCy's tokenizer exceptions (abbreviations, contractions, times), or None."""
    if chunk in _ABBREVIATIONS:
        return [chunk]
    m = _APOS_CONTRACTION.match(chunk)
    if m:
        return [g for g in m.groups() if g]
    if chunk in _BARE_FORMS:
        low = chunk.lower()
        if low == "cannot":
            return [chunk[:3], chunk[3:]]
        tail = _BARE_TAIL.search(low[1:])
        cut = len(chunk) - (tail.end() - tail.start()) if tail else len(chunk)
        return [chunk[:cut], chunk[cut:]] if 0 < cut < len(chunk) else [chunk]
    m = _TIME.match(chunk)
    if m:
        return [m.group(1), m.group(2)]
    return None


def _split_chunk(chunk: str) -> list[str]:
    """One whitespace-free chunk -> tokens, following spaCy's affix loop."""
    special = _special(chunk)
    if special is not None:
        return special
    prefixes: list[str] = []
    suffixes: list[str] = []
    string = chunk
    last = -1
    while string and len(string) != last:
        last = len(string)
        pre = _PREFIX.search(string)
        pre_len = pre.end() if pre else 0
        if pre_len and _special(string[pre_len:]) is not None:
            prefixes.append(string[:pre_len])
            string = string[pre_len:]
            break
        suf = _SUFFIX.search(string[pre_len:])
        suf_len = (suf.end() - suf.start()) if suf else 0
        if suf_len and _special(string[:-suf_len]) is not None:
            suffixes.append(string[-suf_len:])
            string = string[:-suf_len]
            break
        if pre_len and suf_len and pre_len + suf_len <= len(string):
            prefixes.append(string[:pre_len])
            suffixes.append(string[-suf_len:])
            string = string[pre_len:-suf_len]
        elif pre_len:
            prefixes.append(string[:pre_len])
            string = string[pre_len:]
        elif suf_len:
            suffixes.append(string[-suf_len:])
            string = string[:-suf_len]
        if string and _special(string) is not None:
            break
    middle: list[str] = []
    if string:
        special = _special(string)
        if special is not None:
            middle = special
        elif string.isalnum() or _URL.match(string):
            middle = [string]
        else:
            start = 0
            for m in _INFIX.finditer(string):
                if m.start() == 0:
                    continue
                if m.start() != start:
                    middle.append(string[start : m.start()])
                if m.start() != m.end():
                    middle.append(m.group())
                start = m.end()
            if string[start:]:
                middle.append(string[start:])
    return _merge_specials(prefixes + middle + suffixes[::-1])


def _merge_specials(tokens: list[str]) -> list[str]:
    """spaCy re-joins adjacent tokens that together spell an exception ("z" "." -> "z.")."""
    if len(tokens) < 2:
        return tokens
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for j in range(min(len(tokens), i + 6), i + 1, -1):
            if "".join(tokens[i:j]) in _ABBREVIATIONS:
                out.append("".join(tokens[i:j]))
                i = j
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


# the forms of the bare contractions spaCy knows: lowercase, Titlecase, and "Im"
_BARE_FORMS = frozenset(_BARE_CONTRACTIONS | {w.title() for w in _BARE_CONTRACTIONS} | {"Im"})
_CHUNK_CACHE: dict[str, list[str]] = {}  # chunk -> tokens; chunks repeat a lot across documents
_CHUNK_CACHE_SIZE = 200_000


# one-character prefixes and suffixes that spaCy always splits off a word (see _split_quoted)
_OPENERS = frozenset("([“‘\"'")
_CLOSERS = frozenset(",;:!?)]”’\"'")
_POSSESSIVES = ("'s", "'S", "’s", "’S")


def _split_quoted(chunk: str) -> list[str] | None:
    """A plain word between brackets, quotes and punctuation (`(word),` `“word.”` `Delhi’s` `two-stroke`
    `2018,`), split as `_split_chunk` splits it but without its regex loop; None for anything else.
    Two thirds of the chunks that miss the cache look like this; a test checks it against `_split_chunk`
    on every chunk of the English test pages and on generated combinations."""
    start, end = 0, len(chunk)
    while start < 2 and start < end and chunk[start] in _OPENERS:
        start += 1
    closers = 0
    while closers < 3 and end > start:
        last = chunk[end - 1]
        if last == ".":  # split off after a lowercase letter or a closer (spaCy's rule), never ".."
            before = chunk[end - 2] if end - 2 >= start else ""
            if not (before.islower() or before in _CLOSERS) or before == "":
                return None
        elif last not in _CLOSERS:
            break
        end -= 1
        closers += 1
    possessive = chunk[end - 2 : end] in _POSSESSIVES and end - 2 > start
    core = chunk[start : end - 2] if possessive else chunk[start:end]
    parts = core.split("-")
    if core.isascii() and core.isdigit():
        pass
    elif not all(part.isalpha() for part in parts) or core in _BARE_FORMS or start and core in ("s", "S"):
        return None  # `''s` is "'" + "'s"; "dont" is "do" + "nt"
    if start == 0 and end == len(chunk) and len(parts) == 1 and not possessive:
        return [core]
    tokens = list(chunk[:start])
    for i, part in enumerate(parts):
        tokens += ["-", part] if i else [part]
    if possessive:
        tokens.append(chunk[end - 2 : end])
    tokens += chunk[end:]
    return _merge_specials(tokens)


def tokenize(text: str) -> list[str]:
    """Words and punctuation tokens as spaCy's blank English tokenizer makes them (whitespace dropped)."""
    out: list[str] = []
    cache = _CHUNK_CACHE
    for chunk in text.split():
        if chunk.isalpha() and chunk not in _BARE_FORMS or chunk.isdigit():
            out.append(chunk)
            continue
        tokens = cache.get(chunk)
        if tokens is None:
            if len(cache) >= _CHUNK_CACHE_SIZE:
                cache.clear()
            tokens = cache[chunk] = _split_quoted(chunk) or _split_chunk(chunk)
        out.extend(tokens)
    return out


# spaCy's sentencizer: a sentence ends after one of these tokens, once a non-punctuation token follows
_SENT_END = frozenset("!.?։؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？｡。")
_PUNCT_TOKEN = regex.compile(r"^\p{P}+$")
_CHUNK_RE = re.compile(r"\S+")


def _token_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, token) for every token, with spaCy's whitespace tokens: any gap other than one
    space after a token becomes a token of its own (it matters where sentences start)."""
    spans: list[tuple[int, int, str]] = []
    prev = 0

    def gap(until: int) -> None:
        start = prev + 1 if prev and text.startswith(" ", prev) else prev
        if start < until:
            spans.append((start, until, text[start:until]))

    for m in _CHUNK_RE.finditer(text):
        gap(m.start())
        start = m.start()
        for tok in tokenize(m.group()):
            spans.append((start, start + len(tok), tok))
            start += len(tok)
        prev = start
    gap(len(text))
    return spans


def _sentence_starts(tokens: list[str]) -> list[int]:
    """Indexes of the tokens that start a sentence, by the rule of spaCy's sentencizer."""
    starts = [0] if tokens else []
    seen_end = False
    for i, tok in enumerate(tokens):
        is_end = tok in _SENT_END
        if seen_end and not is_end and not _PUNCT_TOKEN.match(tok):
            starts.append(i)
            seen_end = False
        elif is_end:
            seen_end = True
    return starts


def count_sentences(text: str) -> int:
    """Number of sentences spaCy's sentencizer finds in `text` (at least 1), as datatrove's C4 counts."""
    return max(1, len(_sentence_starts(tokenize(text))))


def split_sentences(text: str) -> list[str]:
    """`text` cut into sentences as datatrove's split_into_sentences cuts it (pieces cover the text)."""
    spans = _token_spans(text)
    starts = _sentence_starts([tok for _, _, tok in spans])
    cuts = [spans[i - 1][1] for i in starts[1:]]
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


# --- the shared splits -----------------------------------------------------------------------------

_PARAGRAPH_RE = re.compile(r"\n{2,}")
# the quick split: runs of word characters, or single non-space non-word characters
_WORD_RE = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)
_NEWLINES_RE = re.compile("\n+")


def _punctuation_set() -> frozenset[str]:
    from datatrove.utils.text import PUNCTUATION_SET

    return frozenset(PUNCTUATION_SET)


_PUNCTUATION_SET = _punctuation_set()
# datatrove's set holds single characters, so "all punctuation" is `not w.strip(_PUNCTUATION_CHARS)`
_PUNCTUATION_CHARS = "".join(sorted(_PUNCTUATION_SET))


@dataclass(eq=False)
class TextSplits:
    """Lazy splits of one text; each is computed on first use and then kept."""

    text: str
    _cache: dict = field(default_factory=dict, repr=False)

    @cached_property
    def lines(self) -> list[str]:
        """`str.splitlines()`: what Gopher quality and C4 iterate over."""
        return self.text.splitlines()

    @cached_property
    def newline_runs(self) -> list[str]:
        """Split on runs of "\\n" (Gopher repetition's lines)."""
        return _NEWLINES_RE.split(self.text)

    @cached_property
    def nonblank_lines(self) -> list[str]:
        """Split on "\\n", blank lines dropped (FineWeb quality's lines)."""
        return [line for line in self.text.split("\n") if line.strip()]

    @cached_property
    def paragraphs(self) -> list[str]:
        return _PARAGRAPH_RE.split(self.text.strip())

    @cached_property
    def words(self) -> list[str]:
        """Runs of word characters and single punctuation marks: a quick split for other blocks' features
        (kept as it was; the FineWeb filters use `tokens`)."""
        return _WORD_RE.findall(self.text)

    def first_words(self, n: int) -> list[str]:
        """`words[:n]`, without splitting the rest of a long text when `words` is not needed whole."""
        if "words" in self.__dict__:
            return self.words[:n]
        return [m.group() for m in islice(_WORD_RE.finditer(self.text), n)]

    @cached_property
    def line_words(self) -> list[list[str]]:
        return [_WORD_RE.findall(line) for line in self.lines]

    @cached_property
    def tokens(self) -> list[str]:
        """Words and punctuation tokens as spaCy's blank English tokenizer (datatrove's) splits them."""
        return tokenize(self.text)

    @cached_property
    def content_tokens(self) -> list[str]:
        """Tokens with at least one character that is not punctuation (datatrove's PUNCTUATION_SET)."""
        punct = _PUNCTUATION_CHARS
        return [w for w in self.tokens if w.strip(punct)]


_CACHE: OrderedDict[int, TextSplits] = OrderedDict()
_CACHE_SIZE = 256


def splits(text: str) -> TextSplits:
    """Shared splits for `text` (same string object -> same TextSplits)."""
    key = id(text)
    hit = _CACHE.get(key)
    if hit is not None and hit.text is text:
        _CACHE.move_to_end(key)
        return hit
    result = TextSplits(text)
    _CACHE[key] = result
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of repeated items, characters in the repeats): each repeat after the first counts."""
    seen: set[str] = set()
    dup_items = dup_chars = 0
    for item in items:
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return dup_items, dup_chars
