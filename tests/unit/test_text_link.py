"""``-e`` and ``-v`` tcpdump lines read through the fast path give what the general path gives.

Texts of many interleaved connections (``test_text_table.tcpdump_lines``) are printed as
tcpdump ``-e`` (Ethernet header, VLAN tags), ``-i any -e`` (SLL2: interface, direction,
ifindex, one MAC), ``-v`` (the IPv4 header line, then the indented transport line with its
checksum) and ``-e -v`` print them. Each is read as is and with the rewriting of such lines
turned off (every one of them then takes the general path, ``text_parse``): records, counts
and warnings must be the same, and so must the packet table (its records, the analysis of
it). Odd lines among them (mangled numbers, ARP, LLC, ICMP, a header without its transport
line, a wrapped transport line, a hex dump, pasting damage, IPv6, an IP ID out of range)
must fall back to the general path unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_text_table import tcpdump_lines

from nettrail.analyze.table_flows import track_table
from nettrail.capture import tcpdump_text, text_block
from nettrail.capture.text_link import LinkLine
from nettrail.model.table import PacketTable, table_from_records
from textread import Outcome, read_into_table, read_records


def _split(line: str) -> tuple[str, str, str, str]:
    """Stamp, ``-i any`` column, keyword and the rest of a plain line."""
    stamp, _, body = line.partition(" ")
    column = ""
    if not body.startswith("IP"):
        name, _, body = body.partition("  ")
        direction, _, body = body.partition(" ")
        column = f"{name}  {direction} " + " " * (direction == "In")
        body = body.lstrip()
    keyword, _, rest = body.partition(" ")
    return stamp, column, keyword, rest


def _macs(i: int) -> str:
    return f"02:00:00:00:{i % 7:02x}:{i % 3:02X} > 02:00:00:01:00:01"


def _header(i: int, rest: str) -> tuple[str, str]:
    """The ``-v`` IPv4 header of a line (without ``IP ``) and its transport line."""
    addrs, _, tail = rest.partition(": ")
    tcp = tail.startswith("Flags [")
    if tcp:
        flags, _, after = tail.partition("]")
        check = "correct" if i % 2 else f"incorrect -> 0x{(i + 1) % 65536:04x}"
        tail = f"{flags}], cksum 0x{i % 65536:04x} ({check}){after}"
    bad = ", bad cksum 0 (->bed2)!" if i % 11 == 0 else ""
    header = (f"(tos 0x{i % 4:x}, ttl {64 - i % 3}, id {i * 7 % 65536}, offset 0, flags "
              f"[{'DF' if i % 5 else 'none'}], proto {'TCP (6)' if tcp else 'UDP (17)'}, "
              f"length {40 + i % 1400}{bad})")
    return header, f"    {addrs}: {tail}"


def printed(line: str, i: int, form: str) -> str:
    """A plain line as tcpdump prints it with ``form``'s options."""
    stamp, column, keyword, rest = _split(line)
    v4 = keyword == "IP"
    etype = "IPv4 (0x0800)" if v4 else "IPv6 (0x86dd)"
    length = 60 + i % 1400
    if form == "e" or (form == "ev" and not v4):
        return f"{stamp} {column}{_macs(i)}, ethertype {etype}, length {length}: {rest}"
    if form == "vlan":
        return (f"{stamp} {_macs(i)}, ethertype 802.1Q (0x8100), length {length}: vlan "
                f"{i % 4094 + 1}, p {i % 8}, ethertype {etype}, {rest}")
    if form == "sll2":
        return (f"{stamp} eth{i % 2}  {'In ' if i % 3 else 'Out'} ifindex {4 + i % 2} "
                f"02:00:00:00:00:{i % 250:02x} ethertype {etype}, length {length}: {rest}")
    if not v4:
        return line
    header, transport = _header(i, rest)
    if form == "v":
        return f"{stamp} {column}IP {header}\n{transport}"
    return f"{stamp} {_macs(i)}, ethertype {etype}, length {length}: {header}\n{transport}"


FORMS = ["e", "vlan", "sll2", "v", "ev"]


def text(form: str, seed: int = 5, conns: int = 60) -> list[str]:
    column = form in ("e", "v") and seed % 2 == 1
    return [printed(line, i, form)
            for i, line in enumerate(tcpdump_lines(seed, conns, column=column))]


def fast_and_general(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Outcome, int]:
    """The records of ``path`` read as is (asserted equal to the general path's, and to the
    table's both ways, with the analysis of the table), and how many lines kept fields."""
    stored = [0]
    store = LinkLine._store

    def counted(self: LinkLine, lines: list[int], vals: object) -> None:
        stored[0] += len(lines)
        store(self, lines, vals)  # type: ignore[arg-type]

    with monkeypatch.context() as m:
        m.setattr(LinkLine, "_store", counted)
        fast = read_records(str(path))
    with monkeypatch.context() as m:
        m.setattr(LinkLine, "prepare", lambda self, block, first: None)
        general = read_records(str(path))
    assert fast == general
    table, by_fields = read_into_table(str(path))
    assert by_fields == fast
    for min_lines in (16, 1 << 30):
        with monkeypatch.context() as m:
            m.setattr(text_block, "MIN_LINES", min_lines)
            assert read_into_table(str(path))[1] == fast
    assert track_table(table) == track_table(table_from_records("p", fast[0]))
    assert_columns(table, table_from_records("p", fast[0]))
    return fast, stored[0]


def assert_columns(table: PacketTable, from_records: PacketTable) -> None:
    """The columns the kept fields fill are those ``fill_row`` fills from the records."""
    for name in ("wire_len", "ttl", "tos", "ip_id", "ip_len", "payload_len", "iface",
                 "direction"):
        assert (table.column(name) == from_records.column(name)).all(), name
    bits = 2 | 16 | 32 | 128  # K_IPID, K_DF, K_MF, K_TTL
    assert ((table.column("known") & bits) == (from_records.column("known") & bits)).all()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("block", [300, 4096, 1 << 18])
def test_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str, block: int) -> None:
    monkeypatch.setattr(tcpdump_text, "TABLE_BLOCK", block)
    monkeypatch.setattr(tcpdump_text, "BLOCK", block)
    path = tmp_path / "c.txt"
    path.write_text("\n".join(text(form, seed=block % 7)) + "\n")
    (records, stats, error), stored = fast_and_general(path, monkeypatch)
    assert not error and not stats.skipped and len(records) > 500
    if form in ("e", "vlan", "sll2", "ev"):
        assert all(r.headers.eth is not None for r in records)
    if form in ("v", "ev"):
        assert all(r.ip is not None and (r.ip.version == 6 or r.ip.ttl) for r in records)
    if block == 1 << 18:  # the fast path read nearly all of the -e / -v lines
        printed_so = sum(1 for r in records if r.headers.eth is not None
                         or (r.ip is not None and r.ip.ttl is not None))
        assert stored * 10 > printed_so * 9 > len(records) * 4


def test_table_rows_are_columns(tmp_path: Path) -> None:
    """The rewritten lines fill the table's columns without a record each."""
    for form in FORMS:
        path = tmp_path / f"{form}.txt"
        path.write_text("\n".join(text(form, conns=200)) + "\n")
        table, (records, _stats, error) = read_into_table(str(path))
        assert not error and len(records) > 2000
        assert sum(len(b.odd) for b in table.batches) * 20 < len(records), form


ODD = [
    "02:00:00:00:00:01 > 02:00:00:01:00:01, ethertype IPv4 (0x0800), length 66: "
    "198.51.100.4.51512 > 203.0.113.223.70000: Flags [.], ack 1, win 502, length 0",
    "02:00:00:00:00:01 > 02:00:00:01:00:01, ethertype IPv4 (0x0800), length 66: "
    "198.51.100.4.51512 > 203.0.113.223.22: Flags [.], ack 1, win 502, length 99999999999",
    "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has "
    "198.51.100.1 tell 198.51.100.4, length 28",
    "02:00:00:00:00:01 > 01:80:c2:00:00:00, 802.3, length 60: LLC, dsap STP (0x42) Individual",
    "02:00:00:00:00:01 > 02:00:00:01:00:01, ethertype IPv4 (0x0800), length 66: "
    "198.51.100.4.1 > 203.0.113.2.80: Flags [P.], seq 1:9, ack 1, win 5, length 8: HTTP: "
    "GET /?a=1&amp;b=*2* HTTP/1.1",
    "02:00:00:00:00:01 > 02:00:00:01:00:01, ethertype IPv6 (0x86dd), length 86: "
    "2001:db8::1.22 > 2001:db8::2.40000: Flags [.], ack 1, win 5, length 0",
    "02:00:00:00:00:01 > 02:00:00:01:00:01, ethertype IPv6 (0x86dd), length 86: (flowlabel "
    "0x12345, hlim 64, next-header TCP (6) payload length: 32) 2001:db8::1.22 > "
    "2001:db8::2.40000: Flags [.], cksum 0x1234 (correct), ack 1, win 5, length 0",
    "02:00:00:00:00:01 > 02:00:00:01:00:01, ethertype 802.1Q (0x8100), length 70: vlan 7, p 0, "
    "ethertype ARP (0x0806), Request who-has 198.51.100.1 tell 198.51.100.4, length 28",
    "IP (tos 0x0, ttl 64, id 1, offset 0, flags [none], proto ICMP (1), length 84)\n"
    "    198.51.100.4 > 203.0.113.2: ICMP echo request, id 1, seq 1, length 64",
    "IP (tos 0x0, ttl 64, id 2, offset 0, flags [DF], proto TCP (6), length 52)",
    "IP (tos 0x0, ttl 64, id 3, offset 0, flags [DF], proto TCP (6), length 52)\n"
    "    198.51.100.4.51512 > 203.0.113.223.22: Flags [.], cksum 0x1 (correct), ack 1, wi\n"
    "n 502, length 0",
    "IP (tos 0x0, ttl 64, id 4, offset 0, flags [DF], proto TCP (6), length 52)\n"
    "    198.51.100.4.51512 > 203.0.113.223.22: Flags [.], cksum 0x1 (correct), ack 1, win 5, "
    "length 0\n\t0x0000:  4500 0034 0004 4000 4006 0000 c633 6404",
    "IP (tos 0x0, ttl 64, id 5, offset 0, flags [DF], proto TCP (6), length 52)\n"
    "    198.51.100.4.1 > 203.0.113.2.53: 16962+ A? example.com. (29)",
    "IP (tos 0x0, ttl 64, id 70000, offset 0, flags [DF], proto UDP (17), length 57)\n"
    "    198.51.100.4.1 > 203.0.113.2.53: 16962+ A? example.com. (29)",
    "IP (tos 0x0, ttl 300, id 6, offset 0, flags [DF], proto TCP (6), length 52)\n"
    "    198.51.100.4.51512 > 203.0.113.223.22: Flags [.], cksum 0x1 (correct), ack 1, win 5, "
    "length 0",
    "IP (tos 0x0, ttl 64, id 7, offset 0, flags [DF], proto UDP (17), length 20)\n"
    "    198.51.100.4.1 > 203.0.113.2.5000: UDP, length 12",
    "IP (tos 0x0, ttl 64, id 8, offset 8, flags [+], proto UDP (17), length 1500)\n"
    "    198.51.100.4.1 > 203.0.113.2.4789: VXLAN, flags [I] (0x08), vni 100",
    "IP (tos 0x0, ttl 64, id 9, offset 0, flags [DF], proto TCP (6), length 0)\n"
    "    198.51.100.4.51512 > 203.0.113.223.22: Flags [P.], cksum 0x1 (correct), seq 1:9, "
    "ack 1, win 5, length 8",
    "ifindex 4 02:00:00:00:00:01 ethertype IPv4 (0x0800), length 66: "
    "198.51.100.4.51512 > 203.0.113.223.22: Flags [.], ack 1, win 502, length 0",
    "In 02:00:00:00:00:01 ethertype IPv4 (0x0800), length 66: "
    "198.51.100.4.51512 > 203.0.113.223.22: Flags [.], ack 1, win 502, length 0",
    "02:00:00:00:00:01 > 02:00:00:01:00:01, ethertype IPv4 (0x0800), length 66: "
    "198.51.100.4.51512 > 203.0.113.223.22: Flags [.], ack 1, win 502, length 0\r",
    "this line is not a packet",
]


@pytest.mark.parametrize("form", ["e", "v", "ev"])
@pytest.mark.parametrize("odd", ODD)
def test_odd_lines_fall_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str,
                             odd: str) -> None:
    lines = text(form, seed=3, conns=30)
    for at in (len(lines) // 3, len(lines) // 2):
        lines[at] = lines[at][:16] + odd
    path = tmp_path / "o.txt"
    path.write_text("\n".join(lines) + "\n")
    fast_and_general(path, monkeypatch)


@pytest.mark.parametrize("form", FORMS)
def test_one_line_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    """A file of a single packet, and of two (the last line of a file waits for the next)."""
    lines = text(form, seed=2, conns=1)
    for n in (1, 2):
        path = tmp_path / f"{n}.txt"
        path.write_text("\n".join(lines[:n]) + "\n")
        (records, _stats, error), _stored = fast_and_general(path, monkeypatch)
        assert not error and len(records) == n
