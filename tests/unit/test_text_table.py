"""tcpdump text read into a packet table by columns gives what the record reader gives.

Each text is read four ways: ``read_text`` (records, line by line) and ``read_text_table``
(columns, with the field-at-a-time filler of ``text_block`` for runs of its usual length and
for runs of 16 lines or more, and without it). The table's
records (kept or rebuilt from the columns), the statistics and the fault must be the same,
and so must the table analysis of the column table and of a table of the reader's records.
Texts: many interleaved connections printed as tcpdump prints them (relative seq/ack after the
handshake, absolute with ``-S``, an excerpt starting mid-connection, a SYN-ACK sent again,
pure ACKs, SYN options, SACK, UDP and DNS, IPv6, ``-i any`` columns), with lines the fast
path hands over, block edges, and a fault partway.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nettrail.analyze.table_flows import track_table
from nettrail.capture import tcpdump_text, text_block, text_fast, text_table
from nettrail.capture.base import CaptureStats
from nettrail.capture.text_paste import Paste, Warner
from nettrail.model.packet import TCPHeader
from nettrail.model.table import (
    K_ACK1,
    K_REL,
    K_SEQ,
    K_SEQ1,
    K_TS,
    K_WIN,
    PacketTable,
    table_from_records,
)
from textread import Outcome, read_into_table, read_records


def same_every_way(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Outcome, PacketTable]:
    """The readings of ``path``, asserted equal; the records' outcome and the table."""
    by_lines = read_records(str(path))
    table, by_fields = read_into_table(str(path))
    assert by_fields == by_lines
    for min_lines in (16, 1 << 30):  # short runs by fields too; every run line by line
        with monkeypatch.context() as m:
            m.setattr(text_block, "MIN_LINES", min_lines)
            assert read_into_table(str(path))[1] == by_lines
    assert len(table) == len(by_lines[0]) == by_lines[1].packets
    from_records = table_from_records("p", by_lines[0])
    assert track_table(table) == track_table(from_records)
    assert tcp_columns(table) == tcp_columns(from_records)
    return by_lines, table


_TCP_KNOWN = K_SEQ | K_SEQ1 | K_ACK1 | K_REL | K_WIN | K_TS


def tcp_columns(table: PacketTable) -> dict[str, list[int]]:
    """The TCP columns of every row: a row that keeps its record (filled from it by
    ``fill_row``) holds what the text columns hold for the same line."""
    cols = {k: table.column(k) for k in ("proto", "flags", "seq", "ack", "window", "ts_val",
                                         "known")}
    tcp = cols["proto"] == 6
    out = {k: v[tcp].tolist() for k, v in cols.items() if k != "known"}
    out["known"] = (cols["known"][tcp] & _TCP_KNOWN).tolist()
    return out


def tcpdump_lines(seed: int, conns: int, absolute: bool = False, column: bool = False
                  ) -> list[str]:
    """Interleaved connections as ``tcpdump -n`` prints them (``-S`` when ``absolute``)."""
    rng = random.Random(seed)
    out: list[tuple[int, str]] = []
    for c in range(conns):
        t = rng.randrange(10**9)
        six = c % 7 == 3
        cli = f"2001:db8::{c % 200 + 1:x}.{40000 + c}" if six else f"198.51.100.{c % 250 + 1}." \
            f"{30000 + c}"
        srv = "2001:db8::ffff.443" if six else f"203.0.113.{c % 3 + 1}.80"
        ip = "IP6" if six else "IP"
        isn_c, isn_s = rng.randrange(1 << 32), rng.randrange(1 << 32)
        col = (f"eth{c % 2}  {'Out' if c % 2 else 'In '} " if column else "")
        excerpt = c % 11 == 5  # starts mid-connection: small numbers, no handshake seen
        sent_c = sent_s = 0

        def line(src: str, dst: str, text: str, when: int, head: str = f"{col}{ip}") -> None:
            out.append((when, f"{head} {src} > {dst}: {text}"))

        def num(isn: int, rel: int) -> int:
            return (isn + rel) % (1 << 32) if absolute else rel

        if not excerpt:
            line(cli, srv, f"Flags [S], seq {isn_c}, win 64240, options [mss 1460,sackOK,TS val "
                 f"{t} ecr 0,nop,wscale 7], length 0", t)
            for _ in range(1 + (c % 13 == 0)):  # a SYN-ACK sent twice now and then
                t += rng.randrange(1, 300)
                line(srv, cli, f"Flags [S.], seq {isn_s}, ack {(isn_c + 1) % (1 << 32)}, win "
                     f"65160, options [mss 1460,sackOK,TS val {t} ecr {t - 5},nop,wscale 7], "
                     "length 0", t)
            sent_c = sent_s = 1
            t += rng.randrange(1, 300)
            line(cli, srv, f"Flags [.], ack {num(isn_s, 1)}, win 502, options [nop,nop,TS val "
                 f"{t} ecr {t - 1}], length 0", t)
        for _ in range(rng.randrange(1, 6)):
            for client in (True, False):  # a request, a reply (either may be empty)
                size = rng.choice([0, 40, 1448] if client else [0, 100, 1448])
                t += rng.randrange(1, 5000)
                if not size:
                    continue
                mine, theirs = (sent_c, sent_s) if client else (sent_s, sent_c)
                isn, peer_isn = (isn_c, isn_s) if client else (isn_s, isn_c)
                ts = f"options [nop,nop,TS val {t} ecr {t - 2}], " if client else ""
                line(cli if client else srv, srv if client else cli,
                     f"Flags [P.], seq {num(isn, mine)}:{num(isn, mine + size)}, ack "
                     f"{num(peer_isn, theirs)}, win 502, {ts}length {size}", t)
                if client:
                    sent_c += size
                else:
                    sent_s += size
            t += rng.randrange(1, 300)
            sack = f"options [nop,nop,sack 1 {{{sent_s}:{sent_s + 9}}}]" if c % 17 == 4 else \
                f"options [nop,nop,TS val {t} ecr {t - 3}]"
            line(cli, srv, f"Flags [.], ack {num(isn_s, sent_s)}, win 502, {sack}, length 0", t)
        if c % 5 == 2:
            t += 50
            line(cli, "203.0.113.53.53" if not six else "2001:db8::35.53",
                 f"{c % 65536}+ A? example.com. (29)", t)
            line(srv, cli, "UDP, length 12", t + 1)
        t += rng.randrange(1, 900)
        line(cli, srv, f"Flags [F.], seq {num(isn_c, sent_c)}, ack {num(isn_s, sent_s)}, win "
             "502, length 0", t)
        line(srv, cli, f"Flags [F.], seq {num(isn_s, sent_s)}, ack {num(isn_c, sent_c + 1)}, "
             "win 509, length 0", t + 7)
        line(cli, srv, f"Flags [.], ack {num(isn_s, sent_s + 1)}, win 502, length 0", t + 9)
    out.sort(key=lambda item: item[0])
    start = 8 * 3600 * 10**6
    return [f"{(start + when) // 3_600_000_000 % 24:02d}:{(start + when) // 60_000_000 % 60:02d}"
            f":{(start + when) // 1_000_000 % 60:02d}.{(start + when) % 1_000_000:06d} {text}"
            for when, text in out]


@pytest.mark.parametrize(("absolute", "column"), [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("block", [300, 4096, 1 << 18])
def test_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, absolute: bool,
                     column: bool, block: int) -> None:
    monkeypatch.setattr(tcpdump_text, "TABLE_BLOCK", block)
    monkeypatch.setattr(tcpdump_text, "BLOCK", block)
    path = tmp_path / "c.txt"
    path.write_text("\n".join(tcpdump_lines(block, 300, absolute, column)) + "\n")
    (records, stats, error), table = same_every_way(path, monkeypatch)
    assert not error and not stats.skipped and len(records) > 3000
    kept = sum(len(b.odd) for b in table.batches)
    if block == 1 << 18:
        assert kept * 20 < len(records)  # most rows are columns only
    excerpts = any(r.l4 is not None and getattr(r.l4, "seq_relative", False) for r in records)
    assert excerpts != absolute  # relative numbers of the excerpts stay relative


@pytest.mark.parametrize("odd", [
    "IP 198.51.100.4.51512 > 203.0.113.223.70000: Flags [.], ack 1, win 502, length 0",
    "IP 198.51.100.4.1 > 203.0.113.2.53: 16962+ A? example.com. (29)=",
    "IP 198.51.100.4.51512 > 203.0.113.223.22: Flags [.], ack 1, win 502, length 0\r",
    "IP 198.51.100.4.51512 > 203.0.113.223.22: Flags [S], seq 1, win 5, length 0\n"
    "    (tos 0x0, ttl 64, id 1, offset 0)",
    "IP nodeA.local.4789 > nodeB.local.4789: Flags [S], seq 1, win 5, length 0",
    "IP6 2001:db8:1::1:g.5 > 2001:db8::2.6: Flags [S], seq 1, win 5, length 0",  # not IPv6
    "IP6 1::2::3.5 > 2001:db8::2.6: Flags [S], seq 1, win 5, length 0",
    "IP 198.51.100.4.5 > 203.0.113.2.6: Flags [.], ack 1, win 99999, length 0",
    "IP 010.1.1.1.5 > 203.0.113.2.6: Flags [.], seq 1:2, ack 1, win 9, length 1",
    "this line is not a packet",
    "02:00:00.000000 IP 198.51.100.4.5 > 203.0.113.2.6: Flags [.], ack 1, win 9, length 0",
    # a byte the line parser takes for a space, in an address or the -i any column
    "IP 198.51.100.4\u00a0.51512 > 203.0.113.223.22: Flags [.], ack 1, win 502, length 0",
    "IP 198.51.100.4\x1c.51512 > 203.0.113.223.22: Flags [.], ack 1, win 502, length 0",
    "eth\u00a00 In  IP 198.51.100.4.51512 > 203.0.113.223.22: Flags [.], ack 1, win 5, length 0",
    "eth\x1f0 In  IP 198.51.100.4.51512 > 203.0.113.223.22: Flags [.], ack 1, win 5, length 0",
    # more digits in a row than the line parser reads
    "IP 198.51.100.4.51512 > 203.0.113.223.22: Flags [.], ack 1, win 502, length 0: "
    + "7" * 4301,
    "IP 198.51.100.4.51512 > 203.0.113.223.22: Flags [.], ack 1, win 502, options [nop,"
    + "7" * 4301 + "], length 0",
])
def test_lines_handed_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: str) -> None:
    lines = tcpdump_lines(7, 40)
    lines[len(lines) // 2] = lines[len(lines) // 2][:16] + odd
    path = tmp_path / "o.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    by_lines, _table = same_every_way(path, monkeypatch)
    assert by_lines == by_line_parser(path, monkeypatch)


@pytest.mark.parametrize(("fmt", "bad"), [
    ("{h}.{f:06d}", "25:"),
    ("{h}.{f:06d}", "99:"),
    ("2026-11-25 {h}.{f:06d}", "2026-13-"),
    ("2026-11-25 {h}.{f:06d}", "3202-"),  # past the times a packet table holds
    ("2026-11-25 {h}.{f:06d}", "2262-04-11 23:47:16.999999"),  # its last second
    ("{e}.{f:06d}", "9999999999."),
])
def test_time_out_of_range_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str,
                                 bad: str) -> None:
    """A line of the common form whose time is out of range (mangled in pasting) is named as
    the line parser names it, whichever path reads it, and keeps its place by order."""
    lines = [restamp(line, fmt) for line in tcpdump_lines(7, 40)]
    i = len(lines) // 2
    lines[i] = bad + lines[i][len(bad):]
    path = tmp_path / "t.txt"
    path.write_text("\n".join(lines) + "\n")
    by_lines, _table = same_every_way(path, monkeypatch)
    assert by_lines == by_line_parser(path, monkeypatch)
    assert any(f"line {i + 1}: timestamp '{bad}" in w for w in by_lines[1].warnings)
    assert [r.time_ok for r in by_lines[0] if r.frame == i + 1] == [False]


def by_line_parser(path: Path, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """``read_records`` of ``path`` with the fast pattern replaced: every line through the
    line parser, the reference reading of any line."""
    with monkeypatch.context() as m:
        m.setattr(text_fast, "_LINE", None)
        return read_records(str(path))


@pytest.mark.parametrize("options", [
    "mss ,sa1460ckOK,TS val 1 ecr 0,nop,wscale 7",
    "mss 1460,sackOK,TS 1val  ecr 0,nop,wscale 7",
    "mss 14,60sackOK,TS val 1 ecr 0,nop,wscale 7",
])
def test_mangled_syn_options_among_linux_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              options: str) -> None:
    """A block whose option texts are all the Linux SYN's but one that has all its characters
    with a number out of its place: that one is not read as the Linux SYN's."""
    lines = [line for line in tcpdump_lines(7, 40) if "sack 1 {" not in line]
    syns = [i for i, line in enumerate(lines) if "Flags [S]" in line]
    i = syns[len(syns) // 2]
    head, _, tail = lines[i].partition("options [")
    lines[i] = head + "options [" + options + "]" + tail.partition("]")[2]
    path = tmp_path / "m.txt"
    path.write_text("\n".join(lines) + "\n")
    (records, _stats, _error), _table = same_every_way(path, monkeypatch)
    read = [r.headers.l4 for r in records if r.frame == i + 1]
    assert not read or (isinstance(read[0], TCPHeader) and read[0].options.mss != 1460)


def test_a_datagram_of_digits_read_as_the_line_parser(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A datagram whose text is digits alone, the digits of a number printed before (a
    window): its length is what the line parser reads (none), in a block and line by line."""
    lines = [line for line in tcpdump_lines(3, 30) if "sack 1 {" not in line]
    udp = "IP 198.51.100.7.5353 > 203.0.113.9.5353: "
    for i in range(5, len(lines), 7):
        lines[i] = lines[i][:16] + udp + ("502" if i % 2 else "UDP, length 502")
    assert any(", win 502," in line for line in lines)
    path = tmp_path / "d.txt"
    path.write_text("\n".join(lines) + "\n")
    (records, _stats, _error), _table = same_every_way(path, monkeypatch)
    assert records == by_line_parser(path, monkeypatch)[0]
    got = {r.frame: r.headers.l4.payload_len for r in records}
    assert [got[i + 1] for i in range(5, len(lines), 7)][:4] == [0, 502, 0, 502]


def test_fault_partway_keeps_the_rows_before(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    lines = tcpdump_lines(3, 60)
    data = ("\n".join(lines[:500]) + "\n").encode() + b"08:10:55.000000 IP x\0\n" + (
        "\n".join(lines[500:]) + "\n").encode()
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    (records, _stats, error), table = same_every_way(path, monkeypatch)
    assert "NUL" in error and len(records) == len(table) == 500


def restamp(line: str, fmt: str) -> str:
    """``line`` (of ``tcpdump_lines``) with its time of day printed as ``fmt`` says: ``e``
    epoch seconds, ``h`` the time of day, ``f`` the microseconds."""
    hms, frac = line[:15].split(".")
    h, m, s = map(int, hms.split(":"))
    return fmt.format(e=1795594255 + h * 3600 + m * 60 + s, h=hms, f=int(frac)) + line[15:]


def test_epoch_and_date_stamps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i, fmt in enumerate(("{e}.{f:06d}", "2026-11-25 {h}.{f:06d}")):
        lines = [restamp(line, fmt) for line in tcpdump_lines(11 + i, 80)]
        path = tmp_path / f"t{i}.txt"
        path.write_text("\n".join(lines) + "\n")
        (records, _stats, error), _table = same_every_way(path, monkeypatch)
        assert not error and records[0].ts_ns > 10**18


def test_a_row_keeps_ttl_and_tos_apart(tmp_path: Path) -> None:
    """fill_row marks the TTL known from the record's TTL (once from its TOS): a line with a
    TTL and no TOS keeps the TTL, one with a TOS and no TTL gets none."""
    from nettrail.model import table as tb

    path = tmp_path / "one.txt"
    path.write_text("08:10:54.514309 IP 198.51.100.4.51512 > 203.0.113.2.22: Flags [S], "
                    "seq 1, win 5, length 0\n")
    base = read_records(str(path))[0][0]
    ip = base.headers.ip
    assert ip is not None
    for ttl, tos in ((64, None), (None, 16), (64, 16)):
        rec = base._replace(headers=base.headers._replace(ip=ip._replace(ttl=ttl, tos=tos)))
        table = PacketTable("p")
        cols = tb.empty_columns(1)
        tb.fill_row(table, cols, 0, rec, table.file_id(rec.file))
        row = tb.column_record(table, {k: int(v[0]) for k, v in cols.items()})
        assert row.headers.ip is not None and row.headers.ip.ttl == ttl


def test_more_interface_columns_than_15_bits(tmp_path: Path) -> None:
    """``-i any`` lines naming 32,770 interfaces keep each its own (the columns and the
    records rebuilt from them)."""
    n = (1 << 15) + 2
    path = tmp_path / "any.txt"
    path.write_text("".join(
        f"08:10:54.{i % 1000000:06d} if{i} In  IP 198.51.100.4.{1024 + i % 60000} > "
        "203.0.113.2.22: Flags [S], seq 1, win 5, length 0\n" for i in range(n)))
    table, _ = read_into_table(str(path))
    names = [r.ifname for r in table.records()]
    assert names == [f"if{i}" for i in range(n)]


@pytest.mark.parametrize("block", [300, 1 << 18])
def test_cr_line_ends_read_as_lf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 block: int) -> None:
    """A file whose lines end in CR alone (old Mac OS editors) reads as the same lines
    ending in LF, with a warning; it was one line, every packet after the first lost."""
    monkeypatch.setattr(tcpdump_text, "TABLE_BLOCK", block)
    monkeypatch.setattr(tcpdump_text, "BLOCK", block)
    text = "\n".join(tcpdump_lines(5, 30)) + "\n"
    lf, cr = tmp_path / "lf.txt", tmp_path / "cr.txt"
    lf.write_text(text)
    cr.write_bytes(text.replace("\n", "\r").encode())
    (want, want_stats, _), _ = same_every_way(lf, monkeypatch)
    (got, got_stats, error), _ = same_every_way(cr, monkeypatch)
    assert not error and len(got) == len(want) > 300
    assert [(r.frame, r.ts_ns, r.headers) for r in got] == [
        (r.frame, r.ts_ns, r.headers) for r in want]
    assert any("CR line ends" in w for w in got_stats.warnings)
    assert not any("CR line ends" in w for w in want_stats.warnings)


_OTHER_LINES = [  # lines of other forms, each with the time of the line before it
    "ARP, Request who-has 198.51.100.1 tell 198.51.100.2, length 28",
    "IP 198.51.100.9 > 203.0.113.1: ICMP echo request, id 7, seq 1, length 64",
    "IP 203.0.113.53.53 > 198.51.100.7.41000: 37247 op7 [b2&3=0x3866] Type41072 (Class 4)? "
    "<BAD PTR> (42)",
    "IP6 fe80::1 > ff02::2: ICMP6, router solicitation, length 16",
    "eth0  In  ARP, Request who-has 198.51.100.1 tell 198.51.100.2, length 28",
    "IP 198.51.100.7 > 203.0.113.5: GREv0, length 60: IP 198.18.0.1 > 198.18.0.2: ICMP echo "
    "request, id 1, seq 1, length 40",
    "LLDP, length 110",
    "IP this is not a packet",
    "\x1cIP 198.51.100.9 > 203.0.113.1: ICMP echo request, id 7, seq 2, length 64",  # a space
]
_NOT_HOLES = [  # lines that may change how the common lines after them read
    "IP 198.51.100.7.40000 > 203.0.113.5.80: Flags [S], seq 12345, win 64240, options [mss "
    "1460,sackOK,eol], length 0",
    "IP 198.51.100.7 > 203.0.113.5: GREv0, length 88: IP 198.18.0.1.5000 > 198.18.0.2.80: "
    "Flags [S], seq 1, win 100, length 0",
    "IP 198.51.100.7.40000 > 203.0.113.5.80: tcp 0",
    "IP 198.51.100.7.68 > 255.255.255.255.67: BOOTP/DHCP, Request from 02:00:00:00:00:01, "
    "length 300 &amp; <br> 08:00:00.000001 IP 198.51.100.7.40000 > 203.0.113.5.80: Flags [S], "
    "seq 9, win 9, length 0",
    "IP 198.51.100.7.68 > 255.255.255.255.67: BOOTP/DHCP, Request, length 300 =3D",
    "IP 198.51.100.7.68 > 255.255.255.255.67: BOOTP/DHCP, Request, length 300 =",
    "ARP, Request who-has 198.51.100.1 tell 198.51.100.2, length 28\n\t0x0000:  0001 0800",
]


def _with_other_lines(seed: int, every: int, others: list[str], stamp: str = "") -> list[str]:
    """``tcpdump_lines`` (relative numbers) with one of ``others`` after every ``every``
    lines, stamped with the time of the line before (or ``stamp``)."""
    rng = random.Random(seed)
    out = []
    for k, line in enumerate(tcpdump_lines(seed, 200)):
        out.append(line)
        if k % every == every - 1:
            for _ in range(rng.choice((1, 1, 1, 2))):  # now and then two in a row
                out.append(f"{stamp or line[:15]} {rng.choice(others)}")
    return out


def _spy_across(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What each ``TextReader._across`` call gave (True: the stretch was taken)."""
    taken: list[bool] = []
    across = tcpdump_text.TextReader._across

    def spy(self: tcpdump_text.TextReader, *args: Any) -> Any:
        done = yield from across(self, *args)
        taken.append(done)
        return done

    monkeypatch.setattr(tcpdump_text.TextReader, "_across", spy)
    return taken


@pytest.mark.parametrize("every", [3, 25, 90])
@pytest.mark.parametrize("block", [4096, 1 << 18])
def test_common_lines_filled_across_other_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                every: int, block: int) -> None:
    """Lines of other forms that cannot change how the common lines after them read (ARP,
    ICMP, DNS, unreadable lines) do not end a run of common lines: the lines around them are
    filled in one go, and everything reads as line by line."""
    monkeypatch.setattr(tcpdump_text, "TABLE_BLOCK", block)
    taken = _spy_across(monkeypatch)
    path = tmp_path / "h.txt"
    path.write_text("\n".join(_with_other_lines(every, every, _OTHER_LINES)) + "\n")
    by_lines, table = same_every_way(path, monkeypatch)
    assert by_lines == by_line_parser(path, monkeypatch)
    records, stats, _error = by_lines
    assert stats.skipped["other-protocol"] and stats.skipped["unparsed-line"]
    assert True in taken
    kept = sum(len(b.odd) for b in table.batches)
    assert kept < len(records) // every + 50  # the common lines go in as columns


def test_records_of_any_rows_in_any_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    """The records of rows asked for in any order, kept ones and rebuilt ones mixed, over
    several batches, are the table's records of those rows (rebuilt a batch at a time)."""
    monkeypatch.setattr(text_table, "BATCH_ROWS", 500)
    path = tmp_path / "h.txt"
    path.write_text("\n".join(_with_other_lines(25, 25, _OTHER_LINES)) + "\n")
    table, (records, _stats, _error) = read_into_table(str(path))
    assert len(table.batches) > 2 and any(b.odd for b in table.batches)
    rows = list(range(len(records))) * 2
    random.Random(7).shuffle(rows)
    got = table.records_of(np.array(rows, np.int64))
    assert got == [records[i] for i in rows]
    assert [table.record(i) for i in rows[:300]] == [records[i] for i in rows[:300]]


@pytest.mark.parametrize("other", _NOT_HOLES)
def test_lines_that_end_a_stretch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  other: str) -> None:
    """TCP (outside or in a tunnel), lines a pasting repair changes, soft breaks and lines
    continued by the next are not filled across, and read as line by line."""
    path = tmp_path / "n.txt"
    path.write_text("\n".join(_with_other_lines(5, 40, [other, *_OTHER_LINES[:2]])) + "\n")
    by_lines, _table = same_every_way(path, monkeypatch)
    assert by_lines == by_line_parser(path, monkeypatch)


@pytest.mark.parametrize("stamp", ["25:13:20.000000", "20:13:20.000000", "08:00:01.0001",
                                   " 00:00:00.000100", "2026-12-05 08:00:01.000000"])
def test_other_lines_with_odd_stamps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     stamp: str) -> None:
    """Other lines whose stamps are not usable, hours away, shaped otherwise or of another
    kind are judged as line by line (their warnings in line order)."""
    path = tmp_path / "s.txt"
    lines = _with_other_lines(9, 30, _OTHER_LINES[:3])
    lines[len(lines) // 2 :] = _with_other_lines(9, 30, _OTHER_LINES[:3], stamp)[
        len(lines) // 2 :]
    path.write_text("\n".join(lines) + "\n")
    by_lines, _table = same_every_way(path, monkeypatch)
    assert by_lines == by_line_parser(path, monkeypatch)
    assert by_lines[1].warnings


@pytest.mark.parametrize("hours", [3, 11])
def test_mangled_time_among_other_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        hours: int) -> None:
    """A common line whose time is hours off (mangled) among lines of other forms that warn:
    the warnings come in line order, as line by line (the other lines are read when the
    judging of the lines before them is done)."""
    lines = _with_other_lines(6, 7, _OTHER_LINES[:2])  # lines that do not warn
    k = len(lines) // 2
    while " Flags [" not in lines[k]:
        k += 1
    lines[k] = f"{(int(lines[k][:2]) + hours) % 24:02d}{lines[k][2:]}"
    for at, other in ((k + 9, "IP this is not a packet"), (k + 5, "LLDP, length 110")):
        lines.insert(at, f"{lines[at - 1][:15]} {other}")  # the first that warn, after it
    path = tmp_path / "t.txt"
    path.write_text("\n".join(lines) + "\n")
    by_lines, _table = same_every_way(path, monkeypatch)
    assert by_lines == by_line_parser(path, monkeypatch)
    assert any("mangled" in w for w in by_lines[1].warnings)


def test_other_lines_across_midnight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stretch that crosses midnight, other lines before and after it: the day moves on
    once, at the right line."""
    lines = _with_other_lines(4, 20, _OTHER_LINES[:2])
    shift = (16 * 3600 - 500) * 10**6  # the text starts at 08:00 and lasts about 1,000 s
    for k, line in enumerate(lines):
        h, m, s = (int(x) for x in line[:8].split(":"))
        us = ((h * 3600 + m * 60 + s) * 10**6 + int(line[9:15]) + shift) % (86400 * 10**6)
        lines[k] = (f"{us // 3_600_000_000:02d}:{us // 60_000_000 % 60:02d}:"
                    f"{us // 1_000_000 % 60:02d}.{us % 1_000_000:06d}{line[15:]}")
    path = tmp_path / "d.txt"
    path.write_text("\n".join(lines) + "\n")
    (records, _stats, _error), _table = same_every_way(path, monkeypatch)
    assert records[0].ts_ns < 86400 * 10**9 < records[-1].ts_ns
    assert (records[-1].ts_ns - records[0].ts_ns) < 2000 * 10**9
    assert by_line_parser(path, monkeypatch)[0] == records


def test_paste_keeps_only_what_clean_leaves() -> None:
    """``Paste.keeps`` says yes only for a line ``clean`` gives back unchanged, unwarned."""
    lines = [*_OTHER_LINES, *_NOT_HOLES, "> 08:00:00.000000 ARP, length 28",
             "08:00:00.000000 IP 1.2.3.4 > 5.6.7.8: ICMP **echo** request",
             "08:00:00.000000 IP 1.2.3.4 > 5.6.7.8: ICMP echo `request`",
             "08:00:00.000000 IP 1.2.3.4 > 5.6.7.8: ICMP echo &lt;request",
             "08:00:00.000000 IP 1.2.3.4 > 5.6.7.8: ICMP echo <b>request</b>"]
    for line in lines:
        stats = CaptureStats(path="p", point="p")
        paste = Paste(Warner(stats))
        keeps = paste.keeps(line)
        assert keeps == (paste.clean(line, 1) == [line] and not stats.warnings), line
    assert sum(Paste(Warner(CaptureStats(path="p", point="p"))).keeps(x) for x in lines) > 5


@pytest.mark.parametrize("rows", [7, 100, 1 << 18])
@pytest.mark.parametrize("every", [4, 30])
def test_kept_rows_among_lines_at_batch_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             rows: int, every: int) -> None:
    """The rows that keep their records (other lines, UDP among TCP) lie among the lines
    given as columns in one piece: every row in its place, the options of the lines after
    them on their own rows, when a batch ends among them too."""
    monkeypatch.setattr(text_table, "BATCH_ROWS", rows)
    path = tmp_path / "k.txt"
    path.write_text("\n".join(_with_other_lines(every, every, _OTHER_LINES[:3])) + "\n")
    by_lines, table = same_every_way(path, monkeypatch)
    assert by_lines == by_line_parser(path, monkeypatch)
    assert any(b.odd for b in table.batches)
    assert any(len(b.odd) < len(b) for b in table.batches)
    if rows == 7:
        assert len(table.batches) > 1


def test_an_address_pair_of_tcp_and_udp_in_one_block(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Datagrams printed with the address pair of a TCP connection of the same block (a text
    of both protocols among the block's new pairs), and others of their own: read as line by
    line."""
    lines = [line for line in tcpdump_lines(5, 40) if "sack 1 {" not in line]
    for i in range(7, len(lines), 9):
        addrs = lines[i + 1][16:].split(":", 1)[0] if i % 2 else "IP 198.51.100.7.53 > 10.0.0.9.53"
        lines[i] = f"{lines[i][:16]}{addrs}: UDP, length {i}"
    path = tmp_path / "both.txt"
    path.write_text("\n".join(lines) + "\n")
    (records, _stats, _error), _table = same_every_way(path, monkeypatch)
    assert sum(r.l4 is not None and r.l4.__class__.__name__ == "UDPHeader" for r in records) > 10
