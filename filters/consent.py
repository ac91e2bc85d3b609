"""Consent signals per document: AI opt-outs in robots.txt, X-Robots-Tag, meta robots and TDMRep.

Every signal is recorded as a column; each can be ignored, annotated or enforced (drop) on its own.
The block reads the HTTP headers and the HTML <head>, so it runs before `extract`.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass, field

import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.logging import logger

from thresher.pipeline.config import FromPreset
from thresher.pipeline.robots import DEFAULT_AI_AGENTS, NOT_CHECKED, RobotsIndex, host_key

POLICIES = ("ignore", "annotate", "drop")

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


class ConsentFilter(BaseFilter, FromPreset):
    """Records every AI opt-out signal of a document as columns, and drops on the ones set to `drop`.

    Policies (`ignore` | `annotate` | `drop`), one per signal: `robots` (an AI agent disallowed by
    the host's robots.txt captured in the same crawl; needs `robots_index`), `noai` (`noai`, or
    `noindex`/`none` addressed to an AI agent, in X-Robots-Tag or meta robots), `tdm` (TDMRep
    `tdm-reservation: 1`) and `opt_out_domains` (host listed in `opt_out_domains_file`). `noimageai`
    and `tdm-policy` are recorded with `noai`/`tdm` but never drop a text document on their own.
    """

    name = "🤝 Consent"
    block = "consent"
    output_columns: dict[str, pa.DataType] = {
        "consent_noai": pa.bool_(),
        "consent_noimageai": pa.bool_(),
        "consent_robots_tags": pa.list_(pa.string()),
        "consent_tdm_reservation": pa.bool_(),
        "consent_tdm_policy": pa.string(),
        "consent_robots": pa.string(),
        "consent_robots_agents": pa.list_(pa.string()),
        "consent_robots_captured": pa.string(),
        "consent_opt_out_domain": pa.bool_(),
    }
    # when several signals would drop a document, the reason names the first of these
    DROP_ORDER = ("opt_out_domains", "robots", "noai", "tdm")
    DROP_REASONS = {
        "opt_out_domains": "opt_out_domain",
        "robots": "robots_disallow",
        "noai": "noai",
        "tdm": "tdm_reservation",
    }

    def __init__(
        self,
        robots: str = "annotate",
        noai: str = "annotate",
        tdm: str = "annotate",
        opt_out_domains: str = "annotate",
        agents: list[str] | None = None,
        robots_index: str | None = None,
        opt_out_domains_file: str | None = None,
        max_head_chars: int = 65536,
        robots_cache_hosts: int = 2048,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.policies = {"robots": robots, "noai": noai, "tdm": tdm, "opt_out_domains": opt_out_domains}
        for signal, policy in self.policies.items():
            if policy not in POLICIES:
                raise ValueError(f"consent: {signal}={policy!r}; choose one of {', '.join(POLICIES)}")
        self.agents = tuple(agents) if agents else DEFAULT_AI_AGENTS
        self.robots_index = robots_index
        self.opt_out_domains_file = opt_out_domains_file
        self.max_head_chars = max_head_chars
        self.robots_cache_hosts = robots_cache_hosts
        if opt_out_domains_file is not None and not os.path.isfile(opt_out_domains_file):
            raise FileNotFoundError(f"consent: opt_out_domains_file {opt_out_domains_file!r} does not exist")
        # robots_index may be built after this block is (the run indexes --robots files first thing);
        # a missing index fails in the worker, when first opened
        # opened lazily in the worker: an SQLite connection does not cross process boundaries
        self._robots: RobotsIndex | None = None
        self._domains: OptOutDomains | None = None
        self._warned = False

    def run(self, data, rank: int = 0, world_size: int = 1):
        try:
            yield from super().run(data, rank, world_size)
        finally:
            if self._robots is not None:
                self._robots.close()
                self._robots = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        noai, tdm = self._page_signals(doc)
        fired = {
            "noai": noai,
            "tdm": tdm,
            "robots": self._robots_signal(doc.metadata),
            "opt_out_domains": self._domain_signal(doc.metadata),
        }
        for signal in self.DROP_ORDER:
            if fired[signal] and self.policies[signal] == "drop":
                return False, self.DROP_REASONS[signal]
        return True

    # --- one method per signal source; each writes its columns and returns whether it fired ---

    def _page_signals(self, doc: Document) -> tuple[bool, bool]:
        """X-Robots-Tag / meta robots and TDMRep from one pass over headers and <head>: (noai, tdm)."""
        meta = doc.metadata
        want_robots, want_tdm = self.policies["noai"] != "ignore", self.policies["tdm"] != "ignore"
        tags = RobotsTags({a.lower(): a for a in self.agents})
        tdm = TdmRep()
        if want_robots or want_tdm:
            for name, value in meta.get("http_headers") or ():
                name = name.strip().lower()
                if name == "x-robots-tag":
                    tags.add_header(value)
                elif name in ("tdm-reservation", "tdm-policy"):
                    tdm.set(name, value, overwrite=False)
            if meta.get("source_format") != "wet":
                for name, content in head_meta_tags(doc.text, self.max_head_chars):
                    if name == "x-robots-tag":
                        tags.add_header(content, source="meta")
                    elif name == "robots" or name in tags.agents:
                        tags.add_meta(name, content)
                    elif name in ("tdm-reservation", "tdm-policy"):
                        tdm.set(name, content, overwrite=False)
        if want_robots:
            meta.update(
                consent_noai=tags.noai, consent_noimageai=tags.noimageai, consent_robots_tags=tags.tags
            )
            self._count(noai=tags.noai, noimageai=tags.noimageai, ai_robots_tag=bool(tags.tags))
        else:
            meta.update(consent_noai=None, consent_noimageai=None, consent_robots_tags=None)
        if want_tdm:
            meta.update(consent_tdm_reservation=tdm.reservation, consent_tdm_policy=tdm.policy)
            self._count(
                tdm_reservation=tdm.reservation is True,
                tdm_reservation_0=tdm.reservation is False,
                tdm_policy=tdm.policy is not None,
                tdm_malformed=tdm.malformed,
            )
        else:
            meta.update(consent_tdm_reservation=None, consent_tdm_policy=None)
        return want_robots and tags.noai, want_tdm and tdm.reservation is True

    def _robots_signal(self, meta: dict) -> bool:
        meta.update(consent_robots=NOT_CHECKED, consent_robots_agents=None, consent_robots_captured=None)
        if self.policies["robots"] == "ignore":
            return False
        index = self._index()
        if index is None:
            self.stat_update("robots_not_checked")
            return False
        verdict = index.verdict(meta.get("url") or "", self.agents, meta.get("warc_date"))
        meta.update(
            consent_robots=verdict.status,
            consent_robots_agents=list(verdict.disallowed),
            consent_robots_captured=verdict.captured,
        )
        self.stat_update(f"robots_{verdict.status}")
        for agent in verdict.disallowed:
            self.stat_update(f"robots_disallowed_{agent}")
        return verdict.status == "disallowed"

    def _domain_signal(self, meta: dict) -> bool:
        if self.policies["opt_out_domains"] == "ignore" or self.opt_out_domains_file is None:
            meta["consent_opt_out_domain"] = None
            return False
        if self._domains is None:
            self._domains = OptOutDomains(self.opt_out_domains_file)
        listed = host_key(meta.get("url")) in self._domains
        meta["consent_opt_out_domain"] = listed
        self._count(opt_out_domain=listed)
        return listed

    def _index(self) -> RobotsIndex | None:
        if self._robots is None and self.robots_index is not None:
            self._robots = RobotsIndex(self.robots_index, cache_hosts=self.robots_cache_hosts)
        if self._robots is None and not self._warned:
            self._warned = True  # loud only when the user asked to enforce what cannot be checked
            log = logger.warning if self.policies["robots"] == "drop" else logger.info
            log(
                f"consent: robots={self.policies['robots']} but no robots index; "
                "consent_robots is `not_checked` (pass --robots with the crawl's robots.txt WARC files)"
            )
        return self._robots

    def _count(self, **signals: bool) -> None:
        for name, seen in signals.items():
            if seen:
                self.stat_update(f"signal_{name}")
