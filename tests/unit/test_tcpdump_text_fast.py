"""The block-at-a-time fast path of the tcpdump text reader gives what the general path gives.

Each text is read twice: as is, and with the fast pattern replaced (every line then takes the
general path, ``text_parse``); records, counts and warnings must be the same. Texts cover the
common forms (time of day, ``-tttt``, ``-tt``, ``-i any``, IPv6, UDP and DNS, SYN and SACK
options, relative and absolute seq), lines the fast path hands over (a port out of range, a
``-v`` continuation, a hex dump, CRLF, a quoted-printable break, HTML), and block edges.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from nettrail.capture import tcpdump_text
from nettrail.capture.base import CaptureStats
from nettrail.capture.tcpdump_text import read_text
from nettrail.errors import CaptureError
from nettrail.model.packet import PacketRecord

A = "198.51.100.4.51512 > 203.0.113.223.22"
B = "203.0.113.223.22 > 198.51.100.4.51512"
OPT = "options [nop,nop,TS val 3372154350 ecr 1480221337]"
LINES = [
    f"IP {A}: Flags [S], seq 2921520146, win 64240, options [mss 1460,sackOK,TS val 3372154325 "
    "ecr 0,nop,wscale 7], length 0",
    f"IP {B}: Flags [S.], seq 1480221336, ack 2921520147, win 65160, options [mss 1460,sackOK,"
    "TS val 1480221337 ecr 3372154325,nop,wscale 7], length 0",
    f"IP {A}: Flags [.], ack 1, win 502, {OPT}, length 0",
    f"IP {A}: Flags [P.], seq 1:41, ack 1, win 502, {OPT}, length 40: HTTP: GET / HTTP/1.1",
    f"IP {B}: Flags [.], ack 41, win 509, options [nop,nop,sack 1 {{1:41}}], length 0",
    f"IP {B}: Flags [P.], seq 1:1449, ack 41, win 509, {OPT}, length 1448",
    f"IP {A}: Flags [R.], seq 41, ack 1449, win 0, length 0",
    "IP 198.51.100.4.35394 > 203.0.113.2.53: 16962+ A? example.com. (29)",
    "IP 203.0.113.2.53 > 198.51.100.4.35394: 16962 1/0/0 A 203.0.113.5 (45)",
    "IP 198.51.100.4.35394 > 203.0.113.2.5000: UDP, length 5",
    "IP6 2001:db8::1.22 > 2001:db8::2.40000: Flags [P.], seq 1:9, ack 1, win 5, length 8",
    "IP 198.51.100.1 > 203.0.113.2: ICMP echo request, id 4660, seq 1, length 64",
]
STAMPS = ["08:10:54.514309", "2026-11-25 08:10:54.514309", "1795594254.514309"]


def both(tmp_path: Path, data: bytes, monkeypatch: pytest.MonkeyPatch,
         block: int | None = None) -> tuple[list[PacketRecord], CaptureStats, str]:
    """Records, stats and error of ``data`` read fast; asserted equal to the general path's."""
    if block is not None:
        monkeypatch.setattr(tcpdump_text, "BLOCK", block)
    path = tmp_path / "capture.txt"
    path.write_bytes(data)
    outcomes = []
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr("nettrail.capture.text_fast._LINE", None)
        stats = CaptureStats(path=str(path), point="p")
        records: list[PacketRecord] = []
        error = ""
        try:
            records.extend(read_text(str(path), "p", stats))
        except CaptureError as exc:
            assert stats.error is exc
            error = str(exc)
        outcomes.append((records, replace(stats, error=None), error))
    assert outcomes[0] == outcomes[1]
    return outcomes[0]


def text(stamp: str, lines: list[str], column: str = "") -> str:
    return "".join(f"{stamp[:-6]}{i % 1000000:06d} {column}{line}\n"
                   for i, line in enumerate(lines * 3))


@pytest.mark.parametrize("stamp", STAMPS)
@pytest.mark.parametrize("column", ["", "eth0  In  ", "br-ex Out "])
def test_common_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stamp: str,
                      column: str) -> None:
    records, stats, error = both(tmp_path, text(stamp, LINES, column).encode(), monkeypatch)
    assert not error and len(records) == 36 and not stats.skipped
    if column:
        assert {r.ifname for r in records if r.headers.ip is not None} == {column.split()[0]}


@pytest.mark.parametrize("block", [64, 200, 1000, 1 << 14])
def test_block_edges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    lines = LINES * 4 + ["\t0x0000:  4500 0034 0000 4000 4006 0000 c633 6404", *LINES]
    data = text(STAMPS[0], lines).rstrip("\n").encode()  # the last line without its end
    records, _stats, error = both(tmp_path, data, monkeypatch, block)
    assert not error and len(records) == 3 * (len(LINES) * 5)


@pytest.mark.parametrize("odd", [
    f"IP {A.replace('.22', '.70000')}: Flags [.], ack 1, win 502, length 0",  # port too big
    "IP 198.51.100.4.1 > 203.0.113.2.53: 16962+ A? example.com. (29)=",  # soft break
    f"IP {A}: Flags [.], ack 1, win 502, length 0<br>08:10:54.999999 IP {B}: Flags [.], ack "
    "1, win 5, length 0",  # HTML between two packets
    f"IP {A}: Flags [.], ack 1, win 502, length 0\r",  # CRLF
    f"IP {A}: Flags [.], ack 1, win 502, options [eol,mss 99999999999999999999], length 0",
    f"IP {A}: Flags [S], seq 1, win 5, length 0\n    (tos 0x0, ttl 64, id 1, offset 0)",
    "IP nodeA.local.4789 > nodeB.local.4789: Flags [S], seq 1, win 5, length 0",
    f"IP {A}: Flags [.], ack 1, win 502, {OPT}, length 0\nthis line is not a packet",
])
def test_lines_handed_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: str) -> None:
    lines = [*LINES[:3], odd, *LINES[3:]]
    both(tmp_path, text(STAMPS[0], lines).encode(), monkeypatch, 300)


def test_numbered_lines_past_9999(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = "".join(f"{n:5d}  08:10:54.{n:06d} {LINES[2]}\n" for n in range(9998, 10003))
    records, stats, error = both(tmp_path, data.encode(), monkeypatch)
    assert not error and len(records) == 5 and not stats.skipped


@pytest.mark.parametrize(("bad", "reason"), [(b"\0", "NUL bytes"), (b"\xff", "invalid UTF-8")])
def test_binary_data_in_a_later_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      bad: bytes, reason: str) -> None:
    good = text(STAMPS[0], LINES).encode()
    records, stats, error = both(tmp_path, good + b"08:10:55.000000 IP x" + bad + b"\n" + good,
                                 monkeypatch, 256)
    assert reason in error and f" line {3 * len(LINES) + 1}: " in error
    assert len(records) == stats.packets == 3 * len(LINES)


OVER_32_BITS = [
    f"IP {A}: Flags [S], seq 4294967296, win 64240, length 0",  # 10 digits, one past
    f"IP {B}: Flags [S.], seq 99999999999, ack 1, win 5, length 0",  # 11 digits
    f"IP {A}: Flags [.], ack 4294967296, win 502, length 0",
    f"IP {A}: Flags [.], ack 1, win 4294967296, length 0",
    f"IP {A}: Flags [.], ack 1, win 502, options [nop,nop,TS val 4294967296 ecr 1], length 0",
    f"IP {A}: Flags [.], ack 1, win 502, options [nop,nop,TS val 1 ecr 9999999999], length 0",
    f"IP {A}: Flags [P.], seq 1:41, ack 1, win 502, length 4294967296",
    f"IP {A}: Flags [P.], seq 1:41, ack 1, win 502, length 4294967295",  # its frame, past
    f"IP {A}: Flags [S], seq {'9' * 5000}, win 64240, length 0",  # past int()'s digits
    f"IP {A}: Flags [.], ack 1, win 502, options [nop,nop,sack 1 {{1:{'9' * 5000}}}], length 0",
    f"IP 198.51.100.4.{'9' * 5000} > 203.0.113.223.22: Flags [.], ack 1, win 502, length 0",
    f"IP {A}: Flags [S], seq 1, win 64240, options [mss {'9' * 5000},sackOK,TS val 1 ecr 0,"
    "nop,wscale 7], length 0",
    f"IP 198.51.100.4.53 > 203.0.113.223.53: UDP, length {'9' * 5000}",
    f"00:11:22:33:44:55 > 66:77:88:99:aa:bb, ethertype 802.1Q (0x8100), length 99: vlan "
    f"{'9' * 5000}, p 0, ethertype IPv4 (0x0800), {A}: Flags [.], ack 1, win 502, length 0",
    "IP6 2001:db8::1 > 2001:db8::2: HBH 22 > 65536: Flags [.], ack 1, win 502, length 0",
    f"IP {A}: Flags [S], seq 1, win 64240, options [mss 1460,sackOK,TS val "
    "99999999999999999999 ecr 0,nop,wscale 7], length 0",  # the SYN's options, past 64 bits
    f"IP {B}: Flags [.], ack 1, win 509, options [nop,nop,TS val 4294967296 ecr 1,nop,nop,"
    "sack 1 {1:41}], length 0",  # other options
    f"00:11:22:33:44:55 > 66:77:88:99:aa:bb, ethertype IPv4 (0x0800), length 99999999999: "
    f"{A}: Flags [.], ack 1, win 502, length 0",  # a frame length (-e)
    f"IP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 4294967296) "
    f"{A}: Flags [.], ack 1, win 502, length 0",  # an IP length (-v on one line)
]


@pytest.mark.parametrize("block", [300, 1 << 14])
def test_numbers_over_32_bits_are_named_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              block: int) -> None:
    """tcpdump prints 32-bit TCP numbers: a bigger one is a mangled line, counted and named by
    both paths (in runs long enough for the field-at-a-time filler, and alone)."""
    lines = [*LINES, *OVER_32_BITS, *LINES]
    records, stats, error = both(tmp_path, text(STAMPS[0], lines).encode(), monkeypatch, block)
    assert not error
    assert len(records) == 3 * 2 * len(LINES)
    assert stats.skipped.get("unparsed-line") == 3 * len(OVER_32_BITS)
    assert any("over 32 bits (99999999999)" in w for w in stats.warnings)


@pytest.mark.parametrize("times", [1, 100])  # line by line, and as a block
def test_a_datagram_of_digits_is_not_a_number_seen_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
    lines = [f"IP {A}: Flags [.], ack 1, win 300, length 0", f"IP {A}: 300",
             "IP 198.51.100.4.35394 > 203.0.113.2.5000: UDP, length 300"]
    records, _stats, _error = both(tmp_path, text(STAMPS[0], lines * times).encode(),
                                   monkeypatch)
    assert [r.headers.l4.payload_len for r in records[:3]] == [0, 0, 300]


def test_numbers_over_32_bits_reach_no_table_column(tmp_path: Path) -> None:
    """The table reader keeps the readable lines and analyses them (once a traceback)."""
    from nettrail.run import analyze_files

    path = tmp_path / "c.txt"
    path.write_text(text(STAMPS[0], [*OVER_32_BITS, *LINES] * 8))
    result = analyze_files([("p", str(path))])
    (summary,) = result.analysis.points
    assert summary.packets == 3 * 8 * len(LINES)
    assert summary.skipped.get("unparsed-line") == 3 * 8 * len(OVER_32_BITS)
    assert result.analysis.connections


V_HEAD = "IP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 52) "
PAST_THEIR_FIELD = [
    V_HEAD.replace("ttl 64", "ttl 256") + f"{A}: Flags [.], ack 1, win 502, length 0",
    V_HEAD.replace("id 1,", "id 65536,") + f"{A}: Flags [.], ack 1, win 502, length 0",
    V_HEAD.replace("tos 0x0", "tos 0x100") + f"{A}: Flags [.], ack 1, win 502, length 0",
    V_HEAD.replace("offset 0", "offset 99999999999999999999") + f"{A}: Flags [.], ack 1, "
    "win 502, length 0",
    V_HEAD.replace("TCP (6)", "TCP (65542)") + f"{A}: Flags [.], ack 1, win 502, length 0",
    "IP 198.51.100.4 > 203.0.113.223: ip-proto-65535 20",
    f"{A}: S 1:1(0) win 5 (ttl 256, id 1, len 40)",  # tcpdump 3.x
    f"{A}: . ack 1 win 4294967296 (ttl 64, id 65536, len 40)",
    f"IP {A}: Flags [.], ack 1, win 502, options [nop,nop,TS val -1 ecr 1], length 0",
    f"IP {A}: Flags [.], ack 1, win 502, options [nop,nop,sack 1 {{-5:1}}], length 0",
]


@pytest.mark.parametrize("block", [300, 1 << 14])
def test_ip_fields_past_their_width_are_named_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """A TTL, tos or protocol over 255, an IP ID or fragment offset over 65535 (also as
    tcpdump 3.x printed them), a negative TCP option number: a mangled line, counted and
    named by both paths."""
    lines = [*LINES, *PAST_THEIR_FIELD, *LINES]
    records, stats, error = both(tmp_path, text(STAMPS[0], lines).encode(), monkeypatch, block)
    assert not error
    assert len(records) == 3 * 2 * len(LINES)
    assert stats.skipped.get("unparsed-line") == 3 * len(PAST_THEIR_FIELD)
    assert any("an IP ttl over 255 (256)" in w for w in stats.warnings)


def test_ip_fields_past_their_width_reach_no_cross_point_column(tmp_path: Path) -> None:
    """Two points with such lines are analysed (the cross-point columns of an IP ID or TTL
    past 64 bits, and a table column of a TS val of -1, ended the run with a traceback)."""
    from nettrail.run import analyze_files

    big = [line.replace("65536", "99999999999999999999") for line in PAST_THEIR_FIELD]
    pairs = []
    for point in ("a", "b"):
        path = tmp_path / f"{point}.txt"
        path.write_text(text(STAMPS[2], [*big, *LINES] * 4))
        pairs.append((point, str(path)))
    result = analyze_files(pairs)
    assert [p.packets for p in result.analysis.points] == [3 * 4 * len(LINES)] * 2
