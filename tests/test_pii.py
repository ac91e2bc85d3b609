"""PII: e-mail addresses and public IPv4 addresses are replaced, private and reserved ones kept.

The same output as datatrove's PIIFormatter on real pages: test_filters_vs_datatrove.py.
"""

from __future__ import annotations

from datatrove.data import Document

from thresher.filters.presets import block_params
from thresher.pipeline.format.pii import PIIFormatter, is_public_ip


def test_pii_replaces_public_addresses_only():
    params = block_params("fineweb", "pii")
    text = (
        "Write to maria.gonzalez@universidad-ejemplo.es or press@acme-corp.co.uk for details. "
        "The mirror at 151.101.1.69 answered, as did 8.8.8.8; the router 192.168.0.2, "
        "loopback 127.0.0.1, LAN host 10.1.2.3 and 172.16.5.4 are private."
    )
    doc = Document(text=text, id="pii")
    [out] = list(PIIFormatter.from_preset().run([doc]))
    assert "maria.gonzalez@" not in out.text and "press@acme" not in out.text
    assert out.text.count(params["email_replacement"]) == 2
    assert "151.101.1.69" not in out.text and "8.8.8.8" not in out.text
    assert out.text.count(params["ip_replacement"]) == 2
    for private in ("192.168.0.2", "127.0.0.1", "10.1.2.3", "172.16.5.4"):
        assert private in out.text


def test_only_globally_routable_addresses_are_pii():
    for public in ("8.8.8.8", "151.101.1.69", "1.1.1.1"):
        assert is_public_ip(public), public
    # private, loopback, link-local, shared (CGNAT), documentation and reserved ranges (multicast counts
    # as global for Python's ipaddress, as in datatrove's formatter)
    for other in (
        "192.168.0.2",
        "10.1.2.3",
        "172.16.5.4",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "192.0.2.7",
        "240.0.0.1",
        "0.0.0.0",
    ):
        assert not is_public_ip(other), other
    for not_an_address in ("999.1.1.1", "1.2.3", "", "example.org"):
        assert not is_public_ip(not_an_address), not_an_address
