"""Captures recorded for real, read back: exact record summaries and agreement with tshark.

The committed files under tests/fixtures/captures/ were recorded by ``capture_lab.record``
(see the README there); the ``lab`` test records a fresh set in namespaces and checks it the
same way. Set NETTRAIL_REGEN_GOLDEN=1 to rewrite the ``.expected`` files after a deliberate
change of output.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from capture_lab import record

from conftest import require_root, require_tool
from nettrail.capture import open_capture
from nettrail.model.flow import Endpoint, FlowKey
from nettrail.model.packet import (
    ACK,
    RST,
    SYN,
    Headers,
    ICMPHeader,
    PacketRecord,
    TCPHeader,
    UDPHeader,
    tcp_flags_text,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "captures"
FILES = ["lab-eth.pcap", "lab-sll.pcap", "lab-any.pcap", "lab-multi.pcapng", "lab-raw.pcap"]
SRV_IFNAMES = {1: "lo", 2: "ntA-v1", 3: "ntA-vx1"}


def describe_headers(h: Headers) -> str:
    """One line for a stack of headers, every field the readers decode."""
    out = []
    if h.eth is not None:
        vlans = f" vlan={','.join(map(str, h.eth.vlans))}" if h.eth.vlans else ""
        out.append(f"{h.eth.src}>{h.eth.dst} 0x{h.eth.ethertype:04x}{vlans}")
    if h.arp is not None:
        a = h.arp
        out.append(f"ARP op={a.op} {a.sender_ip}/{a.sender_mac} > {a.target_ip}/{a.target_mac}")
    if h.ip is not None:
        ip = h.ip
        frag = f" frag={ip.frag_offset}{'+' if ip.more_fragments else ''}"
        out.append(f"IP{ip.version} {ip.src} > {ip.dst} proto={ip.proto} ttl={ip.ttl} "
                   f"id={ip.ip_id} len={ip.length} df={int(ip.df)}{frag}")
    l4 = h.l4
    if isinstance(l4, TCPHeader):
        o = l4.options
        out.append(f"TCP {l4.sport}>{l4.dport} [{tcp_flags_text(l4.flags)}] seq={l4.seq} "
                   f"ack={l4.ack} win={l4.window} len={l4.payload_len} "
                   f"opts={','.join(o.order)} mss={o.mss} ws={o.wscale} sackok={int(o.sack_ok)}"
                   f" sack={o.sack} ts={o.ts_val}/{o.ts_ecr}")
    elif isinstance(l4, UDPHeader):
        out.append(f"UDP {l4.sport}>{l4.dport} len={l4.payload_len}")
    elif isinstance(l4, ICMPHeader):
        quoted = ""
        if l4.quoted is not None:
            q = l4.quoted
            quoted = f" quoted={q.ip.src}.{q.sport}>{q.ip.dst}.{q.dport}/{q.ip.proto}"
        out.append(f"ICMP{l4.version} type={l4.type} code={l4.code} mtu={l4.mtu} "
                   f"id={l4.ident} seq={l4.sequence}{quoted}")
    if h.payload_hash is not None:
        out.append(f"hash={h.payload_hash:08x}")
    return " | ".join(out)


def describe(rec: PacketRecord) -> str:
    """One line for a record: place, time, interface, direction, lengths, headers."""
    line = (f"{rec.frame} {rec.ts_ns} {rec.ifname or '-'} {rec.direction or '-'} "
            f"{rec.wire_len}/{len(rec.data or b'')} lt={rec.linktype} "
            f"{describe_headers(rec.headers)}")
    if rec.inner is not None:
        line += f" || vni={rec.vni} {describe_headers(rec.inner)}"
    if rec.comment is not None:
        line += f" # {rec.comment}"
    return line


def summary(path: Path, ifnames: dict[int, str] | None = None) -> str:
    """Every record and the stats of a capture, as text."""
    cap = open_capture(str(path), "p", ifnames)
    lines = [describe(rec) for rec in cap]
    s = cap.stats
    lines.append(f"stats format={s.format} packets={s.packets} interfaces={s.interfaces} "
                 f"skipped={dict(sorted(s.skipped.items()))} warnings={s.warnings} "
                 f"error={s.error}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", FILES)
def test_golden_summary(name: str) -> None:
    path = FIXTURES / name
    got = summary(path, SRV_IFNAMES if name == "lab-any.pcap" else None)
    expected = path.with_name(name + ".expected")
    if os.environ.get("NETTRAIL_REGEN_GOLDEN"):
        expected.write_text(got)
    assert got == expected.read_text()


# -- agreement with tshark ---------------------------------------------------------------

TSHARK_FIELDS = ["frame.number", "vxlan.vni", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
                 "tcp.srcport", "tcp.dstport", "tcp.flags", "udp.srcport", "udp.dstport",
                 "icmp.type", "icmpv6.type"]


def _pick(value: str, inner: bool) -> str:
    """The outer (first) or VXLAN-inner (second) occurrence of a tshark field."""
    parts = value.split(",") if value else []
    if not parts:
        return ""
    return parts[1] if inner and len(parts) > 1 else parts[0]


def tshark_view(path: Path) -> dict[int, tuple[object, ...]]:
    """Per frame: (src, dst, kind, a, b) of the packet that matters, as tshark decodes it."""
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-E", "separator=/t",
                          *[a for f in TSHARK_FIELDS for a in ("-e", f)]],
                         capture_output=True, text=True, check=True).stdout
    view: dict[int, tuple[object, ...]] = {}
    for line in out.splitlines():
        f = dict(zip(TSHARK_FIELDS, line.split("\t"), strict=True))
        vxlan = bool(f["vxlan.vni"])
        inner_ip = vxlan and ("," in f["ip.src"] or (f["ip.src"] and f["ipv6.src"]))
        v4 = bool(f["ip.src"]) and not (vxlan and f["ipv6.src"] and "," not in f["ip.src"])
        src = _pick(f["ip.src"], inner_ip) if v4 else _pick(f["ipv6.src"], False)
        dst = _pick(f["ip.dst"], inner_ip) if v4 else _pick(f["ipv6.dst"], False)
        kind: tuple[object, ...] = ("other",)
        if f["icmp.type"] or f["icmpv6.type"]:
            kind = ("icmp", int(_pick(f["icmp.type"] or f["icmpv6.type"], False)))
        elif f["tcp.flags"]:
            kind = ("tcp", int(_pick(f["tcp.srcport"], False)),
                    int(_pick(f["tcp.dstport"], False)), int(_pick(f["tcp.flags"], False), 16)
                    & 0xFF)
        elif f["udp.srcport"]:
            idx = inner_ip and f["udp.srcport"].count(",") > 0
            kind = ("udp", int(_pick(f["udp.srcport"], idx)), int(_pick(f["udp.dstport"], idx)))
        if src:
            view[int(f["frame.number"])] = (src, dst, *kind)
    return view


def our_view(recs: list[PacketRecord]) -> dict[int, tuple[object, ...]]:
    """The same view from our records."""
    view: dict[int, tuple[object, ...]] = {}
    for rec in recs:
        ip = rec.ip
        if ip is None:
            continue
        l4 = rec.l4
        kind: tuple[object, ...] = ("other",)
        if isinstance(l4, ICMPHeader):
            kind = ("icmp", l4.type)
        elif isinstance(l4, TCPHeader):
            kind = ("tcp", l4.sport, l4.dport, l4.flags)
        elif isinstance(l4, UDPHeader):
            kind = ("udp", l4.sport, l4.dport)
        view[rec.frame] = (ip.src, ip.dst, *kind)
    return view


def tcp_connections(view: dict[int, tuple[object, ...]]) -> Counter[tuple[FlowKey, str]]:
    """(connection, flags) -> packets: the per-connection counts and flags of a view."""
    counts: Counter[tuple[FlowKey, str]] = Counter()
    for src, dst, kind, *rest in view.values():
        if kind == "tcp":
            sport, dport, flags = (int(str(x)) for x in rest)
            key = FlowKey.of(6, Endpoint(str(src), sport), Endpoint(str(dst), dport))
            counts[key, tcp_flags_text(flags)] += 1
    return counts


def check_against_tshark(path: Path) -> list[PacketRecord]:
    """Read ``path`` and assert tshark sees the same packets, connections and flags."""
    recs = list(open_capture(str(path)))
    ours, theirs = our_view(recs), tshark_view(path)
    assert ours == theirs
    assert tcp_connections(ours) == tcp_connections(theirs)
    assert tcp_connections(ours)  # there is TCP to compare
    return recs


@pytest.mark.parametrize("name", FILES)
def test_fixture_agrees_with_tshark(name: str) -> None:
    require_tool("tshark")
    check_against_tshark(FIXTURES / name)


# -- recorded now, in namespaces --------------------------------------------------------

@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """A fresh set of captures recorded in ntA- namespaces."""
    require_root()
    for tool in ("tcpdump", "dumpcap", "tshark", "ip"):
        require_tool(tool)
    outdir = tmp_path_factory.mktemp("ntA-captures")
    outdir.chmod(0o777)  # tcpdump drops privileges before writing
    return outdir, record(outdir)


@pytest.mark.lab
@pytest.mark.root
@pytest.mark.parametrize("name", ["eth.pcap", "sll.pcap", "any.pcap", "multi.pcapng"])
def test_fresh_capture_agrees_with_tshark(fresh: tuple[Path, dict[str, object]],
                                          name: str) -> None:
    outdir, _facts = fresh
    recs = check_against_tshark(outdir / name)
    tcp = [(r.ip.dst if r.ip else None, r.tcp) for r in recs if r.tcp is not None]
    # the connect to the closed port: a SYN answered by RST+ACK
    assert any(t.dport == 9 and t.flags == SYN for _d, t in tcp)
    assert any(t.sport == 9 and t.flags == RST | ACK for _d, t in tcp)
    assert any(dst is not None and dst.startswith("fe80:") for dst, _t in tcp)
    assert any(isinstance(r.l4, ICMPHeader) and r.l4.ident == 0x4E54 for r in recs)


@pytest.mark.lab
@pytest.mark.root
def test_fresh_link_layers(fresh: tuple[Path, dict[str, object]]) -> None:
    outdir, facts = fresh
    ifindexes = facts["srv_ifindexes"]
    assert isinstance(ifindexes, dict)
    anyrecs = list(open_capture(str(outdir / "any.pcap"), ifnames=ifindexes))
    assert {r.linktype for r in anyrecs} == {276}
    assert {r.ifname for r in anyrecs} <= {"lo", "ntA-v1", "ntA-vx1"}
    assert {r.direction for r in anyrecs} == {"in", "out"}
    assert anyrecs[1].ts_ns % 1000 or anyrecs[2].ts_ns % 1000  # nanosecond timestamps
    vx = [r for r in anyrecs if r.vni is not None]
    assert vx and all(r.vni == 42 for r in vx)
    assert any(r.tcp is not None and r.ip is not None and r.ip.src == "198.18.0.2" for r in vx)
    sll = list(open_capture(str(outdir / "sll.pcap")))
    assert {r.linktype for r in sll} == {113} and {r.direction for r in sll} == {"in", "out"}
    cap = open_capture(str(outdir / "multi.pcapng"))
    multi = list(cap)
    assert cap.stats.interfaces == {0: "ntA-v1", 1: "ntA-vx1"}
    assert {r.ifname for r in multi} == {"ntA-v1", "ntA-vx1"}
    eth = list(open_capture(str(outdir / "eth.pcap")))
    assert {r.linktype for r in eth} == {1} and all(r.headers.eth is not None for r in eth)


@pytest.mark.lab
@pytest.mark.root
def test_fresh_raw_ip_from_a_tun_device(fresh: tuple[Path, dict[str, object]]) -> None:
    outdir, _facts = fresh
    recs = check_against_tshark(outdir / "raw.pcap")
    assert {r.linktype for r in recs} == {101}
    assert all(r.headers.eth is None for r in recs)
    echo = [(r.ip.src, r.l4.type) for r in recs
            if r.ip is not None and isinstance(r.l4, ICMPHeader) and r.l4.ident == 0x4E54]
    assert echo == [("198.18.0.10", 8), ("198.18.0.9", 0)]
    syn = [r.tcp for r in recs if r.tcp is not None and r.tcp.dport == 80]
    assert syn and syn[0].flags == SYN and syn[0].options.mss == 1460
