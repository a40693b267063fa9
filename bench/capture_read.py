"""Time reading a large capture: ``for r in open_capture(p): pass``, packets/s and peak memory.

    python bench/capture_read.py [--packets 1000000] [--seed 1] [--dir /tmp] [--pcapng]

Generates the capture with bench/gen_capture.py when it is not there yet, then reads it in a
child process (so peak RSS is the reader's own) next to a plain ``struct`` loop over the same
records as the floor of what Python can do. With --pcapng the file is also converted with
``editcap -F pcapng`` and read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

READ = r"""
import json, resource, sys, time
from nettrail.capture import open_capture
cap = open_capture(sys.argv[1])
t = time.perf_counter()
for _rec in cap:
    pass
dt = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps({"packets": cap.stats.packets, "seconds": dt, "peak_mb": rss}))
"""

PLAIN = r"""
import json, struct, sys, time
rec = struct.Struct("<IIII").unpack_from
t = time.perf_counter()
n = 0
with open(sys.argv[1], "rb") as f:
    f.read(24)
    buf, pos = b"", 0
    while chunk := f.read(1 << 20):
        buf = buf[pos:] + chunk
        pos, end = 0, len(buf)
        while pos + 16 <= end:
            sec, frac, caplen, wire = rec(buf, pos)
            if pos + 16 + caplen > end:
                break
            data = buf[pos + 16 : pos + 16 + caplen]
            pos += 16 + caplen
            n += 1
print(json.dumps({"packets": n, "seconds": time.perf_counter() - t}))
"""


def _child(code: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True,
                         capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main() -> None:
    """Generate if needed, read, print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--pcapng", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    pcap = Path(args.dir) / f"nettrail-bench-{args.packets}-{args.seed}.pcap"
    if not pcap.exists():
        subprocess.run([sys.executable, str(HERE / "gen_capture.py"), str(pcap), "--packets",
                        str(args.packets), "--seed", str(args.seed)], check=True)
    files = [pcap]
    if args.pcapng and shutil.which("editcap"):
        ng = pcap.with_suffix(".pcapng")
        if not ng.exists():
            subprocess.run(["editcap", "-F", "pcapng", str(pcap), str(ng)], check=True)
        files.append(ng)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
          f"{pcap.stat().st_size / 1e6:.0f} MB pcap")
    plain = min((_child(PLAIN, pcap) for _ in range(args.runs)), key=lambda r: r["seconds"])
    print(f"plain struct loop  {plain['packets']:>9.0f} pkts {plain['seconds']:6.2f} s "
          f"{plain['packets'] / plain['seconds']:>10,.0f} pkts/s")
    for path in files:
        best = min((_child(READ, path) for _ in range(args.runs)), key=lambda r: r["seconds"])
        print(f"open_capture {path.suffix:7s}{best['packets']:>9.0f} pkts {best['seconds']:6.2f} s "
              f"{best['packets'] / best['seconds']:>10,.0f} pkts/s  peak {best['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
