"""The pcap-filter subset: what compiles, what is refused, and what the rule machine decides."""

from __future__ import annotations

import ipaddress

import pytest

from nettrail.errors import FilterError
from nettrail.trace import layout as L
from nettrail.trace.config import TraceConfig, to_rodata
from nettrail.trace.filter import PacketFields, Rule, compile_filter, evaluate

SYN, RST, ACK = 0x02, 0x04, 0x10


def pkt(src: str, dst: str, proto: int = 6, sport: int = 40000, dport: int = 22,
        flags: int = SYN) -> PacketFields:
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    return PacketFields(a.version, proto, a.packed, b.packed, sport, dport, flags)


SYN_IN = pkt("198.51.100.2", "203.0.113.223")
RST_OUT = pkt("203.0.113.223", "198.51.100.2", sport=22, dport=40000, flags=RST | ACK)
UDP = pkt("198.51.100.2", "198.18.0.1", proto=17, sport=5353, dport=53, flags=0)
V6 = pkt("2001:db8::1", "2001:db8::2", dport=443)
VM_MAC, ROUTER_MAC = bytes.fromhex("fa163e5c8b7a"), bytes.fromhex("fa163e1a2b3c")
FROM_VM = SYN_IN._replace(smac=VM_MAC, dmac=ROUTER_MAC, length=74)
TAGGED = UDP._replace(smac=ROUTER_MAC, dmac=VM_MAC, vlan=101, length=1514)


@pytest.mark.parametrize(("expr", "yes", "no"), [
    ("host 203.0.113.223", [SYN_IN, RST_OUT], [UDP, V6]),
    ("src host 203.0.113.223", [RST_OUT], [SYN_IN]),
    ("dst host 203.0.113.223", [SYN_IN], [RST_OUT]),
    ("net 198.18.0.0/15", [UDP], [SYN_IN]),
    ("src net 198.51.100.0/24", [SYN_IN, UDP], [RST_OUT]),
    ("port 22", [SYN_IN, RST_OUT], [UDP]),
    ("dst port 22", [SYN_IN], [RST_OUT]),
    ("tcp port 53", [], [UDP]),
    ("udp port 53", [UDP], [SYN_IN]),
    ("udp src port 5353", [UDP], [SYN_IN]),
    ("portrange 20-25", [SYN_IN, RST_OUT], [UDP, V6]),
    ("tcp", [SYN_IN, RST_OUT, V6], [UDP]),
    ("ip6", [V6], [SYN_IN]),
    ("ip and not tcp", [UDP], [SYN_IN, V6]),
    ("host 2001:db8::2 and tcp port 443", [V6], [SYN_IN]),
    ("tcp[tcpflags] & tcp-rst != 0", [RST_OUT], [SYN_IN, UDP]),
    ("tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", [SYN_IN], [RST_OUT]),
    ("tcp[tcpflags] == tcp-rst|tcp-ack", [RST_OUT], [SYN_IN]),
    ("tcp[13] & 4 != 0", [RST_OUT], [SYN_IN]),
    ("host 203.0.113.223 and (port 22 or port 23) and not tcp[tcpflags] & tcp-rst != 0",
     [SYN_IN], [RST_OUT, UDP]),
    ("not port 22 || udp", [UDP, V6], [SYN_IN]),
    ("", [SYN_IN, UDP, V6], []),
    ("port ssh", [SYN_IN, RST_OUT], [UDP]),
    ("udp port domain", [UDP], [SYN_IN]),
    ("portrange ftp-ssh", [SYN_IN], [UDP]),
    ("ether src fa:16:3e:5c:8b:7a", [FROM_VM], [TAGGED, SYN_IN]),
    ("ether dst host FA-16-3E-5C-8B-7A", [TAGGED], [FROM_VM]),
    ("ether host fa:16:3e:1a:2b:3c", [FROM_VM, TAGGED], [SYN_IN]),
    ("vlan", [TAGGED], [FROM_VM]),
    ("vlan 100", [TAGGED], [FROM_VM]),
    ("vlan 7", [], [TAGGED, FROM_VM]),
    ("less 100", [FROM_VM], [TAGGED]),
    ("greater 1514 and udp", [TAGGED], [FROM_VM]),
])
def test_semantics(expr: str, yes: list[PacketFields], no: list[PacketFields]) -> None:
    rules = compile_filter(expr)
    for p in yes:
        assert evaluate(rules, p), (expr, p)
    for p in no:
        assert not evaluate(rules, p), (expr, p)


def test_link_primitives_compile_to_kernel_rules() -> None:
    rules = compile_filter("ether src fa:16:3e:5c:8b:7a and vlan 5 or greater 70000")
    assert [r.op for r in rules] == [L.OP_TEST, L.OP_TEST, L.OP_AND, L.OP_TEST, L.OP_OR]
    assert rules[0] == Rule(L.OP_TEST, L.FLD_ETH_SRC, addr=VM_MAC + bytes(10))
    assert rules[1] == Rule(L.OP_TEST, L.FLD_VLAN, lo=6)
    assert rules[3] == Rule(L.OP_TEST, L.FLD_LEN_GE, lo=70000 & 0xFFFF, hi=1)


def test_postfix_program() -> None:
    rules = compile_filter("host 198.51.100.4 and not port 22")
    assert [r.op for r in rules] == [L.OP_TEST, L.OP_TEST, L.OP_NOT, L.OP_AND]
    host = rules[0]
    assert host.field == L.FLD_ANY_ADDR and host.family == 4
    assert host.addr == bytes([198, 51, 100, 4]) + bytes(12)
    assert host.mask == b"\xff" * 4 + bytes(12)
    assert rules[1] == Rule(L.OP_TEST, L.FLD_ANY_PORT, lo=22, hi=22)


@pytest.mark.parametrize(("expr", "message"), [
    ("arp", "unsupported primitive 'arp' (column 1); supported: host, net, port"),
    ("port nosuchservice", "unknown port name 'nosuchservice'"),
    ("ether 1.2.3.4", "expected host, src or dst after ether"),
    ("ether src 02:00:00:00:00", "not a MAC address"),
    ("vlan 4096", "out of range"),
    ("host", "unexpected end of filter"),
    ("host 300.1.1.1", "not an address"),
    ("port 70000", "out of range"),
    ("tcp port 22 and", "unexpected end"),
    ("(tcp", "unexpected end"),
    ("(tcp udp)", "expected ')'"),
    ("tcp[2] & 1 != 0", "only tcp[tcpflags]"),
    ("tcp[tcpflags] & tcp-bogus != 0", "not a number"),
    ("tcp port 22 udp", "unexpected 'udp'"),
    ("portrange 30-20", "empty port range"),
    (" or ".join(["port 1"] * 20), "at most 32"),
])
def test_errors_are_one_clear_line(expr: str, message: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(expr)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_config_validation_and_rodata() -> None:
    with pytest.raises(FilterError, match="only NAME or PREFIX"):
        TraceConfig(ifname_globs=("q*r",))
    with pytest.raises(FilterError, match="unknown hook"):
        TraceConfig(hooks=("kprobe",))
    with pytest.raises(FilterError, match="power of two"):
        TraceConfig(ring_bytes=3 << 20)
    cfg = TraceConfig(filter="tcp port 22", ifname_globs=("qr-*", "eth0"), netns=(4026531840,))
    raw = to_rodata(cfg)
    assert len(raw) == L.CONFIG_SIZE
    head = L.CONFIG_HEAD_STRUCT.unpack_from(raw)
    flags = L.CFG_CT | L.CFG_FILTER | L.CFG_FOLLOW | L.CFG_CONNS
    assert head[:6] == (flags, 3, 2, 1, cfg.wakeup_bytes, cfg.follow_ttl_ms)
    assert head[6] == 4026531840
    glob0 = L.GLOB_STRUCT.unpack_from(raw, L.CONFIG_HEAD_STRUCT.size)
    assert glob0[:3] == (b"qr-" + bytes(13), 3, 1)
    # no filter: nothing to follow, every packet matches
    assert L.CONFIG_HEAD_STRUCT.unpack_from(to_rodata(TraceConfig()))[0] == L.CFG_CT
