"""Turn a page's bytes into text: HTTP charset, then <meta charset>, then detection.

A page is never dropped for its encoding: when every candidate fails, it is decoded as UTF-8 with
replacement characters and the charset is reported as "utf-8-replace".
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_HEADER_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
# <meta charset="x"> or <meta http-equiv="Content-Type" content="text/html; charset=x">
_META_CHARSET_RE = re.compile(rb"<meta[^>]{0,512}?charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
_META_SCAN_BYTES = 4096
_UTF8_MULTIBYTE_RE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")

# WHATWG: labels browsers map to a superset encoding; decoding with the superset is always right
_SUPERSET = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-9": "cp1254",
    "tis-620": "cp874",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "shift_jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "big5": "big5hkscs",
}


def _normalise(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _SUPERSET.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = _HEADER_CHARSET_RE.search(content_type)
    return m.group(1) if m else None


def charset_from_meta(payload: bytes) -> str | None:
    m = _META_CHARSET_RE.search(payload[:_META_SCAN_BYTES])
    return m.group(1).decode("ascii", "ignore") if m else None


def _has_utf8_multibyte(payload: bytes) -> bool:
    return _UTF8_MULTIBYTE_RE.search(payload) is not None


def _detect(sample: bytes) -> str | None:
    """charset-normalizer's guess; among near-ties, windows-1252 (the web's default for Latin text)."""
    results = list(from_bytes(sample))
    if not results:
        return None
    best = results[0]
    for match in results:
        if match.encoding == "cp1252" and match.chaos <= best.chaos + 0.1:
            return "cp1252"
    return _normalise(best.encoding)


def decode_html(payload: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode `payload`; returns (text, charset actually used)."""
    if payload.startswith(codecs.BOM_UTF8):
        return payload[3:].decode("utf-8", "replace"), "utf-8"
    if payload.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return payload.decode("utf-16", "replace"), "utf-16"
    for label in (charset_from_content_type(content_type), charset_from_meta(payload)):
        name = _normalise(label)
        if name is None:
            continue
        try:
            return payload.decode(name), name
        except (UnicodeDecodeError, LookupError):
            continue
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # mostly UTF-8 with a few stray bytes (a pasted fragment in another encoding): keep UTF-8
    text = payload.decode("utf-8", "replace")
    if text.count("\ufffd") <= max(2, len(payload) // 1000) and _has_utf8_multibyte(payload):
        return text, "utf-8-replace"
    name = _detect(payload[:65536])
    # HTML is ASCII-compatible unless it starts with a BOM: a UTF-16/32 guess is a misdetection
    if name is not None and not name.startswith(("utf-16", "utf-32")):
        try:
            return payload.decode(name), name
        except (UnicodeDecodeError, LookupError):
            return payload.decode(name, "replace"), name
    return payload.decode("utf-8", "replace"), "utf-8-replace"
