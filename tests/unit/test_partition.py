"""A point's table past its memory budget: rows spilled to partition files by connection key,
analysed one partition at a time and merged, give the same analysis as the whole table, to
the last evidence line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_table_equivalence import CAPTURES, ROOT, T0, unusual_frames

import capkit as ck
from nettrail import run
from nettrail.capture import partition, points
from nettrail.capture.partition import Budget, SpillTable, key_hash, partition_of
from nettrail.model.table import empty_columns
from nettrail.report.json import to_dict
from nettrail.run import analyze_files

TINY = (Budget(1, 1), Budget(10, 7), Budget(200, 60))
"""Budgets far below the test captures: several partitions, split again on reading."""

FIXTURE_TEXT = sorted((ROOT / "tests" / "fixtures" / "crosspoint").glob("*-host1.txt"))


def as_json(path: Path, budget: Budget | None) -> tuple[Any, list[str]]:
    """(analysis JSON, faults) of one file as a single point."""
    run = analyze_files([("p", str(path))], budget=budget)
    return json.loads(json.dumps(to_dict(run.analysis))), [str(e) for e in run.errors]


def counted_parts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows of every partition given for analysis (filled as runs go), each partition
    counted once however often it is read (the tracker, the host findings)."""
    sizes: list[int] = []
    seen: set[str] = set()
    real = SpillTable.load

    def spy(self: SpillTable, part: partition.PartFile) -> Any:
        rows = real(self, part)
        if part.path not in seen:
            seen.add(part.path)
            sizes.append(len(rows))
        return rows

    monkeypatch.setattr(SpillTable, "load", spy)
    return sizes


def check_same(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """Assert every tiny budget gives the whole table's analysis and leaves no file behind;
    the partition sizes of the last one."""
    whole = as_json(path, None)
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir(exist_ok=True)
    monkeypatch.setattr(tempfile, "tempdir", str(spill_dir))
    for budget in TINY:
        sizes = counted_parts(monkeypatch)
        assert as_json(path, budget) == whole, budget
        assert os.listdir(spill_dir) == []
    return sizes


@pytest.mark.parametrize("path", CAPTURES + FIXTURE_TEXT,
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_captures_same_analysis(path: Path, monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    check_same(path, monkeypatch, tmp_path)
    sizes = counted_parts(monkeypatch)
    as_json(path, TINY[0])
    rows = len(points.read_points([("p", str(path))])[0][0].table)
    assert sum(sizes) == (rows if rows > TINY[0].memory_rows else 0), (
        "the rows did not all go to partitions: the budget was not kept")


@pytest.mark.parametrize("mix", ["web", "short"])
def test_generated_capture_same_analysis(mix: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of connections (the tracker's housekeeping runs many times over)."""
    out = tmp_path / "gen.pcap"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_capture.py"), str(out),
                    "--packets", "8000", "--seed", "3", "--mix", mix], check=True)
    sizes = check_same(out, monkeypatch, tmp_path)
    assert len(sizes) > 20 and sum(sizes) == 8000
    analysis, _errors = as_json(out, None)
    assert len(analysis["connections"]) > 300
    assert "refused" in {f["kind"] for f in analysis["findings"]}


@pytest.mark.parametrize("flags", [[], ["-e", "-v"]], ids=["plain", "e-v"])
def test_generated_text_spills_with_the_same_records(flags: list[str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """tcpdump's text of thousands of short connections goes to partitions like a capture
    (it once stayed whole in memory, however large), and each partition rebuilds every row's
    record as the whole table does (what the line printed: a SYN's seq without its ack, the
    TS echo, the other options, relative numbers)."""
    pcap, text = tmp_path / "gen.pcap", tmp_path / "gen.txt"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_capture.py"), str(pcap),
                    "--packets", "8000", "--seed", "3", "--mix", "short"], check=True)
    with open(text, "wb") as out:
        subprocess.run(["tcpdump", "-n", *flags, "-r", str(pcap)], stdout=out,
                       stderr=subprocess.DEVNULL, check=True)
    sizes = check_same(text, monkeypatch, tmp_path)
    assert len(sizes) > 20 and sum(sizes) == 8000
    whole = list(points.read_points([("p", str(text))])[0][0].table.records())
    [spilled], _ = points.read_points([("p", str(text))], budget=Budget(500, 300))
    assert isinstance(spilled.table, SpillTable) and spilled.table.spilled
    seen = 0
    for part in spilled.table.partitions():
        rows = spilled.table.load(part)
        for origin, rec in zip(rows.origin.tolist(), rows.records(), strict=True):
            assert rec == whole[origin], origin
            seen += 1
    assert seen == len(whole) == 8000
    assert any(r.headers.l4.options.mss for r in whole if r.headers.l4 is not None)


def test_unusual_frames_same_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows that keep their records (tunnels, IPv6 extension headers, ARP, a cut frame)."""
    path = tmp_path / "unusual.pcap"
    path.write_bytes(ck.pcap(unusual_frames()))
    check_same(path, monkeypatch, tmp_path)


def test_fault_partway_same_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [(T0 + i * 1000, ck.eth(ck.ipv4("198.51.100.2", "203.0.113.10", 6,
                                            ck.tcp(40000 + i % 7, 22, 0x10, 100 + i))))
              for i in range(50)]
    path = tmp_path / "cut.pcap"
    path.write_bytes(ck.pcap(frames)[:-30])
    check_same(path, monkeypatch, tmp_path)
    analysis, errors = as_json(path, Budget(5, 3))
    assert analysis["points"][0]["packets"] == 49
    assert len(errors) == 1


def _late_capture() -> list[tuple[int, bytes]]:
    """300 connections opened 1 ms apart, each closed at once; the first one's data is sent
    again 2 s later, after its close: a late packet, whose evidence depends on the
    housekeeping the other connections' openings time."""
    frames = []
    c = "198.51.100.2"
    for i in range(300):
        s, port, t = f"203.0.113.{10 + i % 50}", 30000 + i, T0 + i * 1_000_000
        for dt, src, dst, sp, dp, flags, seq, ack, data in (
                (0, c, s, port, 80, 0x02, 100, 0, b""),
                (10_000, s, c, 80, port, 0x12, 500, 101, b""),
                (20_000, c, s, port, 80, 0x10, 101, 501, b""),
                (30_000, c, s, port, 80, 0x18, 101, 501, b"x" * 20),
                (40_000, s, c, 80, port, 0x11, 501, 121, b""),
                (50_000, c, s, port, 80, 0x11, 121, 502, b""),
                (60_000, s, c, 80, port, 0x10, 502, 122, b"")):
            frames.append((t + dt, ck.eth(ck.ipv4(src, dst, 6,
                                                  ck.tcp(sp, dp, flags, seq, ack, payload=data)))))
    late = ck.eth(ck.ipv4(c, "203.0.113.10", 6, ck.tcp(30000, 80, 0x18, 101, 501,
                                                       payload=b"x" * 20)))
    frames.append((T0 + 2_000_000_000, late))
    return frames


def test_late_packet_tracked_again_with_every_start(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = _late_file(tmp_path)
    calls = []
    real = run.tracked

    def spy(table: Any, ticks: Any = None, numbers: Any = None) -> Any:
        result = real(table, ticks, numbers)
        calls.append((ticks is not None and len(ticks[0]), result.late))
        return result

    monkeypatch.setattr(run, "tracked", spy)
    check_same(path, monkeypatch, tmp_path)
    again = [n for n, _late in calls if n]
    assert len(again) == len(TINY)  # once per budget: the partition of the late packet
    assert all(n >= 280 for n in again)  # told where the other partitions' connections began
    analysis, _errors = as_json(path, None)
    retx = [f for f in analysis["findings"] if f["kind"] == "retransmission"]
    assert len(retx) == 1  # housekeeping slimmed the closed connection before it came:
    assert retx[0]["evidence"][0]["note"] == "sequence space sent again"  # (no earlier one)


def test_key_hash_same_both_ways() -> None:
    rng = np.random.default_rng(5)
    cols = empty_columns(1000)
    for name, top in (("src", 1 << 32), ("dst", 1 << 32), ("sport", 1 << 16),
                      ("dport", 1 << 16), ("family", 7)):
        cols[name][:] = rng.integers(0, top, 1000)
    back = dict(cols, src=cols["dst"], dst=cols["src"], sport=cols["dport"],
                dport=cols["sport"])
    assert (key_hash(cols) == key_hash(back)).all()
    part = partition_of(key_hash(cols), 7, 0)
    assert set(part.tolist()) == set(range(7))
    assert (partition_of(key_hash(back), 7, 0) == part).all()


def test_within_budget_nothing_spilled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    pts, _errors = points.read_points([("p", str(CAPTURES[0]))], budget=Budget())
    table = pts[0].table
    assert isinstance(table, SpillTable) and not table.spilled
    assert table.partitions() == []
    assert len(table) < partition.MEMORY_ROWS
    assert os.listdir(tmp_path) == []


def test_several_files_of_one_point_same_analysis(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows of later files continue the row numbers of the earlier ones; a text among them
    (its rows rebuilt by their own reader's builder, a partition's batch per run of rows of
    one builder)."""
    out = tmp_path / "gen.pcap"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_capture.py"), str(out),
                    "--packets", "3000", "--seed", "4"], check=True)
    pairs = [("p", str(out)), ("p", str(CAPTURES[0])), ("p", str(FIXTURE_TEXT[0])),
             ("p", str(_late_file(tmp_path))), ("p", str(FIXTURE_TEXT[-1]))]

    def analysis(budget: Budget | None) -> Any:
        return json.loads(json.dumps(to_dict(analyze_files(pairs, budget=budget).analysis)))

    whole = analysis(None)
    sizes = counted_parts(monkeypatch)
    for budget in TINY:
        assert analysis(budget) == whole, budget
    assert len(sizes) > 10


def _late_file(tmp_path: Path) -> Path:
    path = tmp_path / "late.pcap"
    path.write_bytes(ck.pcap(_late_capture()))
    return path


def test_one_way_capture_judged_over_every_partition(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture of what the clients sent only, spilled: the partitions together judge it
    one-way as the whole table does (each connection lies in one partition only)."""
    frames = []
    for n in range(12):  # clients acknowledging data the capture does not show
        port, t = 40000 + n, T0 + n * 10_000_000
        frames += [(t, ck.eth(ck.ipv4("198.51.100.2", "203.0.113.10", 6,
                                      ck.tcp(port, 80, 0x02, seq=1000)))),
                   (t + 1_000_000, ck.eth(ck.ipv4("198.51.100.2", "203.0.113.10", 6,
                                                  ck.tcp(port, 80, 0x10, seq=1001, ack=5001))))]
    frames.append((T0 + 500_000_000, ck.eth(ck.ipv4("198.51.100.2", "203.0.113.11", 6,
                                                    ck.tcp(41000, 80, 0x02, seq=1000)))))
    path = tmp_path / "oneway.pcap"
    path.write_bytes(ck.pcap(frames))
    check_same(path, monkeypatch, tmp_path)
    findings = as_json(path, TINY[0])[0]["findings"]
    assert [f["kind"] for f in findings][:1] == ["one-way-capture"]
    assert [f["severity"] for f in findings if f["kind"] == "syn-unanswered"] == ["warning"]
