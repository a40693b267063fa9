"""A pcap tracked in two processes (``analyze.parallel``, each following half of the
connections) gives the same single-point analysis as one process, to the last byte."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_segments_equivalence import T0, C, S, _conversation, unusual_frames

import capkit as ck
from nettrail.analyze import fastpath, parallel, pipeline
from nettrail.analyze.pipeline import analyze_files
from nettrail.capture import open_capture
from nettrail.report.json import to_dict

ROOT = Path(__file__).resolve().parents[2]
PCAPS = sorted((ROOT / "tests" / "fixtures").rglob("*.pcap"))


def both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, bool]:
    """(two-process JSON, one-process JSON, whether two processes were used) of one file;
    the capture faults must read the same."""
    taken = []

    def spy(capture: Any, *, force: bool = False) -> Any:
        done = parallel.track_pcap_parallel(capture, force=force)
        taken.append(done is not None)
        return done

    with monkeypatch.context() as m:
        m.setattr(pipeline, "track_pcap_parallel", spy)
        split = analyze_files([("p", str(path))], split=True)
    one = analyze_files([("p", str(path))], split=False)
    assert [str(e) for e in split.errors] == [str(e) for e in one.errors]
    return (json.dumps(to_dict(split.analysis), sort_keys=True),
            json.dumps(to_dict(one.analysis), sort_keys=True), any(taken))


@pytest.mark.parametrize("path", PCAPS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_pcaps_same_analysis(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    split, one, _taken = both_ways(path, monkeypatch)
    assert split == one


def test_generated_capture_same_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "gen.pcap"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_capture.py"), str(out),
                    "--packets", "20000", "--seed", "5"], check=True)
    split, one, taken = both_ways(out, monkeypatch)
    assert taken
    assert split == one
    analysis = json.loads(split)
    assert analysis["points"][0]["packets"] == 20000
    assert len(analysis["connections"]) > 500
    assert {"refused", "reset", "syn-unanswered"} <= {
        f["kind"] for f in analysis["findings"]}


def test_unusual_frames_same_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """VLAN, IPv6, IP options, odd TCP options, short and non-TCP frames: decoded by either
    process, counted once."""
    path = tmp_path / "unusual.pcap"
    path.write_bytes(ck.pcap(unusual_frames()))
    split, one, taken = both_ways(path, monkeypatch)
    assert taken
    assert split == one
    monkeypatch.setattr(fastpath, "CHUNK", 150)
    again, _one, _taken = both_ways(path, monkeypatch)
    assert again == split


def test_slow_frames_of_both_halves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames the general decoder takes, in connections of either half and either kind of
    frame (plain IPv4, VLAN-tagged): each tracked by the process of its connection."""
    frames = []
    t = T0
    for port in range(40000, 40008):
        def ip(src: str, dst: str, seg: bytes, port: int = port) -> bytes:
            ports = seg[:4].replace((40000).to_bytes(2, "big"), port.to_bytes(2, "big"))
            return ck.ipv4(src, dst, 6, ports + seg[4:])
        for frame in (ck.eth, lambda p: ck.eth(p, vlans=[7])):
            for data in _conversation(ip, C, S, frame):
                t += 1_000_000
                frames.append((t, data))
    path = tmp_path / "halves.pcap"
    path.write_bytes(ck.pcap(frames))
    split, one, taken = both_ways(path, monkeypatch)
    assert taken
    assert split == one
    analysis = json.loads(split)
    assert len(analysis["connections"]) == 8
    assert {fastpath.key_part(bytes(4) + bytes(4) + p.to_bytes(2, "big") + bytes(2))
            for p in range(40000, 40008)} == {0, 1}


def test_truncated_capture_same_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [(T0 + i * 1000, ck.eth(ck.ipv4(C, S, 6, ck.tcp(40000 + i % 7, 22, 0x10, 100 + i))))
              for i in range(50)]
    path = tmp_path / "cut.pcap"
    path.write_bytes(ck.pcap(frames)[:-30])
    split, one, taken = both_ways(path, monkeypatch)
    assert taken
    assert split == one
    analysis = json.loads(split)
    assert analysis["points"][0]["packets"] == 49
    assert len(analysis["connections"]) == 7
    run = analyze_files([("p", str(path))], split=True)
    assert len(run.errors) == 1
    assert "at byte" in str(run.errors[0])


def test_small_file_stays_in_one_process(tmp_path: Path) -> None:
    path = tmp_path / "unusual.pcap"
    path.write_bytes(ck.pcap(unusual_frames()))
    capture = open_capture(str(path), "p")
    assert parallel.track_pcap_parallel(capture) is None


@pytest.mark.parametrize("key", [bytes(range(12)), bytes(range(100, 136))])
def test_key_part_same_both_ways(key: bytes) -> None:
    size = (len(key) - 4) >> 1
    rev = key[size : 2 * size] + key[:size] + key[-2:] + key[-4:-2]
    assert fastpath.key_part(key) == fastpath.key_part(rev)
