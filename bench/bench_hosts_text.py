"""Time reading a tcpdump text of several hosts' lines (pdsh's ``host: line``) beside reading
each host's lines as a file of its own, and tshark reading the same packets' pcaps.

Usage: ``python bench/bench_hosts_text.py [--packets N] [--runs 3] [--only short,mix -v]``.

For each mix of ``bench_tcpdump_text.py`` asked for (its texts, made when missing), the text
is cut in two halves, ``netnode``'s and ``compute``'s, and the halves interleaved as pdsh
prints them: a line of each in turn (``1``) or runs of 40 (``40``). Timed on one core
(``taskset -c 0``), alternating, best of ``--runs``, CPU time of the read in a child process:
every host's lines of the joined text into a packet table (``capture.inputs.open_inputs``
finds the hosts, ``capture.points.read_points`` reads them: what ``nettrail analyze`` does),
the hosts' own texts the same way, and ``tshark -r`` of the two halves' pcaps (the peer,
whose reading of a pcap is what a user would otherwise do). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from itertools import islice
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_tcpdump_text import child_cpu, make_data  # noqa: E402
from run import child_env  # noqa: E402

READ = r"""
import sys, time
from nettrail.capture.inputs import open_inputs
from nettrail.capture.points import read_points
args = [a.partition("=") for a in sys.argv[1:]]
cpu = time.process_time()
points, errors = read_points(open_inputs([(name, path) for name, _, path in args]))
cpu = time.process_time() - cpu
assert not errors, errors
print(cpu, sum(p.summary.packets for p in points), len(points))
"""
HOSTS = ("netnode", "compute")


def halves(text: Path) -> tuple[list[bytes], list[bytes]]:
    with open(text, "rb") as f:
        lines = f.readlines()
    cut = len(lines) // 2
    return lines[:cut], lines[cut:]


def joined(parts: tuple[list[bytes], list[bytes]], run: int, out: Path) -> None:
    """The two hosts' lines as pdsh prints them, ``run`` lines of one, then of the other."""
    its = [iter([b"%s: %s" % (h.encode(), line) for line in part])
           for h, part in zip(HOSTS, parts, strict=True)]
    with open(out, "wb") as f:
        while its:
            for it in list(its):
                chunk = list(islice(it, run))
                if not chunk:
                    its.remove(it)
                f.writelines(chunk)


def pcap_halves(pcap: Path, packets: int, out: list[Path]) -> None:
    """The pcap cut where the text is (its first and second halves of packets)."""
    cut = packets // 2
    for path, (first, last) in zip(out, ((1, cut), (cut + 1, packets)), strict=True):
        if not path.exists():
            subprocess.run(["editcap", "-r", str(pcap), str(path), f"{first}-{last}"],
                           check=True, stdout=subprocess.DEVNULL)


def read_cpu(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    _cpu, out = child_cpu([sys.executable, "-c", READ, *args], env, out=True)
    secs, packets, _points = out.split()
    return float(secs), int(packets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="short,mix -v")
    ap.add_argument("--dir", type=Path, default=HERE / "data")
    a = ap.parse_args()
    src = os.environ.get("NETTRAIL_SRC", str(HERE.parent / "src"))
    env = child_env(Path(src), PYTHONPATH=src)
    print("| text | lines | run | hosts' text lines/s | own texts lines/s | tshark -r pkts/s |"
          " load |")
    print("|---|---|---|---|---|---|---|")
    for name, text, pcap in make_data(a.dir, a.packets, set(a.only.split(","))):
        parts = halves(text)
        lines = len(parts[0]) + len(parts[1])
        own = [a.dir / f"hosts-{name.replace(' ', '')}-{h}.txt" for h in HOSTS]
        for path, part in zip(own, parts, strict=True):
            path.write_bytes(b"".join(part))
        pcaps = [a.dir / f"hosts-{pcap.stem}-{h}.pcap" for h in HOSTS]
        pcap_halves(pcap, a.packets, pcaps)
        for run in (1, 40):
            together = a.dir / f"hosts-{name.replace(' ', '')}-run{run}.txt"
            joined(parts, run, together)
            load = os.getloadavg()[0]
            best = {"hosts": 1e9, "own": 1e9, "tshark": 1e9}
            for _ in range(a.runs):
                secs, got = read_cpu([f"={together}"], env)
                best["hosts"] = min(best["hosts"], secs)
                secs, own_got = read_cpu([f"{h}={p}" for h, p in zip(HOSTS, own, strict=True)],
                                         env)
                best["own"] = min(best["own"], secs)
                assert got == own_got, (got, own_got)
                best["tshark"] = min(best["tshark"], sum(
                    child_cpu(["tshark", "-n", "-r", str(p)])[0] for p in pcaps))
            print(f"| {name} | {lines:,} | {run} | {lines / best['hosts']:,.0f} | "
                  f"{lines / best['own']:,.0f} | {a.packets / best['tshark']:,.0f} | "
                  f"{load:.1f}-{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
