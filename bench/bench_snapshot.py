"""Time ``nettrail snapshot`` over many namespaces, each with links and NAT rules.

    flock /tmp/nettrail-ns.lock python bench/bench_snapshot.py [--namespaces 100] [--repeat 3]

Builds N namespaces ``ntl-bsnap-NNN`` (root only; removed at the end, also on failure or
Ctrl-C), each with 10 links besides ``lo`` (a bridge, four veth pairs inside it, one veth end
towards the next namespace), an address per veth, and 20 rules: 10 iptables-nft rules (nat,
DNAT/SNAT) and 10 nftables rules (a nat chain and a netdev chain with a stateless rewrite).
Then times the library call ``snapshot_refs`` over exactly those namespaces and the CLI
``nettrail snapshot --format json --netns …`` end to end (start-up, discovery of every
namespace on the host, reading, JSON), and appends the figures to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from nettrail.analyze import owners
from nettrail.topology import NetnsRef, snapshot_refs

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
PREFIX = "ntl-bsnap-"


def build(n: int) -> list[str]:
    """Create the namespaces, their links and rules; return their names."""
    names = [f"{PREFIX}{i:03d}" for i in range(n)]
    for i, ns in enumerate(names):
        subprocess.run(["ip", "netns", "add", ns], check=True)
        cmds = ["link add br0 type bridge", "link set br0 up"]
        for j in range(4):
            cmds += [f"link add v{j}a type veth peer name v{j}b",
                     f"link set v{j}a master br0", f"link set v{j}a up", f"link set v{j}b up",
                     f"addr add 198.18.{i % 250}.{10 + j}/24 dev v{j}b"]
        _batch(ns, cmds)
        if i:
            subprocess.run(["ip", "-n", names[i - 1], "link", "add", "xn", "type", "veth",
                            "peer", "name", "xp", "netns", ns], check=True)
        _rules(ns, i)
    return names


def _batch(ns: str, cmds: list[str]) -> None:
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(cmds) + "\n", text=True,
                   check=True)


def _rules(ns: str, i: int) -> None:
    a = i % 250
    ipt = ["*nat"]
    for k in range(5):
        ipt.append(f"-A PREROUTING -d 203.0.113.{k + 1}/32 -j DNAT --to-destination "
                   f"198.18.{a}.{k + 10}")
        ipt.append(f"-A POSTROUTING -s 198.18.{a}.{k + 10}/32 -j SNAT --to-source "
                   f"203.0.113.{k + 1}")
    ipt.append("COMMIT")
    subprocess.run(["ip", "netns", "exec", ns, "iptables-nft-restore"],
                   input="\n".join(ipt) + "\n", text=True, check=True)
    nat = "\n".join(f"  ip daddr 198.51.100.{k + 1} dnat to 198.18.{a}.{k + 20}"
                    for k in range(5))
    rw = "\n".join(f"  ip saddr 198.18.{a}.{k + 20} ip saddr set 198.51.100.{k + 1}"
                   for k in range(5))
    ruleset = (f"table ip edge {{\n chain pre {{\n  type nat hook prerouting priority -90;\n"
               f"{nat}\n }}\n}}\ntable netdev sdn {{\n chain in {{\n  type filter hook ingress"
               f" device \"v0b\" priority 0;\n{rw}\n }}\n}}\n")
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=ruleset, text=True,
                   check=True)


def teardown() -> None:
    """Delete every ``ntl-bsnap-`` namespace (ours only, by prefix)."""
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if name.startswith(PREFIX):
            subprocess.run(["ip", "netns", "del", name], check=False)


TIME_LIB = """
import os, resource, sys, time
from nettrail.topology import NetnsRef, snapshot_refs
refs = [NetnsRef(n, os.stat("/run/netns/" + n).st_ino, "/run/netns/" + n) for n in sys.argv[1:]]
t0, c0 = time.perf_counter(), time.process_time()
snapshot_refs(refs)
c = resource.getrusage(resource.RUSAGE_CHILDREN)
print(time.perf_counter() - t0, time.process_time() - c0 + c.ru_utime + c.ru_stime)
"""


def compare(names: list[str], baseline: str, repeat: int) -> list[str]:
    """Time ``snapshot_refs`` of this tree and of the source tree ``baseline`` (its ``src``),
    each in a fresh process, alternating; result lines with the load average of each run."""
    trees = {"before (" + baseline + ")": str(Path(baseline) / "src"),
             "after (this tree)": str(BENCH.parent / "src")}
    times: dict[str, list[tuple[float, float, float]]] = {k: [] for k in trees}
    for _ in range(repeat):
        for label, src in trees.items():
            out = subprocess.run([sys.executable, "-c", TIME_LIB, *names], text=True,
                                 capture_output=True, check=True,
                                 env={**os.environ, "PYTHONPATH": src})
            wall, cpu = (float(x) for x in out.stdout.split())
            times[label].append((wall, cpu, os.getloadavg()[0]))
    lines = []
    for label, runs in times.items():
        secs = [t for t, _, _ in runs]
        loads = ", ".join(f"{t:.2f} s @ {load:.1f}" for t, _, load in runs)
        cpu = statistics.median(c for _, c, _ in runs)
        lines.append(f"| library `snapshot_refs`, {label} | {len(names)} namespaces | "
                     f"median {statistics.median(secs):.2f} s, best {min(secs):.2f} s; CPU "
                     f"{cpu:.2f} s (runs, with the 1-min load average: {loads}) |")
    return lines


def main() -> int:
    """Build, time, record, tear down."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--namespaces", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("--baseline", metavar="TREE",
                    help="also time another source tree's snapshot_refs, alternating "
                    "(before/after figures)")
    args = ap.parse_args()
    teardown()
    try:
        names = build(args.namespaces)
        if args.baseline:
            lines = compare(names, args.baseline, args.repeat)
            print("\n".join(lines))
            return 0
        refs = [NetnsRef(ns, os.stat(f"/run/netns/{ns}").st_ino, f"/run/netns/{ns}")
                for ns in names]
        lib, cli, cpu = [], [], []
        for _ in range(args.repeat):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            s0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            topo = snapshot_refs(refs)
            lib.append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            s1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu.append(sum(getattr(b, f) - getattr(a, f) for a, b in ((r0, r1), (s0, s1))
                           for f in ("ru_utime", "ru_stime")))
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "nettrail.cli.main", "snapshot", "--format",
                            "json", "--netns", ",".join(names)], stdout=subprocess.DEVNULL,
                           check=False)
            cli.append(time.perf_counter() - t0)
        links = sum(len(ns.links) for ns in topo.namespaces)
        rules = sum(sum(ns.rules.values()) for ns in topo.namespaces)
        rewrites = len(owners.topology_rules([topo]))
    finally:
        teardown()
    load = os.getloadavg()[0]
    lines = [
        f"| library `snapshot_refs` | {len(topo.namespaces)} namespaces, {links} links, "
        f"{rules} rules ({rewrites} rewrites) | {min(lib):.2f}-{max(lib):.2f} s "
        f"(median {statistics.median(lib):.2f}); CPU {statistics.median(cpu):.2f} s "
        f"(workers and tools) |",
        f"| CLI `nettrail snapshot --format json --netns …` | same | "
        f"{min(cli):.2f}-{max(cli):.2f} s (median {statistics.median(cli):.2f}) |"]
    print("\n".join(lines))
    if not args.no_append:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d")
        with open(RESULTS, "a") as out:
            out.write(f"\n## Snapshot: {args.namespaces} namespaces (bench/bench_snapshot.py)\n\n"
                      f"{stamp}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                      f"kernel {platform.release()}, load average {load:.1f} at the end, "
                      f"{args.repeat} runs.\n\n| what | input | time |\n|---|---|---|\n"
                      + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
