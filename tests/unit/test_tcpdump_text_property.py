"""Arbitrary text and bytes into the tcpdump text reader: records or CaptureError, nothing else."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nettrail.capture.base import CaptureStats
from nettrail.capture.tcpdump_text import read_text
from nettrail.errors import CaptureError
from nettrail.model.packet import PacketRecord

FIXTURES = Path(__file__).parent.parent / "fixtures" / "text"
REAL_LINES = [
    line
    for name in ("real-Sve.txt", "real-any.txt", "real-n.txt", "handwritten.txt",
                 "pasted-chat.txt")
    for line in (FIXTURES / name).read_text().splitlines()
]
TOKENS = [
    "08:10:55.545140", " 00:00:00.000096", "1795594255.545140", "2026-11-25", "23:59:59.99999",
    "IP", "IP6", "ARP,", "eth0", "In", "Out", "M", "B", "ifindex 2", "52:54:00:12:34:56", ">",
    "198.51.100.1.22", "203.0.113.2", "2001:db8::1.ssh", "::ffff:198.51.100.1.80", "fe80::1",
    "Flags", "[S.],", "[R]", "[none]", "seq", "1:41,", "ack", "1,", "win", "options", "[mss",
    "1460,sackOK,TS", "val", "ecr", "0,nop,wscale", "7],", "sack 1 {1:2}", "length", "0", "40:",
    "ICMP", "ICMP6,", "echo", "request,", "id", "unreachable", "-", "need to frag", "(mtu",
    "1400),", "packet too big,", "mtu", "VXLAN,", "flags [I] (0x08),", "vni", "100", "UDP,",
    "(tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 60)", "(", ")", "\t",
    "    ", "ethertype", "802.1Q (0x8100),", "vlan 100, p 0,", "IPv4 (0x0800),", "Request",
    "who-has", "tell", "Reply", "is-at", "LLDP,", "<br>", "&gt;", "&nbsp;", "<span>", "ip-proto-",
    "99999999999", "-1", ":", ".", ",", "listening on", "packets captured", "\r", "é", "\u2028",
]
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def read_or_error(path: Path, data: bytes) -> list[PacketRecord]:
    """Read ``data``; only CaptureError may come out, naming the file and the records before it."""
    path.write_bytes(data)
    stats = CaptureStats(path=str(path), point="p")
    records: list[PacketRecord] = []
    try:
        records.extend(read_text(str(path), "p", stats))
    except CaptureError as exc:
        assert exc.path == str(path) and stats.error is exc
        assert exc.records == len(records) == stats.packets
        return records
    assert stats.error is None and stats.packets == len(records)
    for rec in records:
        assert rec.frame >= 1 and rec.file == str(path) and rec.linktype == -1
        assert rec.wire_len >= 0 and isinstance(rec.ts_ns, int)
        assert rec.headers.ip is not None or rec.headers.arp is not None
    for warning in stats.warnings:
        assert warning.startswith(str(path)) and "\n" not in warning
    return records


@st.composite
def token_text(draw: st.DrawFn) -> bytes:
    """Lines made of tcpdump words in any order."""
    lines = draw(st.lists(st.lists(st.sampled_from(TOKENS), max_size=25), max_size=12))
    sep = draw(st.sampled_from([" ", "", "  "]))
    return "\n".join(sep.join(words) for words in lines).encode()


@st.composite
def mutated_lines(draw: st.DrawFn) -> bytes:
    """Real tcpdump lines with characters cut, doubled or replaced."""
    lines = draw(st.lists(st.sampled_from(REAL_LINES), min_size=1, max_size=8))
    text = list("\n".join(lines))
    for _ in range(draw(st.integers(0, 8))):
        pos = draw(st.integers(0, max(len(text) - 1, 0)))
        op = draw(st.sampled_from(["cut", "dup", "replace"]))
        if op == "cut" and text:
            del text[pos]
        elif op == "dup" and text:
            text.insert(pos, text[pos])
        else:
            text.insert(pos, draw(st.characters(codec="utf-8")))
    return "".join(text).encode("utf-8", errors="surrogatepass")


@SETTINGS
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    read_or_error(tmp_path / "x.txt", data)


@SETTINGS
@given(data=token_text())
def test_tcpdump_words_in_any_order(tmp_path: Path, data: bytes) -> None:
    read_or_error(tmp_path / "x.txt", data)


@SETTINGS
@given(data=mutated_lines())
def test_mutated_real_lines(tmp_path: Path, data: bytes) -> None:
    read_or_error(tmp_path / "x.txt", data)
