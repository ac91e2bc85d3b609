"""Looking at a run's documents: `thresher show` (a row and its original WARC record) and `thresher sample`."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.pipeline.cli import main as cli


def all_rows(out: Path, columns: list[str] | None = None) -> list[dict]:
    rows = []
    for path in sorted(glob.glob(str(out / "data" / "*.parquet"))) + sorted(
        glob.glob(str(out / "removed" / "*" / "*.parquet"))
    ):
        rows += pq.read_table(path, columns=columns).to_pylist()
    return rows


def kept_rows(out: Path, columns: list[str]) -> list[dict]:
    paths = sorted(glob.glob(str(out / "data" / "*.parquet")))
    return [r for p in paths for r in pq.read_table(p, columns=columns).to_pylist()]


# --- show ----------------------------------------------------------------------------------------


def record_section(output: str) -> dict[str, str]:
    """Header lines of the '== original WARC record' section of `thresher show` output."""
    section = output.split("== original WARC record", 1)[1].split("\n== ", 1)[0]
    return dict(line.split(": ", 1) for line in section.splitlines()[1:] if ": " in line)


def test_show_round_trips_ids_to_their_warc_record(sample_run, capsys):
    out, _ = sample_run
    rows = all_rows(out, ["id", "url", "warc_record_id"])
    removed = [
        r
        for p in sorted(glob.glob(str(out / "removed" / "*" / "*.parquet")))
        for r in pq.read_table(p, columns=["id", "url", "warc_record_id", "removed_by"]).to_pylist()
    ]
    picks = rows[:: max(1, len(rows) // 5)][:5] + removed[:2]
    assert picks
    for row in picks:
        assert cli(["show", str(out), row["id"], "--html-chars", "200"]) == 0
        printed = capsys.readouterr().out
        assert printed.startswith(f"== document {row['id']}")
        rec = record_section(printed)
        assert rec["WARC-Record-ID"] == row["warc_record_id"]
        assert rec["WARC-Target-URI"] == row["url"]
        assert "== HTTP headers" in printed and "== check: record id and URL match the row" in printed
        if row.get("removed_by"):
            assert f"[removed by {row['removed_by']}" in printed
    # the WARC-Record-ID spelling works too, and --json carries the headers
    row = picks[0]
    assert cli(["show", str(out), row["warc_record_id"], "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["row"]["id"] == row["id"]
    assert dict(data["record"]["warc_headers"])["WARC-Record-ID"] == row["warc_record_id"]
    assert data["record"]["html"]
    assert cli(["show", str(out), "no-such-id"]) == 1


def test_show_without_the_warc_file(sample_run, tmp_path, capsys):
    """A run moved away from its WARC files still shows the row, and says the record is not reachable."""
    out, _ = sample_run
    shard = sorted(glob.glob(str(out / "data" / "*.parquet")))[0]
    table = pq.read_table(shard)
    moved = tmp_path / "moved"
    (moved / "data").mkdir(parents=True)
    paths = pa.array([str(tmp_path / "gone.warc.gz")] * table.num_rows)
    table = table.set_column(table.schema.get_field_index("warc_path"), "warc_path", paths)
    pq.write_table(table, moved / "data" / "00000_0000.parquet")
    doc_id = table.column("id")[0].as_py()
    assert cli(["show", str(moved), doc_id]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"== document {doc_id}") and "== original record: not reachable" in printed


# --- sample --------------------------------------------------------------------------------------


def sampled_ids(out: Path, capsys, *args: str) -> list[dict]:
    assert cli(["sample", str(out), "--json", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_sample_is_deterministic_per_seed(sample_run, capsys):
    out, stats = sample_run
    first = [r["id"] for r in sampled_ids(out, capsys, "--n", "5", "--seed", "7")]
    again = [r["id"] for r in sampled_ids(out, capsys, "--n", "5", "--seed", "7")]
    other = [r["id"] for r in sampled_ids(out, capsys, "--n", "5", "--seed", "8")]
    assert first == again and len(first) == min(5, stats["documents"]["kept"])
    assert first != other
    kept_ids = {r["id"] for r in kept_rows(out, ["id"])}
    assert set(first) <= kept_ids
    # the plain output is deterministic too
    assert cli(["sample", str(out), "--n", "3", "--seed", "7"]) == 0
    text1 = capsys.readouterr().out
    assert cli(["sample", str(out), "--n", "3", "--seed", "7"]) == 0
    assert capsys.readouterr().out == text1 and text1.startswith("=== [1/3]")


def test_sample_honours_removed_by(sample_run, capsys):
    out, stats = sample_run
    blocks = [b for b, n in stats["documents"]["removed_by"].items() if n]
    if not blocks:
        pytest.skip("the sample run removed nothing")
    block = blocks[-1]
    docs = sampled_ids(out, capsys, "--removed-by", block, "--n", "50", "--seed", "1")
    assert len(docs) == min(50, stats["documents"]["removed_by"][block])
    assert {d["removed_by"] for d in docs} == {block}
    reason = docs[0]["removed_reason"]
    same = sampled_ids(out, capsys, "--removed-by", block, "--reason", reason, "--seed", "1")
    assert same and {d["removed_reason"] for d in same} == {reason}
    assert cli(["sample", str(out), "--removed-by", "no_such_block"]) == 1
