"""Captures that say they lost packets: tcpdump's "N packets dropped by kernel" pasted with its
text, a pcapng interface statistics block (isb_ifdrop, isb_osdrop). A packet missing at such
a point may be one its capture missed: a loss whose packets are missing only there, no more
of them than the capture dropped, is not a root cause; the diagnosis is inconclusive and
names the capture it needs."""

from __future__ import annotations

import struct
from pathlib import Path

from capkit import _options, block, epb, idb, shb
from nettrail.capture.base import CaptureStats
from nettrail.capture.pcapng import read_pcapng
from nettrail.capture.points import read_points
from nettrail.run import analyze_files

C, S = "198.51.100.1", "198.51.100.2"


def _line(t: float, src: str, sport: int, dst: str, dport: int, flags: str, seq: str,
          ack: int | None = None, length: int = 0) -> str:
    ack_text = f", ack {ack}" if ack is not None else ""
    return (f"10:00:{t:09.6f} IP {src}.{sport} > {dst}.{dport}: Flags [{flags}], seq {seq}"
            f"{ack_text}, win 502, length {length}")


def _texts(tmp: Path, dropped: int | None) -> list[tuple[str, str]]:
    """A data segment sent three times, seen at the client only, while the server's point
    captures the connection before and after it; the server's text ends with tcpdump's
    counts (``dropped`` by kernel), or none."""
    both = [
        (0.0, C, 40000, S, 22, "S", "1000"),
        (0.001, S, 22, C, 40000, "S.", "5000", 1001),
        (0.002, C, 40000, S, 22, ".", "1001", 5001),
    ]
    only_client = [(t, C, 40000, S, 22, "P.", "1001:1101", 5001, 100) for t in (0.1, 0.4, 1.0)]
    later = [(2.0, S, 22, C, 40000, "P.", "5001:5011", 1001, 10)]
    client = [_line(*p) for p in sorted(both + only_client + later)]
    server = [_line(p[0] + 0.0002, *p[1:]) for p in both + later]
    if dropped is not None:
        server += ["^C", "4 packets captured", "7 packets received by filter",
                   f"{dropped} packets dropped by kernel"]
    (tmp / "client.txt").write_text("\n".join(client) + "\n")
    (tmp / "server.txt").write_text("\n".join(server) + "\n")
    return [("client", str(tmp / "client.txt")), ("server", str(tmp / "server.txt"))]


def test_a_loss_where_the_capture_says_it_dropped_nothing_is_the_root_cause(
        tmp_path: Path) -> None:
    run = analyze_files(_texts(tmp_path, 0))
    diagnosis = run.analysis.diagnosis
    assert diagnosis is not None and diagnosis.kinds[0] == "lost-between-points"
    assert run.analysis.points[1].capture_dropped == 0


def test_a_loss_only_at_a_capture_that_dropped_packets_is_inconclusive(
        tmp_path: Path) -> None:
    run = analyze_files(_texts(tmp_path, 3))
    server = run.analysis.points[1]
    assert server.capture_dropped == 3
    assert any("its capture dropped 3 packets" in w for w in server.warnings)
    diagnosis = run.analysis.diagnosis
    assert diagnosis is not None and diagnosis.kinds == ("inconclusive",)
    assert diagnosis.headline == ("inconclusive: packets seem lost between client and server, "
                                  "but server's capture dropped 3 packets itself")
    assert "a capture at server that drops no packets (it dropped 3)" in diagnosis.explanation
    lost = next(f for f in run.analysis.findings if f.kind == "lost-between-points")
    assert not lost.root_cause and lost.details["capture_dropped"] == "3"
    assert "may have missed them" in lost.summary


def test_a_loss_of_more_packets_than_the_capture_dropped_stands(tmp_path: Path) -> None:
    """Three transmissions missing where the capture dropped one: two were lost for
    certain."""
    run = analyze_files(_texts(tmp_path, 1))
    diagnosis = run.analysis.diagnosis
    assert diagnosis is not None and diagnosis.kinds[0] == "lost-between-points"
    lost = next(f for f in run.analysis.findings if f.kind == "lost-between-points")
    assert lost.summary.endswith("(server's capture dropped 1 packet, fewer than the 3 missing)")


def test_pcapng_interface_statistics_give_the_drops(tmp_path: Path) -> None:
    """The last statistics block of each interface holds its totals: interface and OS drops
    added, interfaces added."""
    def isb(iface: int, ifdrop: int, osdrop: int) -> bytes:
        opts = [(5, struct.pack("<Q", ifdrop)), (7, struct.pack("<Q", osdrop))]
        return block(5, struct.pack("<III", iface, 0, 0) + _options("<", opts))

    path = tmp_path / "a.pcapng"
    path.write_bytes(shb() + idb(name="eth0") + idb(name="eth1") + epb(bytes(60), 1)
                     + isb(0, 1, 0) + isb(1, 0, 4) + isb(0, 2, 1))
    stats = CaptureStats(path=str(path), point="p")
    list(read_pcapng(str(path), "p", stats))
    assert stats.dropped == 2 + 1 + 4
    (point,), _errors = read_points([("p", str(path))])
    assert point.summary.capture_dropped == 7
