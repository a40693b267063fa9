"""tcpdump's suite texts wrapped as a terminal or a mail wraps them: no TCP packet changes.

Each packet of a suite ``.out`` has its first line longer than the width broken once, at the
last break of one kind (before a comma, inside a word, inside a number) at or before 60, 72 or
80 columns and after the addresses begin; or every line is cut every 60, 72 or 80 columns, as
a terminal does. Read again, every TCP packet is the packet the unwrapped text gives (headers,
inner headers, length, time), or a line of it is named as unreadable: never a different packet
read silently, nor one the text does not have.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from truth import SUITE_DIR

from nettrail.capture.base import CaptureStats
from nettrail.model.packet import Headers, PacketRecord, TCPHeader
from textread import read_records

KINDS: dict[str, Callable[[str, int], bool]] = {
    "comma": lambda s, p: s[p] == ",",
    "word": lambda s, p: s[p - 1].isalpha() and s[p].isalpha(),
    "number": lambda s, p: s[p - 1].isdigit() and s[p].isdigit(),
}
TEXTS = ["whois.out", "whois-v.out", "mptcp-fclose.out", "mptcp-v0.out", "mptcp-v1.out",
         "bgp-bgpsec.out", "dns_tcp.out", "dns_tcp-vv.out", "ssh.out", "zmtp1.out",
         "of10_pf5240-vv.out", "accecn_handshake.out", "tcp_rst_diag_payload-v.out",
         "ldp-common-session.out", "print-A.out", "mptcp-tcprst.out"]
NOT_COLUMNS = {"of10_pf5240-vv.out": "a line cut before '> 0x3c7c)' reads as quoted mail"}
"""Texts not cut every N columns, and why."""
_BODY = re.compile(r" > |: ")
_STARTS = re.compile(r"\S| *\d+  \S")
_UNREAD = re.compile(r" line (\d+): (?:not a tcpdump packet line|cannot read this packet)")


def wrap(lines: list[str], width: int, kind: str) -> tuple[list[str], list[int]]:
    """``lines`` with each packet's first line longer than ``width`` broken once at a break of
    ``kind``, and the line number in ``lines`` of each line of the result."""
    out: list[str] = []
    orig: list[int] = []
    done = False
    if kind == "columns":
        for n, line in enumerate(lines, 1):
            cut = [line[at : at + width] for at in range(0, len(line), width)] or [""]
            out += cut
            orig += [n] * len(cut)
        return out, orig
    at_kind = KINDS[kind]
    for n, line in enumerate(lines, 1):
        if _STARTS.match(line):
            done = False
        body = _BODY.search(line)
        at = None
        if not done and len(line) > width and body is not None:
            at = next((p for p in range(width, body.end(), -1) if at_kind(line, p)), None)
        if at is None:
            out.append(line)
            orig.append(n)
        else:
            done = True
            out += [line[:at], line[at:]]
            orig += [n, n]
    return out, orig


def read(path: Path) -> tuple[list[PacketRecord], CaptureStats]:
    records, stats, _error = read_records(str(path))
    return records, stats


def _key(r: PacketRecord) -> tuple[object, ...]:
    return (_same(r.headers), _same(r.inner), r.wire_len, r.ifname, r.direction, r.vni, r.ts_ns)


def _same(h: Headers | None) -> Headers | None:
    """``h`` with the names of options tcpdump does not decode left out: what an unknown
    option holds is not read (``mptcp 20 ... {0x29a6c86981ad933c,...}``, wrapped in a hex
    number, is one option either way)."""
    if h is None or not isinstance(h.l4, TCPHeader):
        return h
    opts = h.l4.options
    order = tuple("opt" if name.startswith("opt-") else name for name in opts.order)
    return h._replace(l4=h.l4._replace(options=opts._replace(order=order)))


def changed(path: Path, tmp: Path, width: int, kind: str) -> list[str]:
    """What reads differently from ``path`` wrapped at ``width`` at breaks of ``kind``."""
    lines = path.read_text(encoding="utf-8", errors="surrogateescape").split("\n")
    if lines[-1:] == [""]:
        lines.pop()
    out, orig = wrap(lines, width, kind)
    wrapped = tmp / f"{path.name}.{width}.{kind}.txt"
    wrapped.write_text("\n".join(out) + "\n", encoding="utf-8", errors="surrogateescape")
    before, _ = read(path)
    after, stats = read(wrapped)
    want = {r.frame: r for r in before if isinstance((r.inner or r.headers).l4, TCPHeader)}
    others = {r.frame for r in before} - set(want)
    named = {orig[int(m.group(1)) - 1] for w in stats.warnings if (m := _UNREAD.search(w))}
    got = {orig[r.frame - 1]: r for r in after}
    starts = sorted({r.frame for r in before})

    def unnamed(line: int) -> bool:
        end = next((s for s in starts if s > line), len(lines) + 1)
        return not any(line <= n < end for n in named)

    problems = []
    for line, rec in got.items():
        if line in others:
            continue
        old = want.get(line)
        if old is None:
            problems.append(f"line {line}: a packet the unwrapped text does not have")
        elif _key(rec) != _key(old) and unnamed(line):
            problems.append(f"line {line}: {old.headers.l4} read as {rec.headers.l4}")
    problems += [f"line {line}: packet lost, no line of it named"
                 for line in want.keys() - got.keys() if unnamed(line)]
    return problems


@pytest.mark.parametrize("name", TEXTS)
def test_a_wrapped_suite_text_reads_the_same_tcp_packets(name: str, tmp_path: Path) -> None:
    path = SUITE_DIR / name
    if not path.is_file():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    kinds = [*KINDS, "columns"] if name not in NOT_COLUMNS else list(KINDS)
    failures = {(width, kind): p for width in (60, 72, 80) for kind in kinds
                if (p := changed(path, tmp_path, width, kind))}
    assert not failures, "\n".join(f"{name} wrapped at {w} ({k}): {len(p)}, e.g. {p[0]}"
                                   for (w, k), p in failures.items())
