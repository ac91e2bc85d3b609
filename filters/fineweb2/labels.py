"""FineWeb-2's language labels (ISO 639-3 + ISO 15924 script, e.g. `deu_Latn`) from fastText lid.176's.

FineWeb-2 labelled documents with GlotLID v3, whose labels already have this form; a GlotLID model given
by path is used as it is. lid.176 (176 labels: ISO 639-1 or Wikipedia codes, no script) is mapped in two
steps: its code -> the individual ISO 639-3 language FineWeb-2 has a config for (datatrove's
tokenizer_assignment.csv defaults, with the fixes below), then the script: the language's only config
script, or, for the 27 languages FineWeb-2 has in several scripts (srp_Cyrl / srp_Latn, hin_Deva /
hin_Latn, ...), the candidate script with the most letters in the text.
"""

from __future__ import annotations

import regex

# lid.176 code -> ISO 639-3, where the code names the language FineWeb-2 uses (macrolanguages -> FineWeb-2's
# individual language: zh -> cmn, ar -> arb, fa -> fas, ms -> zsm, sw -> swh, et -> ekk, lv -> lvs, ...)
_PLAIN = """
    af:afr am:amh an:arg ar:arb arz:arz as:asm ast:ast av:ava az:azj azb:azb ba:bak bar:bar bcl:bcl be:bel
    bg:bul bn:ben bo:bod bpy:bpy br:bre bs:bos bxr:bxr ca:cat cbk:cbk ce:che ceb:ceb ckb:ckb co:cos cs:ces
    cv:chv cy:cym da:dan de:deu diq:diq dsb:dsb dty:dty dv:div el:ell eml:eml eo:epo es:spa et:ekk eu:eus
    fa:fas fi:fin fr:fra frr:frr fy:fry ga:gle gd:gla gl:glg gn:gug gom:gom gu:guj gv:glv he:heb hi:hin hif:hif
    hr:hrv hsb:hsb ht:hat hu:hun hy:hye ia:ina id:ind ie:ile ilo:ilo io:ido is:isl it:ita ja:jpn jbo:jbo jv:jav
    ka:kat kk:kaz km:khm kn:kan ko:kor krc:krc kv:kpv kw:cor ky:kir la:lat lb:ltz lez:lez li:lim lmo:lmo lo:lao
    lrc:lrc lt:lit lv:lvs mai:mai mg:plt mhr:mhr min:min mk:mkd ml:mal mn:khk mr:mar mrj:mrj ms:zsm mt:mlt
    mwl:mwl my:mya myv:myv mzn:mzn nah:nah nap:nap nds:nds ne:npi new:new nl:nld nn:nno oc:oci or:ory os:oss
    pa:pan pam:pam pfl:pfl pl:pol pms:pms pnb:pnb ps:pbt pt:por rm:roh ro:ron ru:rus rue:rue sa:san sah:sah
    sc:srd scn:scn sco:sco sd:snd si:sin sk:slk sl:slv so:som sq:als sr:srp su:sun sv:swe sw:swh ta:tam te:tel
    tg:tgk th:tha tk:tuk tr:tur tt:tat tyv:tyv ug:uig uk:ukr ur:urd uz:uzn vec:vec vep:vep vi:vie vls:vls
    vo:vol wa:wln war:war wuu:wuu xal:xal xmf:xmf yi:ydd yo:yor yue:yue zh:cmn
"""
# hand fixes: lid.176 uses Wikipedia codes, and FineWeb-2 has no config for some macrolanguages
_FIXES = {
    "als": "gsw",  # als.wikipedia is Alemannic; FineWeb-2's als_Latn is Tosk Albanian (lid.176's `sq`)
    "bh": "bho",  # bh.wikipedia (Bihari, a collective code) is Bhojpuri
    "en": "eng",  # English: no FineWeb-2 config (English is FineWeb); labelled, then dropped as no_config
    "ku": "kmr",  # ku.wikipedia is Kurmanji; datatrove says ckb, but lid.176 has its own `ckb`
    "no": "nob",  # Norwegian -> Bokmål (nn has its own label)
    "qu": "quy",  # Southern Quechua: FineWeb-2's largest Quechua subset
    "sh": "hrv",  # Serbo-Croatian: no hbs config; Latin text -> hrv_Latn, Cyrillic -> srp_Cyrl (`label`)
    "tl": "fil",  # Tagalog: FineWeb-2 (GlotLID) has only fil_Latn
}
LID176_TO_ISO3: dict[str, str] = {**dict(p.split(":") for p in _PLAIN.split()), **_FIXES}

# ISO 15924 -> Unicode script, for the scripts of the languages FineWeb-2 has in more than one
_SCRIPTS = {
    "Latn": "Latin",
    "Cyrl": "Cyrillic",
    "Arab": "Arabic",
    "Deva": "Devanagari",
    "Beng": "Bengali",
    "Gujr": "Gujarati",
    "Guru": "Gurmukhi",
    "Knda": "Kannada",
    "Mlym": "Malayalam",
    "Orya": "Oriya",
    "Taml": "Tamil",
    "Telu": "Telugu",
}
_SCRIPT_RE = {code: regex.compile(rf"\p{{Script={name}}}") for code, name in _SCRIPTS.items()}
SCRIPT_SAMPLE_CHARS = 2000  # the script is judged on the start of the text


def dominant_script(text: str, candidates: tuple[str, ...]) -> str:
    """The candidate script with the most letters in the start of `text` (ties: the first candidate)."""
    sample = text[:SCRIPT_SAMPLE_CHARS]
    counts = [len(_SCRIPT_RE[c].findall(sample)) if c in _SCRIPT_RE else -1 for c in candidates]
    return candidates[counts.index(max(counts))]


class Lid176Labels:
    """lid.176 label -> FineWeb-2 label, given the config labels that exist (a set of `xxx_Scrp`)."""

    def __init__(self, config_labels: frozenset[str]):
        scripts: dict[str, list[str]] = {}
        for label in sorted(config_labels):
            iso3, _, script = label.partition("_")
            scripts.setdefault(iso3, []).append(script)
        self._scripts = {k: tuple(v) for k, v in scripts.items()}
        self._by_code: dict[str, tuple[str, tuple[str, ...]]] = {}

    def scripts(self, code: str) -> tuple[str, tuple[str, ...]]:
        """(ISO 639-3, the scripts FineWeb-2 has a config in; empty when none) of a lid.176 code."""
        found = self._by_code.get(code)
        if found is None:
            iso3 = LID176_TO_ISO3.get(code, code)
            found = self._by_code[code] = (iso3, self._scripts.get(iso3, ()))
        return found

    def label(self, code: str, text: str) -> str:
        """The FineWeb-2 label of lid.176's `code` (`de`, `__label__de`) for `text`; a language with no
        config gets `<iso3>_Latn` for Latin-script lid.176 codes (English: eng_Latn) or `<iso3>_Zyyy`."""
        code = code.removeprefix("__label__")
        if code == "sh" and dominant_script(text, ("Latn", "Cyrl")) == "Cyrl":
            return "srp_Cyrl"  # Serbo-Croatian in Cyrillic is Serbian
        iso3, scripts = self.scripts(code)
        if not scripts:
            return f"{iso3}_{'Latn' if iso3 == 'eng' else 'Zyyy'}"
        return f"{iso3}_{scripts[0] if len(scripts) == 1 else dominant_script(text, scripts)}"

    def reachable(self) -> frozenset[str]:
        """Every FineWeb-2 label this mapping can produce (the languages lid.176 can keep)."""
        out = {"srp_Cyrl"}
        for code in LID176_TO_ISO3:
            iso3, scripts = self.scripts(code)
            out.update(f"{iso3}_{s}" for s in scripts)
        return frozenset(out)
