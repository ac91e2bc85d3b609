"""The AI opt-out signals a page carries itself: X-Robots-Tag, meta robots, TDMRep, listed domains.

Parsed from the HTTP headers and the HTML <head> without building a DOM (one regex scan that skips
comments, scripts and styles), so the consent block can run on every page before extraction.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from .robots import host_key

# directives that are an AI opt-out when unaddressed; `noindex`/`none` count only when addressed to
# an AI agent by name (a plain `noindex` is about search engines, and common)
AI_DIRECTIVES = frozenset({"noai", "noimageai"})
AGENT_OPT_OUT_DIRECTIVES = frozenset({"noai", "noindex", "none"})
# robots directives written `name: value`, whose name is not a user agent
_VALUED_DIRECTIVES = frozenset(
    {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview", "indexifembedded"}
)

# one scan over the head: meta tags, the end of the head, and what hides markup (comments, scripts)
_HEAD_TOKEN_RE = re.compile(r"<(?:(meta)\b[^>]*>|(!--)|(script|style)\b|/head\s*>|body\b)", re.IGNORECASE)
_CLOSERS = {
    "!--": re.compile("-->"),
    "script": re.compile(r"</script\s*>", re.IGNORECASE),
    "style": re.compile(r"</style\s*>", re.IGNORECASE),
}
_ATTR_RE = re.compile(r"""([a-zA-Z_:][-\w:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""")
_AGENT_PREFIX_RE = re.compile(r"^\s*([\w.-]+)\s*:(.*)$", re.DOTALL)


def head_meta_tags(text: str, max_chars: int) -> list[tuple[str, str]]:
    """(name or http-equiv, content) of the <meta> tags in the document's <head>.

    One regex scan of at most `max_chars` characters that skips comments, scripts and styles and
    stops at `</head>` or `<body>`: no HTML parse per document.
    """
    head = text[:max_chars]
    tags = []
    pos = 0
    while (m := _HEAD_TOKEN_RE.search(head, pos)) is not None:
        pos = m.end()
        if m[1]:
            attrs = {a[1].lower(): a[2] or a[3] or a[4] or "" for a in _ATTR_RE.finditer(m[0])}
            key = (attrs.get("name") or attrs.get("http-equiv") or "").strip().lower()
            if key and "content" in attrs:
                tags.append((key, html.unescape(attrs["content"]).strip()))
        elif m[2] or m[3]:
            end = _CLOSERS[(m[2] or m[3]).lower()].search(head, pos)
            if end is None:
                break
            pos = end.end()
        else:
            break  # </head> or <body>
    return tags


@dataclass
class RobotsTags:
    """AI-relevant robots directives of one document, from X-Robots-Tag headers and meta tags."""

    agents: dict[str, str]  # lowercased AI agent -> its spelling
    tags: list[str] = field(default_factory=list)  # "source:directive" or "source:agent:directive"
    noai: bool = False
    noimageai: bool = False

    def add_header(self, value: str, source: str = "header") -> None:
        """`X-Robots-Tag` syntax: `noai, noimageai` or `GPTBot: noindex, otherbot: nofollow`."""
        agent = None
        for segment in value.split(","):
            m = _AGENT_PREFIX_RE.match(segment)
            if m and m.group(1).lower() not in _VALUED_DIRECTIVES:
                agent, segment = m.group(1).lower(), m.group(2)
            self._add(source, agent, segment)

    def add_meta(self, name: str, content: str) -> None:
        """`<meta name="robots">` (everyone) or `<meta name="GPTBot">` (that agent)."""
        self._add("meta", None if name == "robots" else name, content.replace(",", " "))

    def _add(self, source: str, agent: str | None, words: str) -> None:
        if agent is not None and agent not in self.agents:
            return  # addressed to a crawler that is not an AI agent we track
        for word in words.lower().split():
            word = word.split(":", 1)[0]
            if agent is None:
                if word not in AI_DIRECTIVES:
                    continue
                tag = f"{source}:{word}"
            else:
                tag = f"{source}:{self.agents[agent]}:{word}"
            if tag not in self.tags:
                self.tags.append(tag)
            self.noai |= word == "noai" or (agent is not None and word in AGENT_OPT_OUT_DIRECTIVES)
            self.noimageai |= word == "noimageai"


@dataclass
class TdmRep:
    """W3C TDMRep properties; the HTTP header takes precedence over the meta tag, as TDMRep orders them.

    `tdm-reservation` other than 0/1 is a protocol error and counts as unset (None), as the spec says.
    """

    reservation: bool | None = None
    policy: str | None = None
    malformed: bool = False

    def set(self, name: str, value: str, overwrite: bool) -> None:
        value = value.strip()
        if name == "tdm-reservation" and (overwrite or self.reservation is None):
            if value in ("0", "1"):
                self.reservation = value == "1"
            else:
                self.malformed = True
        elif name == "tdm-policy" and value and (overwrite or self.policy is None):
            self.policy = value


class OptOutDomains:
    """Domains whose owners opted out (one per line, `#` comments); a domain covers its subdomains."""

    def __init__(self, path: str):
        self.domains: set[str] = set()
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                entry = line.split("#", 1)[0].strip().lower().rstrip(".")
                if entry:
                    self.domains.add(host_key(entry if "://" in entry else f"http://{entry}") or entry)

    def __contains__(self, host: str | None) -> bool:
        if not host:
            return False
        labels = host.split(":", 1)[0].split(".")
        return host in self.domains or any(".".join(labels[i:]) in self.domains for i in range(len(labels)))
