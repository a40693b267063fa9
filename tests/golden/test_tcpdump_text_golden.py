"""tcpdump text reader against real tcpdump output and committed fixtures.

The lab test records real traffic in namespaces (``tests/fixtures/text/record.py``), prints the
capture with tcpdump in every flag variant, and checks that the text reader recovers the packets
tshark decodes from the pcap itself: count, addresses, ports, flags, absolute seq/ack, VXLAN vni,
times, interface and direction (``-i any``), MACs and frame length (``-e``), IP ID and TTL (``-v``).

The golden tests read the committed fixtures under ``tests/fixtures/text/`` and compare a
one-line summary of each record, the counters and the warnings with ``NAME.expected``
(``NETTRAIL_REGEN=1`` rewrites them; review the diff).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from conftest import require_root, require_tool
from nettrail.capture.base import CaptureStats
from nettrail.capture.tcpdump_text import read_text
from nettrail.errors import CaptureError
from nettrail.model.packet import (
    ARPHeader,
    Headers,
    ICMPHeader,
    PacketRecord,
    TCPHeader,
    UDPHeader,
    tcp_flags_text,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "text"
sys.path.insert(0, str(FIXTURES))
import record as recorder  # noqa: E402

DAY_NS = 86_400 * 10**9


def read_all(path: Path) -> tuple[list[PacketRecord], CaptureStats]:
    """Every record of ``path`` and the reader's stats (a CaptureError is kept in stats)."""
    stats = CaptureStats(path=str(path), point="p")
    records: list[PacketRecord] = []
    with contextlib.suppress(CaptureError):
        records.extend(read_text(str(path), "p", stats))
    return records, stats


# --- against real tcpdump and tshark -----------------------------------------------------------

class Ref(NamedTuple):
    """What tshark decodes of one frame."""

    frame: int
    epoch_ns: int
    length: int
    pkttype: int | None
    macs: tuple[str, str]
    key: tuple[object, ...]
    ip_id: int | None
    ttl: int | None


_FIELDS = ["frame.number", "frame.time_epoch", "frame.len", "sll.pkttype", "eth.src", "eth.dst",
           "sll.src.eth", "frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
           "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.seq", "tcp.ack", "udp.srcport",
           "udp.dstport", "icmp.type", "icmpv6.type", "vxlan.vni", "arp.opcode", "ip.id",
           "ip.ttl", "ipv6.hlim"]


def tshark_refs(pcap: Path) -> list[Ref]:
    """tshark's view of every IP or ARP frame of ``pcap`` (absolute sequence numbers)."""
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-o", "tcp.relative_sequence_numbers:FALSE", "-T", "fields",
         "-E", "separator=/t", *[a for f in _FIELDS for a in ("-e", f)]],
        capture_output=True, text=True, check=True, timeout=60).stdout
    refs = []
    for line in out.splitlines():
        v = dict(zip(_FIELDS, line.split("\t"), strict=True))
        first = {k: s.split(",")[0] for k, s in v.items()}
        layers = v["frame.protocols"].split(":")
        key = _ref_key(layers, first, v)
        if key is None:
            continue
        sec, _, frac = first["frame.time_epoch"].partition(".")
        ip_id = int(first["ip.id"], 16) if first["ip.id"] else None
        ttl = first["ip.ttl"] or first["ipv6.hlim"]
        refs.append(Ref(
            int(first["frame.number"]), int(sec) * 10**9 + int(frac.ljust(9, "0")[:9]),
            int(first["frame.len"]),
            int(first["sll.pkttype"]) if first["sll.pkttype"] else None,
            (first["eth.src"] or first["sll.src.eth"], first["eth.dst"]), key,
            ip_id if layers[2] == "ip" else None, int(ttl) if ttl else None))
    return refs


def _ref_key(layers: list[str], f: dict[str, str], v: dict[str, str]) -> tuple[object, ...] | None:
    net = layers[2]
    if net == "arp":
        return ("arp", int(f["arp.opcode"]))
    if net not in ("ip", "ipv6"):
        return None
    src, dst = (f["ip.src"], f["ip.dst"]) if net == "ip" else (f["ipv6.src"], f["ipv6.dst"])
    l4 = next(x for x in layers[3:] if x != "ipv6.hopopts")
    if l4 == "tcp":
        return (src, dst, "tcp", int(f["tcp.srcport"]), int(f["tcp.dstport"]),
                int(f["tcp.flags"], 16) & 0xFF, int(f["tcp.seq"]), int(f["tcp.ack"]))
    if l4 == "udp":
        vni = int(f["vxlan.vni"]) if f["vxlan.vni"] else None
        return (src, dst, "udp", int(f["udp.srcport"]), int(f["udp.dstport"]), vni)
    if l4 in ("icmp", "icmpv6"):
        return (src, dst, l4, int(f[f"{l4}.type"]))
    return (src, dst, l4)


def record_key(r: PacketRecord) -> tuple[object, ...]:
    """The record in the shape of ``Ref.key`` (seq/ack taken from the reference when absent)."""
    h = r.headers
    if h.arp is not None:
        return ("arp", h.arp.op)
    assert h.ip is not None
    src, dst, l4 = h.ip.src, h.ip.dst, h.l4
    if isinstance(l4, TCPHeader):
        return (src, dst, "tcp", l4.sport, l4.dport, l4.flags, l4.seq, l4.ack)
    if isinstance(l4, UDPHeader):
        return (src, dst, "udp", l4.sport, l4.dport, r.vni)
    if isinstance(l4, ICMPHeader):
        return (src, dst, "icmp" if l4.version == 4 else "icmpv6", l4.type)
    return (src, dst, str(h.ip.proto))


def _comparable(rec_key: tuple[object, ...], ref_key: tuple[object, ...]) -> tuple[object, ...]:
    """The reference key with seq/ack blanked where the text did not print them."""
    if len(ref_key) < 8 or ref_key[2] != "tcp" or len(rec_key) != len(ref_key):
        return ref_key
    seq = ref_key[6] if rec_key[6] is not None else None
    ack = ref_key[7] if rec_key[7] is not None else None
    return (*ref_key[:6], seq, ack)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Real traffic captured in ntB-g<pid>-* namespaces, printed in every tcpdump variant."""
    require_root()
    require_tool("tcpdump")
    require_tool("tshark")
    yield recorder.record(tmp_path_factory.mktemp("text"), tag=f"g{os.getpid()}")


@pytest.mark.lab
@pytest.mark.root
@pytest.mark.parametrize("side", ["a", "b"])
def test_every_variant_matches_tshark(recorded: dict[str, Path], side: str) -> None:
    refs = tshark_refs(recorded[f"{side}.pcap"])
    assert len(refs) > 40
    variants = [*recorder.VARIANTS, *(["names"] if side == "a" else [])]
    for variant in variants:
        check_text(recorded[f"{side}-{variant}.txt"], refs, variant, side)


COMMITTED = [("real-n.txt", "a", "n"), ("real-names.txt", "a", "names"),
             ("real-Sve.txt", "a", "Sve"), ("real-any.txt", "b", "n"),
             ("real-any-ttt.txt", "b", "ttt")]


@pytest.mark.parametrize(("name", "side", "variant"), COMMITTED, ids=[c[0] for c in COMMITTED])
def test_committed_real_text_matches_tshark(name: str, side: str, variant: str) -> None:
    require_tool("tshark")
    check_text(FIXTURES / name, tshark_refs(FIXTURES / f"real-{side}.pcap"), variant, side)


def check_text(path: Path, refs: list[Ref], variant: str, side: str) -> None:
    """The text reader's records of ``path`` against tshark's view of the same capture."""
    records, stats = read_all(path)
    where = f"{path.name}"
    assert stats.error is None, where
    assert stats.format == "tcpdump-text"
    assert stats.packets == len(records) == len(refs), where
    assert not stats.skipped, where
    for rec, ref in zip(records, refs, strict=True):
        key = record_key(rec)
        assert key == _comparable(key, ref.key), f"{where} line {rec.frame}"
        tcp = rec.tcp
        assert tcp is None or not tcp.seq_relative, f"{where} line {rec.frame}"
        _check_variant(variant, side, rec, ref, refs[0], f"{where} line {rec.frame}")
    if variant == "t":
        assert [r.ts_ns for r in records] == [i * 1000 for i in range(len(records))]
        assert any("no timestamps" in w for w in stats.warnings)
    elif variant in ("ttt", "ttttt"):  # times between packets: no time of day, said once
        assert len(stats.warnings) == 1 and "tells no time of day" in stats.warnings[0], where
    else:
        assert stats.warnings == [], where


def _check_variant(variant: str, side: str, rec: PacketRecord, ref: Ref, first: Ref,
                   where: str) -> None:
    if variant in ("tt", "tttt"):
        assert rec.ts_ns == ref.epoch_ns, where
    if variant in ("n", "S", "v", "e", "nn", "names", "Sve"):
        assert rec.ts_ns % DAY_NS == ref.epoch_ns % DAY_NS, where
        assert rec.ts_ns < DAY_NS, where  # time of day: 1970-01-01
    if variant == "ttt":
        assert rec.ts_ns == ref.epoch_ns - first.epoch_ns, where
    if side == "b":
        assert rec.ifname == "ntB-b0", where
        assert rec.direction == ("out" if ref.pkttype == 4 else "in"), where
    else:
        assert rec.ifname is None and rec.direction is None, where
    if variant in ("e", "Sve"):
        assert rec.wire_len == ref.length, where
        assert rec.headers.eth is not None and rec.headers.eth.src == ref.macs[0], where
    if variant in ("v", "Sve") and rec.headers.ip is not None:
        assert rec.headers.ip.ip_id == ref.ip_id, where
        assert rec.headers.ip.ttl == ref.ttl, where


# --- committed fixtures ------------------------------------------------------------------------

def summary(r: PacketRecord) -> str:
    """One stable line per record, independent of any renderer."""
    where = f"{r.frame} {r.ts_ns}" + ("" if r.time_ok else " time?")
    if r.ifname or r.direction:
        where += f" {r.ifname}/{r.direction}"
    text = f"{where} len={r.wire_len} {_headers(r.headers)}"
    if r.inner is not None:
        text += f" | vni={r.vni} {_headers(r.inner)}"
    return text


def _headers(h: Headers) -> str:
    parts = []
    if h.eth is not None:
        vlans = "".join(f" vlan={v}" for v in h.eth.vlans)
        parts.append(f"eth {h.eth.src}>{h.eth.dst} 0x{h.eth.ethertype:04x}{vlans}")
    if h.arp is not None:
        a: ARPHeader = h.arp
        parts.append(f"arp op={a.op} {a.sender_ip}/{a.sender_mac}>{a.target_ip}/{a.target_mac}")
    if h.ip is not None:
        ip = h.ip
        extra = "".join(f" {k}={v}" for k, v in (("ttl", ip.ttl), ("id", ip.ip_id),
                                                 ("iplen", ip.length)) if v is not None)
        extra += " DF" if ip.df else ""
        parts.append(f"ip{ip.version} {ip.src}>{ip.dst} proto={ip.proto}{extra}")
    l4 = h.l4
    if isinstance(l4, TCPHeader):
        o = l4.options
        opts = ",".join(o.order)
        parts.append(f"tcp {l4.sport}>{l4.dport} [{tcp_flags_text(l4.flags)}] seq={l4.seq} "
                     f"ack={l4.ack} win={l4.window} len={l4.payload_len} rel={l4.seq_relative} "
                     f"opts={opts} mss={o.mss} ws={o.wscale} ts={o.ts_val}/{o.ts_ecr} "
                     f"sack={list(o.sack)}")
    elif isinstance(l4, UDPHeader):
        parts.append(f"udp {l4.sport}>{l4.dport} len={l4.payload_len}")
    elif isinstance(l4, ICMPHeader):
        text = f"icmp{l4.version} type={l4.type} code={l4.code}"
        if l4.mtu is not None:
            text += f" mtu={l4.mtu}"
        if l4.ident is not None:
            text += f" id={l4.ident} seq={l4.sequence}"
        q = l4.quoted
        if q is not None:
            text += (f" quoted={q.ip.src}>{q.ip.dst} proto={q.ip.proto} id={q.ip.ip_id} "
                     f"ports={q.sport}>{q.dport}")
        parts.append(text)
    return " ; ".join(parts)


def render(path: Path) -> str:
    """The golden text of one fixture: records, counters, warnings, error."""
    records, stats = read_all(path)
    lines = [summary(r) for r in records]
    lines.append(f"packets={stats.packets} format={stats.format} skipped={dict(stats.skipped)}")
    lines.extend(f"warning: {w.replace(str(path), path.name)}" for w in stats.warnings)
    if stats.error is not None:
        lines.append(f"error: {str(stats.error).replace(str(path), path.name)} "
                     f"line={stats.error.line} records={stats.error.records}")
    return "\n".join(lines) + "\n"


GOLDEN = sorted(p for p in FIXTURES.iterdir() if p.suffix == ".txt")


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
def test_fixture_golden(path: Path) -> None:
    expected = path.with_suffix(".expected")
    got = render(path)
    if os.environ.get("NETTRAIL_REGEN"):
        expected.write_text(got)
    assert got == expected.read_text()
