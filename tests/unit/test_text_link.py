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
from nettrail.capture.text_seq import SeqTracker
from nettrail.capture.text_time import Clock
from nettrail.model.packet import PROTO_TCP, PROTO_UDP, EthHeader
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


def quick_and_careful(path: Path, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """``fast_and_general`` of ``path``, asserted equal to its reading with every block
    rewritten line by line (``_careful``, no one-pattern reading)."""
    (records, stats, error), _stored = fast_and_general(path, monkeypatch)
    with monkeypatch.context() as m:
        m.setattr(LinkLine, "_quick", lambda self, block, first: None)
        assert read_records(str(path)) == (records, stats, error)
        assert read_into_table(str(path))[1] == (records, stats, error)
    return records, stats, error


def _plain(i: int) -> str:
    return tcpdump_lines(5, 40)[i]


@pytest.mark.parametrize("form", ["e", "vlan", "sll2", "v", "ev"])
def test_forms_read_with_one_pattern(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     form: str) -> None:
    """A text of one form is read without the careful reading, as it reads."""
    path = tmp_path / "f.txt"
    path.write_text("\n".join(text(form, seed=4, conns=80)) + "\n")
    careful = LinkLine._careful
    used = [0]

    def counted(self: LinkLine, block: bytes, first: int) -> object:
        used[0] += b"(0x86dd)" not in block
        return careful(self, block, first)

    with monkeypatch.context() as m:
        m.setattr(LinkLine, "_careful", counted)
        read_into_table(str(path))
    assert not used[0]
    records, _stats, error = quick_and_careful(path, monkeypatch)
    assert not error and len(records) > 1000


ODDER = [
    # a MAC the pattern takes but is no MAC: the block is read carefully
    lambda line: line.replace("02:00:00:00:", "02:00:00:0:0:", 1),
    lambda line: line.replace("02:00:00:00:", "02::00:00:", 1),
    lambda line: line.replace("02:00:00:00:", "02:00:00:00:00:", 1),
    # an -i any column with a ':' (the general path reads the line)
    lambda line: line.replace("eth0  ", "eth0:1  ", 1),
    # a checksum in an -e line without -v
    lambda line: line.replace("Flags [.], ", "Flags [.], cksum 0x1234 (correct), ", 1),
    # an IPv6 link among IPv4 ones
    lambda line: line[:16] + ODD[5],
    # the line without its link header, or with it twice
    lambda line: line[:16] + "IP " + line.partition(": ")[2],
    lambda line: line[:16] + line[16:].partition(": ")[0] + ": " + line[16:],
]


@pytest.mark.parametrize("form", ["e", "sll2", "ev"])
@pytest.mark.parametrize("odd", range(len(ODDER)))
def test_odder_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str,
                     odd: int) -> None:
    lines = text(form, seed=3, conns=30)
    for at in range(len(lines) // 5, len(lines), len(lines) // 4):
        lines[at] = ODDER[odd](lines[at])
    path = tmp_path / "o.txt"
    path.write_text("\n".join(lines) + "\n")
    quick_and_careful(path, monkeypatch)


@pytest.mark.parametrize("block", [300, 4096, 1 << 18])
def test_link_lines_among_plain_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     block: int) -> None:
    """``-e`` lines among plain ones, a block of them then plain ones, and the other way."""
    monkeypatch.setattr(tcpdump_text, "TABLE_BLOCK", block)
    monkeypatch.setattr(tcpdump_text, "BLOCK", block)
    plain = tcpdump_lines(6, 60)
    linked = [printed(line, i, "e") for i, line in enumerate(plain)]
    half = len(plain) // 2
    for lines in ([linked[i] if i % 3 else plain[i] for i in range(len(plain))],
                  linked[:half] + plain[half:], plain[:half] + linked[half:]):
        path = tmp_path / "m.txt"
        path.write_text("\n".join(lines) + "\n")
        records, _stats, error = quick_and_careful(path, monkeypatch)
        assert not error and len(records) == len(plain)


def test_bare_address_pairs() -> None:
    """A pair printed without ``IP `` (an -e line's, as the pattern cuts it) is the pair the
    common form's text makes, and so is its other direction."""
    fast = LinkLine("p", "p", Clock(), SeqTracker())
    texts = [b"198.51.100.4.51512 > 203.0.113.2.22", b"203.0.113.2.22 > 198.51.100.4.51512",
             b"a.b.c > 203.0.113.2.22", b"198.51.100.4.70000 > 203.0.113.2.22"]
    for text_ in texts:
        for proto in (PROTO_TCP, PROTO_UDP):
            bare = fast.pairs[fast._ends(text_, proto)] if fast._ends(text_, proto) >= 0 else None
            pid = fast._ends(b"IP " + text_, proto)
            assert bare == (fast.pairs[pid] if pid >= 0 else None)


def test_new_links_at_once() -> None:
    """Link headers read together are read as each alone."""
    keys = [b"02:00:00:00:00:01 > 02:00:00:01:00:01, ethertype IPv4 (0x0800), length ",
            b"2:0:0:0:0:1 > 02:00:00:01:00:01, ethertype IPv4 (0x0800), length ",
            b"ifindex 4 02:00:00:00:00:0a ethertype IPv4 (0x0800), length ",
            b"02:00:00:00:0:0:01 > 02:00:00:01:00:01, ethertype IPv4 (0x0800), length ",
            b"02::00:00:00:01 > 02:00:00:01:00:01, ethertype IPv4 (0x0800), length ",
            b"02:00:00:00:00:01 > 02:00:00:01:00:01, ethertype 802.1Q (0x8100), length "
            b"vlan 7, p 0, ethertype IPv4 (0x0800), ",
            b"02:00:00:00:00:01 > 02:00:00:01:00:01, ethertype 802.1Q (0x8100), length "
            b"vlan 7, p 0, ethertype ARP (0x0806), ",
            b"02:00:00:00:00:01 > 02:00:00:01:00:01, ethertype IPv6 (0x86dd), length ",
            b"02:00:00:00:00:02 > 02:00:00:01:00:01, ethertype IPv4 (0x0800), length "]
    alone = LinkLine("p", "p", Clock(), SeqTracker())
    for key in keys:
        alone._links([key])
    for order in (keys, keys[::-1], keys[:1] + keys[-1:]):
        together = LinkLine("p", "p", Clock(), SeqTracker())
        together._links(order)
        for key in order:
            got, want = together.link_ids[key], alone.link_ids[key]
            assert (got is None) == (want is None)
            if got is not None and want is not None:
                assert got[1] == want[1]
                assert together._eth(got[0]) == alone._eth(want[0])
                assert (key in together.v4_ids) == (key in alone.v4_ids)
    assert [alone.link_ids[k] is not None for k in keys] == [1, 1, 1, 0, 0, 1, 0, 1, 1]
    assert alone._eth(0) == EthHeader("02:00:00:00:00:01", "02:00:00:01:00:01", (), 0x0800)


def test_a_hole_among_link_lines_keeps_its_link(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Another form among ``-e`` lines (a hole the table's reading reads on its own) is read
    from its own text, link header included (it was read from the text rewritten without it,
    as a packet without its Ethernet header or frame length)."""
    lines = [printed(line, i, "e") for i, line in enumerate(tcpdump_lines(2, 120))
             if " IP " in line]
    tcp = [i for i, line in enumerate(lines) if "Flags [" in line]
    for at in tcp[200::400]:
        lines[at] = lines[at].replace("Flags [", "Flags:[", 1)
    path = tmp_path / "h.txt"
    path.write_text("\n".join(lines) + "\n")
    records, _stats, error = quick_and_careful(path, monkeypatch)
    assert not error and all(r.headers.eth is not None for r in records)
