"""Captures that say they lost packets: tcpdump's "N packets dropped by kernel" pasted with its
text, a pcapng interface statistics block (isb_ifdrop, isb_osdrop). A packet missing at such
a point may be one its capture missed: a loss whose packets are missing only there, no more
of them than the capture dropped, is not a root cause; the diagnosis is inconclusive and
names the capture it needs."""

from __future__ import annotations

import struct
from pathlib import Path

from capkit import _options, block, epb, idb, shb
from flowkit import Wire
from nettrail.analyze.pipeline import analyze
from nettrail.capture.base import CaptureStats
from nettrail.capture.pcapng import read_pcapng
from nettrail.capture.points import read_points
from nettrail.model.analysis import Analysis, PointSummary
from nettrail.model.packet import ACK, RST, SYN, PacketRecord
from nettrail.model.table import PointData, table_from_records
from nettrail.run import analyze_files

C, S = "198.51.100.1", "198.51.100.2"
C2, S2, OTHER = "198.51.100.1:40000", "198.51.100.2:22", "198.51.100.2:23"
FIP2 = "203.0.113.10:22"


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


def _sent(w: Wire, ttl: int, *args: object, **kw: object) -> None:
    """``w.tcp(*args, **kw)`` with the packet's TTL ``ttl``."""
    w.tcp(*args, **kw)  # type: ignore[arg-type]
    rec = w.records[-1]
    ip = rec.headers.ip
    assert ip is not None
    w.records[-1] = rec._replace(headers=rec.headers._replace(ip=ip._replace(ttl=ttl)))


def _with_drops(points: dict[str, list[PacketRecord]], dropped: dict[str, int]) -> Analysis:
    """``analyze`` of records by point, each point's capture saying it dropped
    ``dropped[point]`` packets (as a text's tcpdump counts or a manifest do)."""
    data = []
    for name, records in points.items():
        table = table_from_records(name, records)
        summary = PointSummary(name=name, files=tuple(sorted(table.files)), formats=(),
                               packets=len(table), capture_dropped=dropped.get(name, 0))
        data.append(PointData(summary, table))
    return analyze(data)


def _reset_before_the_server() -> dict[str, list[PacketRecord]]:
    """A connection through a router (one hop: TTLs fall by one) whose data segment is
    answered by a RST that reached the client's point and was never seen at the server's,
    which went on capturing (a reply of another connection after it)."""
    wires = {p: Wire(p, f"{p}.pcap") for p in ("client", "server")}
    for point, hop, late in (("client", 0, 0.0), ("server", 1, 0.2)):
        w = wires[point]
        _sent(w, 64 - hop, 0.0 + late, C2, S2, SYN, seq=1000, ip_id=100)
        _sent(w, 63 + hop, 1.0 - late, S2, C2, SYN | ACK, seq=5000, ack=1001, ip_id=0)
        _sent(w, 64 - hop, 2.0 + late, C2, S2, ACK, seq=1001, ack=5001, ip_id=101)
        _sent(w, 64 - hop, 3.0 + late, C2, S2, ACK, seq=1001, ack=5001, length=100, ip_id=102)
    _sent(wires["client"], 63, 3.5, S2, C2, RST, seq=5001, ip_id=0)
    _sent(wires["server"], 64, 50.0, OTHER, C2, SYN | ACK, seq=9000, ack=7001, ip_id=0)
    _sent(wires["client"], 63, 50.2, OTHER, C2, SYN | ACK, seq=9000, ack=7001, ip_id=0)
    return {p: w.records for p, w in wires.items()}


def test_a_reset_missing_only_where_the_capture_dropped_packets_is_inconclusive() -> None:
    """The RST's absence at the server's point says a device before the server made it;
    when that point's capture dropped a packet, it may be the RST it missed."""
    sure = _with_drops(_reset_before_the_server(), {})
    assert sure.diagnosis is not None and sure.diagnosis.kinds[0] == "reset-not-from-server"
    rst = next(f for f in sure.findings if f.kind == "reset-not-from-server")
    assert rst.details["missing"] == "server"
    got = _with_drops(_reset_before_the_server(), {"server": 1})
    rst = next(f for f in got.findings if f.kind == "reset-not-from-server")
    assert not rst.root_cause and rst.details["capture_dropped"] == "1"
    assert rst.summary.endswith("; but server's capture dropped 1 packet (its own count), so "
                                "it may have missed it")
    assert got.diagnosis is not None and got.diagnosis.kinds == ("inconclusive",)
    assert got.diagnosis.headline == ("inconclusive: the RST seems not to come from the "
                                      "server, but server's capture dropped 1 packet itself")
    assert "Missing: a capture at server that drops no packets (it dropped 1)." in \
        got.diagnosis.explanation
    other = _with_drops(_reset_before_the_server(), {"client": 4})
    assert other.diagnosis is not None and other.diagnosis.kinds[0] == "reset-not-from-server"


def _reply_not_through_the_translator(two_way: bool = True) -> dict[str, list[PacketRecord]]:
    """The client's SYN DNATed at the router (both forms seen there); the server's SYN-ACK
    reaches the client translated back, never seen at the router, which saw the client's
    next packets before and after it (the router captured on). With ``two_way``, the
    router's capture shows another connection's replies: it captures both directions."""
    wires = {p: Wire(p, f"{p}.pcap") for p in ("client", "router", "server")}
    c, r, s = wires["client"], wires["router"], wires["server"]
    if two_way:
        _sent(r, 64, -5.0, OTHER, C2, SYN | ACK, seq=9000, ack=7001, ip_id=0)
    _sent(c, 64, 0.0, C2, FIP2, SYN, seq=1000, ip_id=100)
    _sent(r, 63, 0.1, C2, FIP2, SYN, seq=1000, ip_id=100, ifname="qg-1")
    _sent(r, 62, 0.11, C2, S2, SYN, seq=1000, ip_id=100, ifname="qr-1")
    _sent(s, 62, 0.3, C2, S2, SYN, seq=1000, ip_id=100)
    _sent(s, 64, 0.5, S2, C2, SYN | ACK, seq=5000, ack=1001, ip_id=0)
    _sent(c, 62, 1.0, FIP2, C2, SYN | ACK, seq=5000, ack=1001, ip_id=0)
    for t, p in ((1.2, c), (1.3, r), (1.5, s)):
        _sent(p, 64 if p is c else 63 if p is r else 62, t, C2, FIP2 if p is not s else S2,
              ACK, seq=1001, ack=5001, ip_id=101, ifname="qg-1" if p is r else None)
    return {p: w.records for p, w in wires.items()}


def test_a_reply_missing_only_where_the_translator_s_capture_dropped_is_inconclusive() -> None:
    sure = _with_drops(_reply_not_through_the_translator(), {})
    assert sure.diagnosis is not None and sure.diagnosis.kinds[0] == "asymmetric-nat"
    asym = next(f for f in sure.findings if f.kind == "asymmetric-nat")
    assert (asym.details["missing"], asym.details["replies_missing"]) == ("router", "1")
    got = _with_drops(_reply_not_through_the_translator(), {"router": 2})
    asym = next(f for f in got.findings if f.kind == "asymmetric-nat")
    assert not asym.root_cause
    assert got.diagnosis is not None and got.diagnosis.kinds == ("inconclusive",)
    assert got.diagnosis.headline == ("inconclusive: the reply seems to bypass router's "
                                      "translation, but router's capture dropped 2 packets "
                                      "itself")


def test_a_reply_missing_where_the_capture_shows_no_reply_at_all_is_inconclusive() -> None:
    """The router's capture shows no packet towards the client at all: a capture filtered to
    one direction (tcpdump -Q in, dst port 22) shows the same as a reply that bypassed it."""
    got = _with_drops(_reply_not_through_the_translator(two_way=False), {})
    asym = next(f for f in got.findings if f.kind == "asymmetric-nat")
    assert not asym.root_cause and asym.details["one_way"] == "router"
    assert got.diagnosis is not None and got.diagnosis.headline == (
        "inconclusive: the reply seems to bypass router's translation, but router's capture "
        "shows packets of one direction only")
    assert "Missing: a capture at router of both directions" in got.diagnosis.explanation
