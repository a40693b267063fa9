"""Reading tcpdump's text of a pcap and comparing it with tshark's reading, packet by packet.

The ``-#`` packet number at the start of each printed packet is the frame number (with a
filter expression after ``--`` it numbers only the packets that passed: those are matched by
time). Compared for each TCP frame the text prints: addresses, ports, flags (where printed),
seq/ack where printed, and time in the format printed (not when the reader says the time is
unusable, ``time_ok=False``).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from truth import SUITE_DIR, SuiteTest, TruthRow

from nettrail.capture.base import CaptureStats
from nettrail.capture.tcpdump_text import read_text
from nettrail.errors import CaptureError
from nettrail.model.packet import PacketRecord

_NUMBER = re.compile(r"\s*(\d+)\s")
_DAY = 86_400 * 10**9
_FLAG_MASK = 0x1FF  # tcpdump prints flags up to AE

def _numbered(
    path: Path, records: list[PacketRecord]
) -> tuple[dict[int, PacketRecord], set[int]]:
    """The text's TCP records by their ``-#`` packet number (read from the line they start),
    and every packet number the text prints (``--print-sampling`` prints only some)."""
    lines = path.read_text(errors="replace").splitlines()
    printed = {int(m.group(1)) for line in lines if (m := _NUMBER.match(line)) is not None}
    out: dict[int, PacketRecord] = {}
    for rec in records:
        m = _NUMBER.match(lines[rec.frame - 1])
        if m is not None and rec.tcp is not None:
            out.setdefault(int(m.group(1)), rec)
    return out, printed


def _time_format(args: str) -> str:
    """The ``-t`` variant a test printed with (tcpdump's runner adds ``-tttt`` when none)."""
    for opt in ("-ttttt", "-tttt", "-ttt", "-tt", "-t"):
        if re.search(rf"(?:^| ){opt}(?: |$)", args):
            return opt
    return "tod"


def compare(test: SuiteTest, truth: list[TruthRow]) -> list[str]:
    """What disagrees between the text of ``test`` and tshark's rows (empty: all agree)."""
    path = SUITE_DIR / test.output
    stats = CaptureStats(path=str(path), point="p")
    records: list[PacketRecord] = []
    with contextlib.suppress(CaptureError):
        records.extend(read_text(str(path), "p", stats))
    text, printed = _numbered(path, records)
    if "--" in test.args.split():
        # a filter expression: -# numbers the packets that passed it, so match by time
        by_time = {rec.ts_ns // 1000: rec for rec in text.values()}
        text = {row.frame: by_time[row.time_ns // 1000] for row in truth
                if row.time_ns // 1000 in by_time}
        printed = set(text)
    fmt = _time_format(test.args)
    quiet = " -q" in f" {test.args}"
    first = truth[0].time_ns
    first_text = next(iter(text.values())).ts_ns if text else 0
    problems: list[str] = []
    for row in truth:
        if row.frame not in printed:
            continue
        rec = text.get(row.frame)
        if rec is None:
            problems.append(f"frame {row.frame}: no TCP packet read")
            continue
        ip, tcp = rec.ip, rec.tcp
        assert ip is not None and tcp is not None
        got = (ip.src, ip.dst, tcp.sport, tcp.dport)
        want = (row.src, row.dst, row.sport, row.dport)
        if got != want:
            problems.append(f"frame {row.frame}: endpoints {got} != {want}")
        shown = not quiet and (tcp.flags or tcp.window is not None)  # not "[|tcp]"
        if shown and tcp.flags & _FLAG_MASK != row.flags & _FLAG_MASK:
            problems.append(f"frame {row.frame}: flags {tcp.flags:#x} != {row.flags:#x}")
        for name, mine, theirs in (("seq", tcp.seq, row.seq), ("ack", tcp.ack, row.ack)):
            if mine is not None and theirs is not None and mine != theirs:
                rel = " (relative)" if tcp.seq_relative else ""
                problems.append(f"frame {row.frame}: {name} {mine}{rel} != {theirs}")
        if not rec.time_ok:
            continue  # the text says its time is not usable ("(invalid us)")
        if fmt in ("-tttt", "-tt") and rec.ts_ns // 1000 != row.time_ns // 1000:
            problems.append(f"frame {row.frame}: time {rec.ts_ns} != {row.time_ns}")
        if fmt == "tod" and rec.ts_ns % _DAY // 1000 != row.time_ns % _DAY // 1000:
            problems.append(f"frame {row.frame}: time of day {rec.ts_ns} != {row.time_ns}")
        since = (rec.ts_ns - first_text) - (row.time_ns - first)
        if fmt == "-ttttt" and abs(since) > 1000:  # printed in µs, rounded
            problems.append(f"frame {row.frame}: time since first differs")
    return problems
