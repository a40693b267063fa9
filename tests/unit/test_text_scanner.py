"""The compiled scanner (``capture/_scan.c``) against what it stands for: its rows are the
pattern's (``text_fast._LINE.findall``) on every form and on mangled lines, its numbers are
``numbers_of``'s, and its loop of address pairs leaves a FastLine as ``make_pairs``' own loop
does, caches emptied on the way included."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from nettrail.capture import text_block, text_fast
from nettrail.capture.scanner import COMPILED
from nettrail.capture.text_fast import FastLine
from nettrail.capture.text_seq import SeqTracker
from nettrail.capture.text_time import Clock
from nettrail.model.packet import PROTO_TCP, PROTO_UDP

FIXTURES = Path(__file__).parent.parent / "fixtures" / "text"
LONG = 4300  # text_fields.DIGITS_LIMIT
TCP = ("08:10:55.545140 IP 198.51.100.4.51512 > 203.0.113.2.22: Flags [P.], seq 1:41, ack 1, "
       "win 63, options [nop,nop,TS val 1 ecr 2], length 40")
FORMS = [
    TCP,
    TCP.replace("08:10:55", "2026-12-07 08:10:55"),
    TCP.replace("08:10:55", "1765095055"),
    TCP.replace(" IP ", " eth0  In  IP "),
    TCP.replace(" IP ", " IP6 ").replace("198.51.100.4", "2001:db8::4"),
    TCP.replace("length 40", "length 40: HTTP: GET / HTTP/1.1"),
    TCP.replace("[nop,nop,TS val 1 ecr 2]", "[mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7]"),
    TCP.replace("[nop,nop,TS val 1 ecr 2]", "[nop,nop,TS val 1 ecr 2,nop,nop,sack 1 {5:9}]"),
    TCP.replace("[nop,nop,TS val 1 ecr 2]", "[]"),
    TCP.replace(", seq 1:41, ack 1", ""),
    "08:10:55.545140 IP 198.51.100.4.53 > 203.0.113.2.4242: UDP, length 29",
    "08:10:55.545140 IP 198.51.100.4.53 > 203.0.113.2.4242: 4242+ A? example.org. (29)",
    # the edges of the common form: limits of the pattern, on each side of them
    TCP.replace("seq 1:41", "seq 12345678901:41"),
    TCP.replace("ack 1", "ack 12345678901"),
    TCP.replace("TS val 1", "TS val 12345678901"),
    TCP.replace("seq 1:41", "seq 1:"),
    TCP.replace("length 40", "length 40: a<b"),
    TCP.replace("length 40", "length 40: soft="),
    TCP.replace("length 40", "length 40\r"),
    TCP.replace("length 40", "length 40 (ipip)"),
    TCP.replace("length 40", "length 40: " + "x" * LONG),
    TCP.replace("length 40", "length 40: " + "x" * (LONG + 1)),
    TCP.replace("198.51.100.4.51512", "h" * LONG),
    TCP.replace("198.51.100.4.51512", "h" * (LONG + 1)),
    TCP.replace("203.0.113.2.22", "h" * LONG),
    TCP.replace("203.0.113.2.22", "h" * (LONG + 1)),
    TCP.replace("[nop,nop,TS val 1 ecr 2]", "[" + "o" * LONG + "]"),
    TCP.replace("[nop,nop,TS val 1 ecr 2]", "[" + "o" * (LONG + 1) + "]"),
    TCP.replace(" IP ", " " + "e" * LONG + " Out IP "),
    TCP.replace(" IP ", " " + "e" * (LONG + 1) + " Out IP "),
    TCP.replace(" IP ", " IP In IP "),  # an interface named IP
    TCP.replace(" IP ", " IP6 M IP "),
    TCP.replace(" IP ", " eth0 Inn IP "),
    TCP.replace(" IP ", " et>h0 In IP "),
    TCP.replace(" IP ", " IP6x "),
    TCP.replace("Flags [P.]", "Flags [P.x]"),
    TCP.replace("Flags [P.]", "Flags []"),
    TCP.replace("08:10:55.545140", "08:10:55.54514"),
    TCP.replace("08:10:55.545140", "08:10:55.5451400"),
    TCP.replace("08:10:55.545140", "176509505.545140"),
    TCP.replace("203.0.113.2.22:", "203.0.113.2.22"),
    TCP.replace("203.0.113.2.22:", ":"),
    TCP.replace("IP 198", "IP\u00e9198"),
    "08:10:55.545140 IP 198.51.100.4.53 > 203.0.113.2.4242: UDP, length ",
    "08:10:55.545140 IP 198.51.100.4.53 > 203.0.113.2.4242: UDP, length 29x",
    "08:10:55.545140 IP 198.51.100.4.53 > 203.0.113.2.4242: 4",
    "08:10:55.545140 IP 198.51.100.4.53 > 203.0.113.2.4242: 42=",
    "",
    "\r",
    "not tcpdump at all",
]
COMMON = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 20, 22, 24, 26, 28, 30, 31}
"""The forms of the common form (an 11-digit TS value is an options text; a name, an address,
an options text or a tail of DIGITS_LIMIT characters is taken, one of more is not)."""


@pytest.fixture(autouse=True)
def _built() -> None:
    assert COMPILED is not None, "the scanner is not built: make scan"


def _same(block: bytes) -> None:
    assert COMPILED is not None
    assert COMPILED.scan(block) == text_fast._PATTERN.findall(block), block[:200]


@pytest.mark.parametrize("line", FORMS, ids=range(len(FORMS)))
def test_each_form_is_cut_as_the_pattern_cuts_it(line: str) -> None:
    _same(line.encode() + b"\n")
    _same(b"x\n" + line.encode())  # a last line without its end: left out


def test_the_forms_are_common_and_not() -> None:
    assert COMPILED is not None
    rows = COMPILED.scan("".join(f"{line}\n" for line in FORMS).encode())
    assert {i for i, row in enumerate(rows) if row[0]} == COMMON


def _seed_lines() -> list[bytes]:
    lines = [line.encode() for line in FORMS[:12]]
    for path in sorted(FIXTURES.glob("*.txt")):
        lines += [line for line in path.read_bytes().split(b"\n") if line]
    return [line for line in lines if text_fast._PATTERN.fullmatch(line + b"\n") is not None]


_PIECES = [b"0", b"9", b":", b",", b" ", b"]", b"[", b"\r", b"<", b"=", b">", b"I", b"P", b"6",
           b"\xc3\xa9", b"\t", b".", b"12345678901", b"In", b"Out", b"IP ", b"IP6 ", b"\x1f",
           b"UDP, length ", b"Flags [", b", seq ", b", ack ", b", win ", b", options [",
           b"nop,nop,TS val ", b" ecr ", b", length ", b": ", b"eth0 In  "]


def _mangled(line: bytes, rng: random.Random) -> bytes:
    for _ in range(rng.randint(1, 3)):
        at, how = rng.randint(0, len(line)), rng.random()
        if how < 0.4:
            line = line[:at] + rng.choice(_PIECES) + line[at:]
        elif how < 0.7:
            line = line[:at] + line[at + rng.randint(1, 4):]
        elif how < 0.8:
            line = line[:at]
        elif how < 0.9:
            line = line[:at] + rng.choice(_PIECES) + line[at + 1:]
        else:
            line = line[:at] + b"A" * rng.choice([LONG - 1, LONG, LONG + 1]) + line[at:]
    return line.replace(b"\n", b"")


def test_mangled_lines_are_cut_as_the_pattern_cuts_them() -> None:
    """Common lines with pieces put in, cut out or cut short: the scanner's rows are the
    pattern's, line by line and as one block."""
    rng = random.Random(7)
    seeds = _seed_lines()
    assert len(seeds) > 100
    lines = [_mangled(rng.choice(seeds), rng) for _ in range(30_000)]
    for line in lines:
        _same(line + b"\n")
    _same(b"\n".join(lines) + b"\n")
    assert COMPILED is not None
    common = sum(1 for row in COMPILED.scan(b"\n".join(lines) + b"\n") if row[0])
    assert 500 < common < 25_000  # both kinds, many of each


@pytest.mark.parametrize("texts", [
    [b"1", b"4294967295", b"", b"0", b"0042"],
    [b""] * 5,
    [b"123456789012345678"],
    [b"1234567890123456789"],  # over 18 digits: numpy's parser's
    [str(n).encode() for n in range(0, 10**10, 7_777_777)],
])
def test_numbers_are_numbers_of(texts: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """Fields of digits (what the patterns give): the numbers numpy's parser reads."""
    got = text_block.numbers_of(tuple(texts))
    monkeypatch.setattr(text_block, "COMPILED", None)
    want = text_block.numbers_of(tuple(texts))
    assert got.dtype == want.dtype == np.int64
    assert got.tolist() == want.tolist() == [int(t) if t else -1 for t in texts]


def _items(rng: random.Random) -> list[tuple[bytes, int]]:
    hosts = [f"198.51.100.{i}" for i in range(12)] + [
        "203.0.113.1", "2001:db8::1", "host.example", "1.2.3", "01.2.3.4"]
    ports = ["22", "80", "65535", "65536", "x", "123456", ""]
    items = []
    for _ in range(600):
        a, b = rng.choice(hosts), rng.choice(hosts)
        sp = rng.choice([*ports, str(rng.randint(1, 9999))])
        keyword = "IP6 " if ":" in a + b else rng.choice(["IP ", "IP ", ""])
        text = f"{keyword}{a}.{sp} > {b}.53"
        if rng.random() < 0.03:  # no pair: no port, no " > ", no destination
            text = rng.choice([f"IP {a}{sp} > {b}.53", f"IP {a}.{sp} {b}.53", "IP 1.2.3.4.5 > "])
        items.append((text.encode(), rng.choice([PROTO_TCP, PROTO_UDP])))
    return items


@pytest.mark.parametrize("by_fields", [True, False])
@pytest.mark.parametrize("limit", [65536, 7])
def test_pairs_leave_a_fast_line_as_its_own_loop(
        monkeypatch: pytest.MonkeyPatch, by_fields: bool, limit: int) -> None:
    """The same texts given to two readers in the same calls (some twice, both directions,
    both protocols, names, IPv6 and texts that are no pair among dotted quads), one with the
    compiled loop: the same pairs, numbers, caches and rows, also when the caches fill up and
    are emptied on the way (``limit``)."""
    monkeypatch.setattr(text_fast, "CACHE_LIMIT", limit)
    rng = random.Random(limit)
    items = _items(rng)
    calls = []
    while items:
        k = rng.randint(1, 40)
        calls.append(items[:k])
        items = items[k:]
    states = []
    for compiled in (COMPILED, None):
        monkeypatch.setattr(text_fast, "COMPILED", compiled)
        fast = FastLine("p.txt", "p", Clock(0), SeqTracker())
        fast.by_fields = by_fields
        for call in calls:
            fast.make_pairs(iter(call))
        states.append((fast.pairs, fast.addrs, fast.v4_hosts, fast.v4_host_list,
                       fast.conn_ids, fast.conv_keys, fast.ends, fast.pair_keys(),
                       fast.per_pair().tolist()))
    assert states[0] == states[1]
    assert len(states[0][0]) > 50


SYN = b"mss 1460,sackOK,TS val 4294967295 ecr 0,nop,wscale 7"


@pytest.mark.parametrize("texts", [
    [SYN],
    [SYN, SYN.replace(b"1460", b"0001460"), SYN.replace(b"wscale 7", b"wscale 14")],
    [SYN, SYN.replace(b"4294967295", b"4294967296")],  # over 32 bits: _OVER
    [SYN.replace(b"1460", b"12345678901")],  # 11 digits
    [SYN.replace(b"1460", b"")],
    [SYN + b",nop"],
    [SYN, b"nop,nop,sack 1 {1:2}"],
    [SYN.replace(b"mss", b"MSS")],
    [SYN.replace(b" ecr ", b" ecr  ")],
])
def test_syn_options_are_linux_syns(texts: list[bytes]) -> None:
    """The Linux SYN's options read by the scanner as ``_linux_syns`` reads them."""
    joined = b"\n".join(texts) + b"\n"
    want = text_block._linux_syns(joined, len(texts))
    assert text_block._compiled_syns(texts) == want
    assert want is None or want is text_block._OVER or len(want) == len(texts)
