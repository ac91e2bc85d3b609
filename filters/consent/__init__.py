"""Consent signals per document: AI opt-outs in robots.txt, X-Robots-Tag, meta robots and TDMRep.

Every signal is recorded as a column; each can be ignored, annotated or enforced (drop) on its own.
The block reads the HTTP headers and the HTML <head>, so it runs before `extract`.
"""

from __future__ import annotations

import os
from typing import Literal

import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.logging import logger

from ..base import Block, register
from .robots import DEFAULT_AI_AGENTS, NOT_CHECKED, RobotsIndex, host_key
from .signals import OptOutDomains, RobotsTags, TdmRep, head_meta_tags

POLICIES = ("ignore", "annotate", "drop")
Policy = Literal["ignore", "annotate", "drop"]


@register("consent")
class ConsentFilter(BaseFilter, Block):
    """Records every AI opt-out signal of a document as columns, and drops on the ones set to `drop`.

    Policies (`ignore` | `annotate` | `drop`), one per signal: `robots` (an AI agent disallowed by
    the host's robots.txt captured in the same crawl; needs `robots_index`), `noai` (`noai`, or
    `noindex`/`none` addressed to an AI agent, in X-Robots-Tag or meta robots), `tdm` (TDMRep
    `tdm-reservation: 1`) and `opt_out_domains` (host listed in `opt_out_domains_file`). `noimageai`
    and `tdm-policy` are recorded with `noai`/`tdm` but never drop a text document on their own.
    """

    name = "🤝 Consent"
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
    drop_reasons = {
        "opt_out_domain": "the host is listed in opt_out_domains_file (opt_out_domains: drop)",
        "robots_disallow": "robots.txt disallows an AI agent at this URL (robots: drop)",
        "noai": "noai, or noindex/none addressed to an AI agent (noai: drop)",
        "tdm_reservation": "tdm-reservation: 1 (tdm: drop)",
    }

    def __init__(
        self,
        robots: Policy = "annotate",
        noai: Policy = "annotate",
        tdm: Policy = "annotate",
        opt_out_domains: Policy = "annotate",
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
            meta.update(consent_noai=tags.noai, consent_noimageai=tags.noimageai, consent_robots_tags=tags.tags)
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
