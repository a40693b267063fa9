"""Time the tcpdump text reader on a large generated text capture.

Usage: ``python bench/bench_tcpdump_text.py [LINES]`` (default 1,000,000). Writes
``bench/data/text-LINES.txt`` once (TCP connections as ``tcpdump -n`` prints them, relative seq:
handshake, request, reply, ACKs with timestamps, close; every tenth connection refused; a third
of the lines with the ``-i any`` column; some UDP and ICMP), then reads it and prints lines/s
and peak memory. The fast path covers the common TCP lines; the rest take the general parser.
"""

from __future__ import annotations

import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nettrail.capture.base import CaptureStats  # noqa: E402
from nettrail.capture.tcpdump_text import read_text  # noqa: E402
from nettrail.capture.text_fast import FastLine  # noqa: E402


def _ts(t: float) -> str:
    sec = int(t)
    return f"{sec // 3600 % 24:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.{int(t * 1e6) % 10**6:06d}"


def generate(path: Path, lines: int) -> None:
    """Write ``lines`` lines of tcpdump -n text to ``path``."""
    rnd = random.Random(7)
    t = 8 * 3600.0
    n = 0
    with open(path, "w") as f:
        while n < lines:
            c = f"198.51.100.{rnd.randrange(1, 255)}.{rnd.randrange(32768, 61000)}"
            s = f"203.0.113.{rnd.randrange(1, 255)}.{rnd.choice((22, 80, 443, 8080))}"
            col = rnd.choice(("", "", "eth0 In  ", "eth0 Out "))
            back = col.replace("In ", "Ou_").replace("Out", "In ").replace("Ou_", "Out")
            isn, rsn = rnd.randrange(1 << 32), rnd.randrange(1 << 32)
            tv = rnd.randrange(1 << 31)
            out = []
            syn = (f"{col}IP {c} > {s}: Flags [S], seq {isn}, win 64240, options [mss 1460,"
                   f"sackOK,TS val {tv} ecr 0,nop,wscale 7], length 0")
            out.append(syn)
            if n % 10 == 9:
                out.append(f"{back}IP {s} > {c}: Flags [R.], seq 0, ack {isn + 1}, win 0, length 0")
            else:
                ts = f"TS val {tv + 1} ecr {tv}"
                out += [
                    f"{back}IP {s} > {c}: Flags [S.], seq {rsn}, ack {isn + 1}, win 65160, "
                    f"options [mss 1460,sackOK,{ts},nop,wscale 7], length 0",
                    f"{col}IP {c} > {s}: Flags [.], ack 1, win 502, options [nop,nop,{ts}], "
                    "length 0",
                    f"{col}IP {c} > {s}: Flags [P.], seq 1:101, ack 1, win 502, options "
                    f"[nop,nop,{ts}], length 100",
                    f"{back}IP {s} > {c}: Flags [P.], seq 1:1449, ack 101, win 509, options "
                    f"[nop,nop,{ts}], length 1448",
                    f"{col}IP {c} > {s}: Flags [.], ack 1449, win 501, options [nop,nop,{ts}], "
                    "length 0",
                    f"{col}IP {c} > {s}: Flags [F.], seq 101, ack 1449, win 501, options "
                    f"[nop,nop,{ts}], length 0",
                    f"{back}IP {s} > {c}: Flags [F.], seq 1449, ack 102, win 509, options "
                    f"[nop,nop,{ts}], length 0",
                    f"{col}IP {c} > {s}: Flags [.], ack 1450, win 501, options [nop,nop,{ts}], "
                    "length 0",
                ]
            if n % 7 == 0:
                out.append(f"IP {c} > 203.0.113.53.53: 4242+ A? example.com. (29)")
                out.append("IP 198.51.100.1 > 203.0.113.9: ICMP echo request, id 1, seq 1, "
                           "length 64")
            for line in out:
                t += rnd.random() * 0.0005
                f.write(f"{_ts(t)} {line}\n")
            n += len(out)


def main() -> None:
    """Generate (once), read, report."""
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    path = ROOT / "bench" / "data" / f"text-{lines}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        generate(path, lines)
    with open(path, "rb") as f:
        total = sum(1 for _ in f)
    stats = CaptureStats(path=str(path), point="bench")
    start = time.perf_counter()
    cpu = time.process_time()
    n = 0
    for _ in read_text(str(path), "bench", stats):
        n += 1
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    floor = time.process_time()
    match = FastLine(str(path), "bench").match
    with open(path, "rb") as f:
        for raw in f:
            match(raw.decode())
    floor = time.process_time() - floor
    print(f"{total} lines, {n} packets in {elapsed:.2f} s ({cpu:.2f} s CPU): "
          f"{total / elapsed:,.0f} lines/s ({total / cpu:,.0f} per CPU second), "
          f"peak RSS {peak:.0f} MB, skipped {dict(stats.skipped)}, "
          f"{len(stats.warnings)} warnings; floor (read, decode, match the fast pattern, no "
          f"records): {total / floor:,.0f} lines per CPU second")


if __name__ == "__main__":
    main()
