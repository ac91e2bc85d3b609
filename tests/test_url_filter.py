"""The URL block's blocklist: datatrove's integrated UT1 lists, hashed and cached.

Its agreement with datatrove's URLFilter: test_filters_vs_datatrove.py; a URL per drop reason:
test_drop_reasons.py.
"""

from __future__ import annotations

from conftest import blocklist_sample

from thresher.filters.url import integrated_blocklist


def test_integrated_blocklist_holds_datatrove_lists():
    domains, urls = blocklist_sample(2_000)
    blocklist = integrated_blocklist()
    assert all(blocklist.has_domain(d) for d in domains)
    assert all(blocklist.has_url(u) for u in urls)
    assert not blocklist.has_domain("wikipedia.org")
