"""Raw kernel events (packed as trace.h lays them out) -> TraceEvent, JSON, records, timeline."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

from nettrail.analyze.describe import describe
from nettrail.model.event_table import EventTable
from nettrail.model.flow import Endpoint
from nettrail.model.packet import RST, SYN, TCPHeader
from nettrail.report.trace_json import JsonLines, event_record
from nettrail.report.trace_text import Timeline, packet_rewrites
from nettrail.trace import layout as L
from nettrail.trace.decode import Decoder
from nettrail.trace.netns_names import NetnsNames
from nettrail.trace.records import reset_origin, to_packet_records

ANCHOR = 1_700_000_000_000_000_000
DROP_NAMES = {3: "NO_SOCKET", 6: "NETFILTER_DROP", 4: "OTHERHOST"}
RST_NAMES = {1: "NO_SOCKET"}
FIP, VM, CLIENT = "203.0.113.223", "198.51.100.4", "198.51.100.9"


class Names(NetnsNames):
    def __init__(self) -> None:
        self._names = {1: "client", 2: "qrouter-1", 3: "compute"}
        self._missing: set[int] = set()
        self.warnings: list[str] = []

    def name(self, inode: int) -> str:
        return self._names.get(inode, str(inode))


def ip4(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def frame(src: str, dst: str, sport: int, dport: int, flags: int, ip_id: int = 7) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, flags, 64240, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, ip_id, 0x4000, 64, 6, 0, ip4(src), ip4(dst))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp


def tup(src: str = "0.0.0.0", dst: str = "0.0.0.0", sport: int = 0, dport: int = 0,
        proto: int = 0) -> list[Any]:
    return [ip4(src).ljust(16, b"\0"), ip4(dst).ljust(16, b"\0"), sport, dport, proto, 4, 0]


def raw(kind: int, netns: int, ifname: str, data: bytes = b"", *, ts: int = 1000, skb: int = 0xA0,
        first: int = 0, flags: int = L.EV_DEV, reason: int = 0, ct: tuple[list[Any], list[Any]]
        | None = None, sock: list[Any] | None = None, dev_flags: int = 0,
        ifindex: int = 3) -> tuple[Any, ...]:
    if data:
        flags |= L.EV_PKT
    if ct:
        flags |= L.EV_CT
    if sock:
        flags |= L.EV_SOCK | L.EV_SK
    values = [L.EVENT_SIZE, 0, ts, skb, first, netns, ifindex, reason, 0x28 if ct else 0, 0,
              len(data), 0, kind, flags, len(data), L.LINK_ETH if data else 0,
              2 if ct else 0, 3 if sock else 0, dev_flags,
              ifname.encode().ljust(16, b"\0"),
              *(ct[0] if ct else tup()), *(ct[1] if ct else tup()), *(sock or tup()),
              data.ljust(L.PKT_BYTES, b"\0")]
    packed = struct.pack("<II", *values[:2]) + L.EVENT_STRUCT.pack(*values[2:])
    return L.RECORD_STRUCT.unpack(packed)


def decoder() -> Decoder:
    return Decoder(ANCHOR, Names(), reasons=(DROP_NAMES, RST_NAMES))


SYN_PUBLIC = frame(CLIENT, FIP, 40000, 22, SYN)
SYN_PRIVATE = frame(CLIENT, VM, 40000, 22, SYN)
CT = (tup(CLIENT, FIP, 40000, 22, 6), tup(VM, CLIENT, 22, 40000, 6))


def hop_records() -> list[tuple[Any, ...]]:
    return [
        raw(L.KIND_XMIT, 1, "eth0", SYN_PUBLIC, ts=1000, first=900),
        raw(L.KIND_RECV, 2, "qg-1", SYN_PUBLIC, ts=2000, first=900, flags=L.EV_DEV | L.EV_TRACKED),
        raw(L.KIND_XMIT, 2, "qr-1", SYN_PRIVATE, ts=3000, first=900,
            flags=L.EV_DEV | L.EV_TRACKED, ct=CT),
        raw(L.KIND_RESET, 2, "qg-1", frame(CLIENT, FIP, 40000, 22, 0x10), ts=4000, skb=0xB0,
            reason=1),
        raw(L.KIND_DROP, 2, "qg-1", frame(CLIENT, FIP, 40000, 22, 0x10), ts=5000, skb=0xB0,
            reason=6),
    ]


def batch(records: list[tuple[Any, ...]]) -> bytes:
    return b"".join(L.RECORD_STRUCT.pack(*r) for r in records)


def hops() -> list[Any]:
    d = decoder()
    return [d.event(r) for r in hop_records()]


def hops_table(records: list[tuple[Any, ...]] | None = None) -> EventTable:
    return decoder().table(batch(hop_records() if records is None else records))


def test_sections_decode() -> None:
    evs = hops()
    x = evs[0]
    assert (x.kind, x.netns, x.ifname, x.time_ns) == ("xmit", "client", "eth0", ANCHOR + 1000)
    assert isinstance(x.l4, TCPHeader) and x.l4.flags == SYN and x.ip is not None
    assert (x.ip.src, x.ip.dst, x.ip.ip_id) == (CLIENT, FIP, 7)
    assert x.packet is not None and x.packet.link == "eth" and x.packet.wire_len == 54
    # one packet id for the followed SKB, another for the reset's skb
    assert evs[0].packet_id == evs[1].packet_id == evs[2].packet_id != evs[3].packet_id
    ct = evs[2].conntrack
    assert ct is not None and ct.dnat == (Endpoint(FIP, 22), Endpoint(VM, 22))
    assert ct.info == "new" and "DST_NAT" in ct.status
    r = evs[3].reset
    assert r is not None and not r.socket and r.name == "NO_SOCKET"
    assert evs[4].drop is not None and evs[4].drop.name == "NETFILTER_DROP"
    assert evs[1].followed and not evs[0].followed


def test_nat_rewrite_named_where_it_happens() -> None:
    evs = hops()[:3]
    assert packet_rewrites(evs) == [(2, f"DNAT {FIP}:22 -> {VM}:22 in qrouter-1")]
    out = io.StringIO()
    timeline = Timeline(out)
    timeline.add(hops_table(hop_records()[:3]))
    timeline.flush()
    text = out.getvalue()
    lines = text.splitlines()
    # the packet printed as the analyzer's evidence prints it
    same = f"{CLIENT}.40000 > {FIP}.22: Flags [S], seq 1000, win 64240, length 0"
    assert lines[0].endswith(f"packet 1: {same}")
    assert describe(to_packet_records(evs[:1])[0]) == same
    assert f"DNAT {FIP}:22 -> {VM}:22 in qrouter-1" in lines[3]
    assert "qrouter-1/qr-1" in lines[4] and "ct new" in lines[4]


def test_json_lines() -> None:
    out = io.StringIO()
    sink = JsonLines(out, 42, "host 203.0.113.223")
    sink.write(hops_table())
    sink.summary(5, 0, 5)
    recs = [json.loads(line) for line in out.getvalue().splitlines()]
    head = recs[0]
    assert head["type"] == "header" and head["version"] == 1 and head["filter"]
    assert head["clock"]["realtime_minus_monotonic_ns"] == 42 and head["kernel"] and head["host"]
    e = recs[3]
    assert {k: e[k] for k in ("kind", "netns", "ifname", "src", "dst", "proto", "sport", "dport",
                              "tcp_flags")} == {
        "kind": "xmit", "netns": "qrouter-1", "ifname": "qr-1", "src": CLIENT, "dst": VM,
        "proto": "tcp", "sport": 40000, "dport": 22, "tcp_flags": "S"}
    assert e["time"].endswith("Z") and e["conntrack"]["info"] == "new"
    assert recs[4]["reset"]["socket"] is False and recs[5]["drop_reason"] == "NETFILTER_DROP"
    assert recs[-1] == {"type": "summary", "emitted": 5, "lost": 0, "events": 5}


def test_records_for_the_analyzer_and_reset_origin() -> None:
    evs = hops()
    recs = to_packet_records(evs)
    assert [(r.point, r.ifname, r.direction, r.frame) for r in recs] == [
        ("client", "eth0", "out", 1), ("qrouter-1", "qg-1", "in", 2),
        ("qrouter-1", "qr-1", "out", 3)]
    assert recs[2].tcp is not None and recs[2].ip is not None and recs[2].ip.dst == VM
    assert recs[0].linktype == 1 and recs[0].data == SYN_PUBLIC
    assert reset_origin(evs[3]) == (
        "RST made by the TCP stack of namespace qrouter-1 (no socket) in answer to "
        f"{CLIENT}:40000 > {FIP}:22, reason NO_SOCKET")
    assert reset_origin(evs[0]) is None


def test_socket_only_events() -> None:
    d = decoder()
    ev = d.event(raw(L.KIND_SYNACK_RETRANS, 3, "", flags=0, skb=0,
                     sock=tup(VM, CLIENT, 22, 40000, 6)))
    assert ev.kind == "synack-retransmit" and ev.device is None and ev.packet is None
    assert ev.socket is not None and ev.socket.local == Endpoint(VM, 22)
    assert ev.socket.state == "SYN_RECV"
    rec = event_record(ev)
    assert (rec["src"], rec["dport"], rec["proto"]) == (VM, 40000, "tcp")
    assert ev.packet_id == 0 and RST


class Switches:
    def __init__(self, inodes: set[int]) -> None:
        self.inodes = inodes

    def runs_ovs(self, inode: int) -> bool:
        return inode in self.inodes


def test_frames_handed_to_open_vswitch_join_the_copy_it_sends() -> None:
    d = Decoder(ANCHOR, Names(), reasons=(DROP_NAMES, RST_NAMES),
                switches=Switches({3}))  # type: ignore[arg-type]
    reply = frame(VM, CLIENT, 22, 40000, SYN | 0x10, ip_id=0)
    rewritten = frame(FIP, CLIENT, 22, 40000, SYN | 0x10, ip_id=0)
    other = frame(VM, CLIENT, 22, 40001, SYN | 0x10, ip_id=5)
    evs = [d.event(r) for r in (
        raw(L.KIND_RECV, 3, "tap1", reply, ts=1000, skb=0xA0, first=900),
        raw(L.KIND_DROP, 3, "tap1", reply, ts=1100, skb=0xA0, first=900, reason=4,
            dev_flags=L.DEV_PACKET_SOCKET),
        # Open vSwitch sends a new skb out of another port, addresses rewritten
        raw(L.KIND_XMIT, 3, "eth1", rewritten, ts=40_000, skb=0xC0, first=40_000),
        # a different packet (other IP ID) is not joined; nor is a copy far too late
        raw(L.KIND_XMIT, 3, "eth1", other, ts=41_000, skb=0xD0, first=41_000),
        raw(L.KIND_XMIT, 3, "eth1", rewritten, ts=900_000_000, skb=0xE0, first=900_000_000),
        # OTHERHOST on a device nobody reads is a drop; in a namespace without OVS, a socket's
        raw(L.KIND_DROP, 3, "eth9", reply, ts=2000, skb=0xF0, reason=4),
        raw(L.KIND_DROP, 2, "qg-1", reply, ts=3000, skb=0xF8, reason=4,
            dev_flags=L.DEV_PACKET_SOCKET),
    )]
    handed = evs[1]
    assert handed.kind == "handed" and handed.drop is not None
    assert handed.drop.handed_to == "Open vSwitch"
    assert handed.drop.text() == "handed to Open vSwitch (OTHERHOST for this host's own stack)"
    assert evs[0].packet_id == handed.packet_id == evs[2].packet_id
    assert len({evs[2].packet_id, evs[3].packet_id, evs[4].packet_id}) == 3
    assert (evs[5].kind, evs[5].drop.text() if evs[5].drop else "") == (
        "drop", "dropped: OTHERHOST")
    assert evs[6].kind == "handed" and evs[6].drop is not None
    assert evs[6].drop.handed_to == "a packet socket"
    assert event_record(handed)["handed_to"] == "Open vSwitch"
    assert packet_rewrites(evs[:3]) == [(2, f"SNAT {VM}:22 -> {FIP}:22 in compute")]


def test_identical_packets_handed_in_turn_join_their_own_copies() -> None:
    """A router's two RSTs alike in every field (IP ID 0): each copy the switch sends joins
    the packet handed before it in order; a flooded copy out of a second port joins too."""
    d = Decoder(ANCHOR, Names(), reasons=(DROP_NAMES, RST_NAMES),
                switches=Switches({3}))  # type: ignore[arg-type]
    rst = frame(FIP, CLIENT, 22, 40000, RST, ip_id=0)

    def handed(ts: int, skb: int) -> tuple[Any, ...]:
        return raw(L.KIND_DROP, 3, "pe-1", rst, ts=ts, skb=skb, first=ts, reason=4,
                   dev_flags=L.DEV_PACKET_SOCKET, ifindex=7)

    def leaving(ts: int, skb: int, ifindex: int) -> tuple[Any, ...]:
        return raw(L.KIND_XMIT, 3, f"if{ifindex}", rst, ts=ts, skb=skb, first=ts,
                   ifindex=ifindex)

    evs = [d.event(r) for r in (handed(1000, 0xA0), handed(2000, 0xB0),
                                leaving(5000, 0xC0, 9), leaving(5100, 0xC8, 10),
                                leaving(6000, 0xD0, 9))]
    first, second = evs[0].packet_id, evs[1].packet_id
    assert first != second
    assert [ev.packet_id for ev in evs[2:]] == [first, first, second]


def test_timeline_notes_a_rewrite_between_plain_rows_and_across_batches() -> None:
    """Without conntrack sections every hop is a plain row: the rewrite is still noted, also
    when the rewritten hop arrives in a later batch."""
    records = [raw(L.KIND_XMIT, 1, "eth0", SYN_PUBLIC, ts=1000, first=900),
               raw(L.KIND_RECV, 2, "qg-1", SYN_PUBLIC, ts=2000, first=900),
               raw(L.KIND_XMIT, 2, "qr-1", SYN_PRIVATE, ts=3000, first=900)]
    note = f"DNAT {FIP}:22 -> {VM}:22 in qrouter-1"
    for split in (3, 2):
        d = decoder()
        out = io.StringIO()
        timeline = Timeline(out)
        timeline.add(d.table(batch(records[:split])))
        timeline.add(d.table(batch(records[split:])))
        timeline.flush()
        lines = out.getvalue().splitlines()
        assert len(lines) == 5 and note in lines[3] and "qrouter-1/qr-1" in lines[4], lines
