"""Consent block: every opt-out signal, from WARC files through the real reader, index and filter."""

from __future__ import annotations

import copy
import glob
import io
import json
import random
import sqlite3
import zlib

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from thresher.filters.consent import ConsentFilter, head_meta_tags
from thresher.filters.consent.robots import DEFAULT_AI_AGENTS, RobotsIndex, host_key
from thresher.pipeline.read.robots import build_robots_index
from thresher.pipeline.read.warc import WarcReader
from thresher.pipeline.run import presets as config
from thresher.pipeline.write.parquet import ParquetShardWriter

DAY = "2024-02-20T12:00:00Z"
ALL_AGENTS = list(DEFAULT_AI_AGENTS)

# (url, status, extra headers, body, WARC-Date) of the crawl's robots.txt subset
ROBOTS = [
    ("http://allowall.test/robots.txt", 200, [], b"User-agent: *\nAllow: /\n", DAY),
    ("https://gpt.test/robots.txt", 200, [], b"User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n", DAY),
    (
        "https://wild.test/robots.txt",
        200,
        [],
        b"User-agent: CCBot\nDisallow: /*.pdf$\nDisallow: /private*/secret\n",
        DAY,
    ),
    (
        "https://override.test/robots.txt",
        200,
        [],
        b"User-agent: ClaudeBot\nUser-agent: anthropic-ai\nDisallow: /news/\nAllow: /news/public/\n",
        DAY,
    ),
    ("https://blanket.test/robots.txt", 200, [], b"User-agent: *\nDisallow: /\n", DAY),
    # malformed: a BOM, invalid UTF-8, NULs, HTML, a missing colon, a misspelling, a 100 kB line, a bad pattern
    (
        "https://malformed.test/robots.txt",
        200,
        [],
        b"\xef\xbb\xbf\xff\xfe\x00\x00garbage\nUser-agent GPTBot\nDisalow: /blocked\n<html><body>oops</body></html>\n"
        + b"Disallow: /"
        + b"A" * 100_000
        + b"\nUser-agent: *\nDisallow: /*[[[(\n",
        DAY,
    ),
    ("https://brokengzip.test/robots.txt", 200, [("Content-Encoding", "gzip")], b"User-agent: *\nDisallow: /\n", DAY),
    ("http://moved.test/robots.txt", 301, [("Location", "https://www.moved.test/robots.txt")], b"", DAY),
    ("https://www.moved.test/robots.txt", 200, [], b"User-agent: GPTBot\nDisallow: /\n", "2024-02-20T12:00:05Z"),
    ("https://err.test/robots.txt", 503, [], b"busy", DAY),
    ("https://missing.test/robots.txt", 404, [], b"<html>not found</html>", DAY),
    ("https://changed.test/robots.txt", 200, [], b"User-agent: *\nAllow: /\n", "2024-02-10T00:00:00Z"),
    ("https://changed.test/robots.txt", 200, [], b"User-agent: PerplexityBot\nDisallow: /\n", "2024-02-25T00:00:00Z"),
    ("https://gpt.test/not-robots.txt", 200, [], b"User-agent: *\nDisallow: /\n", DAY),  # not a robots.txt
]


CAPTURED_HOSTS = {host_key(u) for u, _, _, _, _ in ROBOTS}


def page(url: str, headers=(), head: str = "", body: str = "<p>Hello.</p>", date: str = DAY) -> tuple:
    html = f"<!DOCTYPE html><html><head><title>t</title>{head}</head><body>{body}</body></html>"
    return url, [("Content-Type", "text/html; charset=utf-8"), *headers], html.encode(), date


PAGES = [
    page("https://allowall.test/"),
    page("https://gpt.test/article"),
    page("https://wild.test/files/report.pdf"),
    page("https://wild.test/files/report.pdf?page=2"),
    page("https://wild.test/private-area/secret/x"),
    page("https://override.test/news/public/a"),
    page("https://override.test/news/b"),
    page("https://blanket.test/"),
    page("https://nocapture.test/"),
    page("https://malformed.test/blocked/p"),
    page("https://malformed.test/ok"),
    page("https://brokengzip.test/"),
    page("https://moved.test/x"),
    page("https://err.test/"),
    page("https://missing.test/"),
    page("https://changed.test/early", date="2024-02-20T00:00:00Z"),
    page("https://changed.test/late", date="2024-02-28T00:00:00Z"),
    page("https://hdr-noai.test/", headers=[("X-Robots-Tag", "noai")]),
    page(
        "https://hdr-agent.test/",
        headers=[("X-Robots-Tag", "GPTBot: noindex, nofollow"), ("X-Robots-Tag", "googlebot: noai")],
    ),
    page("https://hdr-img.test/", headers=[("x-robots-tag", "noimageai")]),
    page("https://hdr-tdm.test/", headers=[("tdm-reservation", "1"), ("TDM-Policy", "https://hdr-tdm.test/p.json")]),
    page("https://tdm0.test/", headers=[("tdm-reservation", "0")], head='<meta name="tdm-reservation" content="1">'),
    page("https://tdmbad.test/", headers=[("tdm-reservation", "yes")]),
    page("https://meta.test/", head='<META NAME="Robots" CONTENT="noindex, NoAI">'),
    page("https://meta-agent.test/", head="<meta content='noindex' name='CCBot'>"),
    page("https://meta-equiv.test/", head='<meta http-equiv="X-Robots-Tag" content="noimageai">'),
    page(
        "https://meta-tdm.test/",
        head='<meta name="tdm-reservation" content="1">'
        '<meta name="tdm-policy" content="https://meta-tdm.test/p?a=1&amp;b=2">',
    ),
    page(
        "https://hidden.test/",
        head='<!-- <meta name="robots" content="noai"> --><meta name="robots" '
        'content="noindex"><script>var s = "<meta name=robots content=noai>";</script>',
        body='<meta name="robots" content="noai"><meta name="tdm-reservation" content="1">',
    ),
    page("https://blog.optout.test/"),
    page("https://notoptout.test/"),
    page("https://gpt.test/both", headers=[("X-Robots-Tag", "noai")]),
]

NOTHING = {
    "consent_noai": False,
    "consent_noimageai": False,
    "consent_robots_tags": [],
    "consent_tdm_reservation": None,
    "consent_tdm_policy": None,
    "consent_opt_out_domain": False,
}
# url -> columns that differ from NOTHING, and the robots verdict (status, disallowed agents)
EXPECTED: dict[str, tuple[dict, str, list[str]]] = {
    "https://allowall.test/": ({}, "allowed", []),
    "https://gpt.test/article": ({}, "disallowed", ["GPTBot"]),
    "https://wild.test/files/report.pdf": ({}, "disallowed", ["CCBot"]),  # `$` anchors the end
    "https://wild.test/files/report.pdf?page=2": ({}, "allowed", []),
    "https://wild.test/private-area/secret/x": ({}, "disallowed", ["CCBot"]),  # `*` inside a path
    "https://override.test/news/public/a": ({}, "allowed", []),  # longer Allow beats Disallow
    "https://override.test/news/b": ({}, "disallowed", ["ClaudeBot", "anthropic-ai"]),
    "https://blanket.test/": ({}, "disallowed", ALL_AGENTS + ["*"]),  # `*` marks a blanket disallow
    "https://nocapture.test/": ({}, "unknown", []),
    "https://malformed.test/blocked/p": ({}, "disallowed", ["GPTBot"]),  # tolerant parse of the salvageable
    "https://malformed.test/ok": ({}, "allowed", []),
    "https://brokengzip.test/": ({}, "disallowed", ALL_AGENTS + ["*"]),  # not gzip after all: read as is
    "https://moved.test/x": ({}, "disallowed", ["GPTBot"]),  # 301 followed to www.moved.test
    "https://err.test/": ({}, "unknown", []),  # 5xx: nothing known
    "https://missing.test/": ({}, "allowed", []),  # 4xx: no robots.txt, no restriction (RFC 9309)
    "https://changed.test/early": ({}, "allowed", []),  # capture nearest before the page
    "https://changed.test/late": ({}, "disallowed", ["PerplexityBot"]),
    "https://hdr-noai.test/": ({"consent_noai": True, "consent_robots_tags": ["header:noai"]}, "unknown", []),
    "https://hdr-agent.test/": (
        {"consent_noai": True, "consent_robots_tags": ["header:GPTBot:noindex", "header:GPTBot:nofollow"]},
        "unknown",
        [],
    ),
    "https://hdr-img.test/": ({"consent_noimageai": True, "consent_robots_tags": ["header:noimageai"]}, "unknown", []),
    "https://hdr-tdm.test/": (
        {"consent_tdm_reservation": True, "consent_tdm_policy": "https://hdr-tdm.test/p.json"},
        "unknown",
        [],
    ),
    "https://tdm0.test/": ({"consent_tdm_reservation": False}, "unknown", []),  # header beats meta
    "https://tdmbad.test/": ({}, "unknown", []),  # not 0/1: a protocol error, counts as unset
    "https://meta.test/": ({"consent_noai": True, "consent_robots_tags": ["meta:noai"]}, "unknown", []),
    "https://meta-agent.test/": ({"consent_noai": True, "consent_robots_tags": ["meta:CCBot:noindex"]}, "unknown", []),
    "https://meta-equiv.test/": ({"consent_noimageai": True, "consent_robots_tags": ["meta:noimageai"]}, "unknown", []),
    "https://meta-tdm.test/": (
        {"consent_tdm_reservation": True, "consent_tdm_policy": "https://meta-tdm.test/p?a=1&b=2"},
        "unknown",
        [],
    ),
    "https://hidden.test/": ({}, "unknown", []),  # comments, scripts and <body> are not read
    "https://blog.optout.test/": ({"consent_opt_out_domain": True}, "unknown", []),
    "https://notoptout.test/": ({}, "unknown", []),
    "https://gpt.test/both": ({"consent_noai": True, "consent_robots_tags": ["header:noai"]}, "disallowed", ["GPTBot"]),
}
# fate under the thresher policy (drop every explicit opt-out); the reason names the first signal
DROPPED = {
    "https://gpt.test/article": "robots_disallow",
    "https://wild.test/files/report.pdf": "robots_disallow",
    "https://wild.test/private-area/secret/x": "robots_disallow",
    "https://override.test/news/b": "robots_disallow",
    "https://blanket.test/": "robots_disallow",
    "https://malformed.test/blocked/p": "robots_disallow",
    "https://brokengzip.test/": "robots_disallow",
    "https://moved.test/x": "robots_disallow",
    "https://changed.test/late": "robots_disallow",
    "https://hdr-noai.test/": "noai",
    "https://hdr-agent.test/": "noai",
    "https://meta.test/": "noai",
    "https://meta-agent.test/": "noai",
    "https://hdr-tdm.test/": "tdm_reservation",
    "https://meta-tdm.test/": "tdm_reservation",
    "https://blog.optout.test/": "opt_out_domain",
    "https://gpt.test/both": "robots_disallow",
}
DROP_ALL = {"robots": "drop", "noai": "drop", "tdm": "drop", "opt_out_domains": "drop"}


def write_warc(path, records, warcinfo: bool = True) -> None:
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        if warcinfo:
            writer.write_record(writer.create_warcinfo_record("x.warc.gz", {"isPartOf": "CC-MAIN-TEST"}))
        for url, status, headers, body, date in records:
            reason = {200: "OK", 301: "Moved", 404: "Not Found", 503: "Unavailable"}[status]
            http = StatusAndHeaders(f"{status} {reason}", list(headers), protocol="HTTP/1.1")
            rec = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict={"WARC-Date": date}
            )
            writer.write_record(rec)


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    """pages.warc.gz, the robots.txt subset (plus a damaged file), the built index and a domains file."""
    root = tmp_path_factory.mktemp("consent")
    pages = root / "pages.warc.gz"
    write_warc(pages, [(u, 200, h, b, d) for u, h, b, d in PAGES])
    write_warc(root / "robots-00.warc.gz", ROBOTS)
    write_warc(root / "robots-01.warc.gz", ROBOTS)
    damaged = bytearray((root / "robots-01.warc.gz").read_bytes())
    for i in range(len(damaged) // 2, len(damaged) // 2 + 100):  # bit rot half-way through
        damaged[i] ^= 0x5A
    (root / "robots-01.warc.gz").write_bytes(bytes(damaged))
    index = root / "robots.sqlite"
    counts = build_robots_index([str(root / "robots-*.warc.gz")], str(index))
    domains = root / "opted-out.txt"
    domains.write_text("# domains whose owners asked to be left out\noptout.test\n\nEXAMPLE.org.  # trailing dot\n")
    return {"pages": str(pages), "index": str(index), "counts": counts, "domains": str(domains), "root": root}


def read_docs(crawl) -> list:
    return list(WarcReader([crawl["pages"]]).run())


def run_filter(step: ConsentFilter, docs) -> tuple[dict, dict, dict]:
    """(url -> kept doc metadata, url -> drop reason, stats) of one run of the real step."""
    kept = {d.metadata["url"]: d.metadata for d in step.run(copy.deepcopy(docs))}
    stats = {k: v.total for k, v in step.stats.stats.items()}
    dropped = {k.removeprefix("dropped_"): v for k, v in stats.items() if k.startswith("dropped_")}
    return kept, dropped, stats


def test_build_index_counts_and_storage(crawl):
    counts = crawl["counts"]
    assert counts["files"] == 2 and counts["damaged_files"] == 1
    assert len(ROBOTS) - 1 < counts["robots_records"] < 2 * (len(ROBOTS) - 1)  # read up to the damage
    hosts = {h for (h,) in sqlite3.connect(crawl["index"]).execute("SELECT host FROM robots")}
    assert counts["hosts"] == len(hosts) == 12  # not-robots.txt is skipped; changed.test has two captures
    assert "nocapture.test" not in hosts and "www.moved.test" in hosts
    con = sqlite3.connect(crawl["index"])
    (body,) = con.execute("SELECT body FROM robots WHERE host = 'gpt.test'").fetchone()
    assert zlib.decompress(body).startswith(b"User-agent: GPTBot")
    assert con.execute("SELECT status, body FROM robots WHERE host = 'moved.test'").fetchone()[0] == 301


def test_annotate_records_every_signal(crawl):
    docs = read_docs(crawl)
    assert len(docs) == len(PAGES)
    step = ConsentFilter(robots_index=crawl["index"], opt_out_domains_file=crawl["domains"])
    kept, dropped, stats = run_filter(step, docs)
    assert not dropped and set(kept) == set(EXPECTED)
    for url, (changes, robots, agents) in EXPECTED.items():
        meta = kept[url]
        got = {k: meta[k] for k in NOTHING}
        assert got == {**NOTHING, **changes}, url
        assert (meta["consent_robots"], meta["consent_robots_agents"]) == (robots, agents), url
        assert (meta["consent_robots_captured"] is None) == (host_key(url) not in CAPTURED_HOSTS), url
    assert kept["https://changed.test/late"]["consent_robots_captured"] == "2024-02-25T00:00:00"
    assert kept["https://moved.test/x"]["consent_robots_captured"] == "2024-02-20T12:00:05"
    assert stats["signal_noai"] == 5 and stats["signal_noimageai"] == 2
    assert stats["signal_tdm_reservation"] == 2 and stats["signal_tdm_policy"] == 2
    assert stats["signal_tdm_malformed"] == 1 and stats["signal_opt_out_domain"] == 1
    assert stats["robots_disallowed"] == sum(1 for _, r, _ in EXPECTED.values() if r == "disallowed")
    assert stats["robots_disallowed_GPTBot"] == sum(1 for _, _, a in EXPECTED.values() if "GPTBot" in a) == 6
    assert stats["robots_unknown"] == sum(1 for _, r, _ in EXPECTED.values() if r == "unknown")


def test_drop_policy_drops_each_opt_out_with_its_reason(crawl):
    step = ConsentFilter(**DROP_ALL, robots_index=crawl["index"], opt_out_domains_file=crawl["domains"])
    kept, dropped, stats = run_filter(step, read_docs(crawl))
    assert set(kept) == set(EXPECTED) - set(DROPPED)
    reasons: dict[str, int] = {}
    for reason in DROPPED.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    assert dropped == reasons
    # noimageai, tdm-reservation 0, unknown robots and non-AI directives never drop a document
    for url in ("https://hdr-img.test/", "https://tdm0.test/", "https://nocapture.test/", "https://err.test/"):
        assert url in kept


def test_policies_per_signal_and_ignore(crawl):
    docs = read_docs(crawl)
    only_noai = ConsentFilter(noai="drop", robots_index=crawl["index"])
    kept, dropped, _ = run_filter(only_noai, docs)
    assert dropped == {"noai": 5}  # gpt.test/both too: its robots disallow is only annotated here
    assert "https://gpt.test/article" in kept and kept["https://gpt.test/article"]["consent_robots"] == "disallowed"
    assert kept["https://blog.optout.test/"]["consent_opt_out_domain"] is None  # no file given

    ignore = ConsentFilter(
        robots="ignore",
        noai="ignore",
        tdm="ignore",
        opt_out_domains="ignore",
        robots_index=crawl["index"],
        opt_out_domains_file=crawl["domains"],
    )
    kept, dropped, stats = run_filter(ignore, docs)
    assert not dropped and len(kept) == len(PAGES)
    for meta in kept.values():
        assert meta["consent_robots"] == "not_checked"
        assert meta["consent_noai"] is meta["consent_tdm_reservation"] is meta["consent_opt_out_domain"] is None
    assert not any(k.startswith("signal_") for k in stats)


def test_robots_drop_without_index_keeps_and_says_not_checked(crawl):
    kept, dropped, stats = run_filter(ConsentFilter(robots="drop"), read_docs(crawl))
    assert not dropped.get("robots_disallow")
    assert {m["consent_robots"] for m in kept.values()} == {"not_checked"}
    assert stats["robots_not_checked"] == len(PAGES)


def test_custom_agents(crawl):
    step = ConsentFilter(agents=["PerplexityBot"], robots_index=crawl["index"])
    kept, _, _ = run_filter(step, read_docs(crawl))
    assert kept["https://gpt.test/article"]["consent_robots"] == "allowed"
    assert kept["https://blanket.test/"]["consent_robots_agents"] == ["PerplexityBot", "*"]
    assert kept["https://meta-agent.test/"]["consent_noai"] is False  # CCBot is not tracked now


def test_bad_policy_and_missing_files_fail_early(tmp_path):
    with pytest.raises(ValueError, match="noai='block'"):
        ConsentFilter(noai="block")
    with pytest.raises(FileNotFoundError):
        ConsentFilter(opt_out_domains_file=str(tmp_path / "none.txt"))
    late = ConsentFilter(robots_index=str(tmp_path / "none.sqlite"))  # may be built after the block
    with pytest.raises(FileNotFoundError, match="build it with --robots"):
        list(late.run([Document(text="<html>", id="x", metadata={"url": "https://a.test/"})]))
    with pytest.raises(FileNotFoundError):
        RobotsIndex(str(tmp_path / "none.sqlite"))


def test_index_lookup_memory_is_bounded(crawl):
    index = RobotsIndex(crawl["index"], cache_hosts=3)
    urls = [u for u, _, _, _ in PAGES]
    for url in urls * 3:
        index.verdict(url, DEFAULT_AI_AGENTS, DAY)
    assert len(index._cache) <= 3
    tiny = RobotsIndex(crawl["index"], cache_bytes=1)  # every entry exceeds it: nothing stays cached
    assert tiny.verdict("https://gpt.test/a", DEFAULT_AI_AGENTS).status == "disallowed"
    assert len(tiny._cache) == 0 and tiny._cached_bytes == 0
    index.close()
    tiny.close()


def test_head_scan_is_bounded():
    head = "<head>" + " " * 70_000 + '<meta name="robots" content="noai"></head>'
    assert head_meta_tags(head, max_chars=65536) == []
    assert head_meta_tags(head, max_chars=80_000) == [("robots", "noai")]
    assert head_meta_tags("<head><!-- unterminated <meta name=robots content=noai>", 1000) == []


def test_inside_datatrove_executor_with_parquet_output(crawl, tmp_path):
    columns = ConsentFilter.output_columns
    consent = ConsentFilter(
        **DROP_ALL,
        robots_index=crawl["index"],
        opt_out_domains_file=crawl["domains"],
        exclusion_writer=ParquetShardWriter(str(tmp_path / "removed"), columns=columns, removed_by="consent"),
    )
    pipeline = [WarcReader([crawl["pages"]]), consent, ParquetShardWriter(str(tmp_path / "data"), columns=columns)]
    LocalPipelineExecutor(pipeline, tasks=1, workers=1, logging_dir=str(tmp_path / "logs")).run()

    kept = pq.read_table(glob.glob(str(tmp_path / "data" / "*.parquet"))).to_pylist()
    removed = pq.read_table(glob.glob(str(tmp_path / "removed" / "*.parquet"))).to_pylist()
    assert {r["url"] for r in kept} == set(EXPECTED) - set(DROPPED)
    assert {r["url"]: r["removed_reason"] for r in removed} == DROPPED
    row = next(r for r in kept if r["url"] == "https://hdr-img.test/")
    assert row["consent_noimageai"] is True and row["consent_robots_tags"] == ["header:noimageai"]
    gone = next(r for r in removed if r["url"] == "https://blanket.test/")
    assert gone["consent_robots_agents"] == ALL_AGENTS + ["*"]

    with open(tmp_path / "logs" / "stats.json") as f:
        steps = json.load(f)
    stats = next(s["stats"] for s in steps if s["name"].endswith(ConsentFilter.name))
    total = {k: (v["total"] if isinstance(v, dict) else v) for k, v in stats.items()}
    assert total["dropped"] == len(DROPPED)
    assert total["dropped_robots_disallow"] == 10 and total["dropped_noai"] == 4
    assert total["dropped_tdm_reservation"] == 2 and total["dropped_opt_out_domain"] == 1
    assert total["signal_noai"] == 5 and total["robots_unknown"] >= 1


def test_recommended_preset_snippets_validate(tmp_path, monkeypatch):
    base = tmp_path / "base.yaml"
    base.write_text(
        "pipeline:\n"
        "  - consent:\n"
        "      robots: annotate\n      noai: annotate\n      tdm: annotate\n      opt_out_domains: annotate\n"
        f"      agents: [{', '.join(DEFAULT_AI_AGENTS)}]\n"
        "      robots_index: null\n      opt_out_domains_file: null\n"
    )
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        "extends: base\noverride:\n  consent:\n"
        "    robots: drop\n    noai: drop\n    tdm: drop\n    opt_out_domains: drop\n"
    )
    annotate = ConsentFilter.from_preset(str(base))
    assert annotate.policies == {
        "robots": "annotate",
        "noai": "annotate",
        "tdm": "annotate",
        "opt_out_domains": "annotate",
    }
    assert ConsentFilter.from_preset(str(strict)).policies == DROP_ALL
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline:\n  - consent:\n      robots: 1\n")
    with pytest.raises(config.ConfigError, match="robots"):
        config.load_preset(str(bad))


def test_random_garbage_robots_never_crash(tmp_path):
    rng = random.Random(7)
    junk = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for _ in range(40)]
    junk += [b"User-agent: GPTBot\nDisallow: " + bytes(rng.randrange(256) for _ in range(60)) for _ in range(10)]
    records = [(f"https://j{i}.test/robots.txt", 200, [], body, DAY) for i, body in enumerate(junk)]
    write_warc(tmp_path / "junk.warc.gz", records)
    counts = build_robots_index([str(tmp_path / "junk.warc.gz")], str(tmp_path / "junk.sqlite"))
    assert counts["hosts"] == len(junk)
    index = RobotsIndex(str(tmp_path / "junk.sqlite"))
    for i in range(len(junk)):
        verdict = index.verdict(f"https://j{i}.test/some/page?q=%ff", DEFAULT_AI_AGENTS, DAY)
        assert verdict.status in ("allowed", "disallowed", "unknown")
    index.close()
