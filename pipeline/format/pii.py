"""Replace e-mail addresses and public IP addresses, as datatrove 0.10.1's PIIFormatter does."""

from __future__ import annotations

import ipaddress
import re

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from ...filters.base import Block, register

EMAIL_REGEX = re.compile(
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:["
    r"A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|["
    r"01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])"
)
IP_REGEX = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)")


def is_public_ip(text: str) -> bool:
    """True for globally routable addresses; private, loopback and reserved ones are not PII."""
    try:
        return ipaddress.ip_address(text).is_global
    except ValueError:
        return False


class Replacer:
    """Replaces regex matches (that pass `valid`) with the replacements, used in turn."""

    def __init__(self, pattern: re.Pattern, replacements: list[str] | str, valid=None):
        self.pattern = pattern
        self.replacements = [replacements] if isinstance(replacements, str) else list(replacements)
        self.valid = valid
        self._next = 0

    def replace(self, text: str) -> tuple[str, int]:
        count = 0

        def substitute(match: re.Match) -> str:
            nonlocal count
            if self.valid is not None and not self.valid(match.group(0)):
                return match.group(0)
            count += 1
            out = self.replacements[self._next]
            self._next = (self._next + 1) % len(self.replacements)
            return out

        return self.pattern.sub(substitute, text), count


@register("pii")
class PIIFormatter(PipelineStep, Block):
    """Replaces e-mail addresses and public IPv4 addresses in `doc.text`; counts them in the stats."""

    name = "📞 PII"
    type = "✂️ - FORMAT"

    def __init__(self, email_replacement: str | list[str], ip_replacement: str | list[str], exclusion_writer=None):
        super().__init__()
        self.emails = Replacer(EMAIL_REGEX, email_replacement)
        self.ips = Replacer(IP_REGEX, ip_replacement, valid=is_public_ip)

    def format(self, text: str) -> tuple[str, int, int]:
        text, n_emails = self.emails.replace(text) if "@" in text else (text, 0)
        text, n_ips = self.ips.replace(text) if "." in text else (text, 0)
        return text, n_emails, n_ips

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update("total")
            with self.track_time():
                doc.text, n_emails, n_ips = self.format(doc.text)
            if n_emails:
                self.stat_update("emails_replaced", value=n_emails)
            if n_ips:
                self.stat_update("ips_replaced", value=n_ips)
            yield doc
