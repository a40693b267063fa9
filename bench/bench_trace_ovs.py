"""The tracer's cost on traffic through the Open vSwitch lab, next to ``tcpdump -i any``.

The ``healthy`` lab (OVS userspace datapath on the network and compute nodes, VXLAN between
them, DNAT in the router namespace): ``iperf3`` from the client to the floating IP, served in
the VM. Modes, interleaved run by run: untraced; traced with a filter matching nothing; traced
with ``host 203.0.113.223`` (matched, followed through the DNAT and the VXLAN tunnel, the reply
direction followed as a connection, frames handed to OVS shown); ``tcpdump -i any -s 0`` in
each of the lab's five capture points. Also ovs-vswitchd's CPU while idle.

Usage (root, under the lab lock): ``.venv/bin/python bench/bench_trace_ovs.py [--seconds 3]
[--runs 3] [--record]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_trace import cpu_seconds, ns, sh, tracer

from nettrail import lab
from nettrail.lab.handle import LabHandle

ROOT = Path(__file__).resolve().parent.parent
FIP, VM = "203.0.113.223", "198.51.100.4"
MODES = ("untraced", "non-matching filter", f"host {FIP}", "tcpdump -i any x5")


def vswitchd_pids(handle: LabHandle) -> list[int]:
    """The lab's ovs-vswitchd processes."""
    return [pid for key, pid in handle.state.pids.items() if key.endswith("/ovs-vswitchd")]


def iperf(handle: LabHandle, seconds: float) -> float:
    """Gbit/s of one TCP stream client -> floating IP (DNAT to the VM, through OVS)."""
    out = sh(*ns(handle.ns("client"), "iperf3", "-c", FIP, "-t", str(seconds), "-J"),
             timeout=seconds + 30)
    return float(json.loads(out)["end"]["sum_received"]["bits_per_second"]) / 1e9


@contextmanager
def tcpdumps(handle: LabHandle, result: dict[str, float]) -> Iterator[None]:
    """Full-snaplen ``tcpdump -i any`` at every capture point of the lab."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = [subprocess.Popen(ns(handle.ns(p), "tcpdump", "-i", "any", "-s", "0", "-n",
                                     "-w", f"{tmp}/{i}.pcap"), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
                 for i, p in enumerate(handle.scenario.captures)]
        time.sleep(1.0)
        try:
            yield
        finally:
            result["cpu_s"] = sum(cpu_seconds(p.pid) for p in procs)
            for p in procs:
                p.terminate()
                p.wait()


def one_run(handle: LabHandle, mode: str, seconds: float, counters: dict[str, float]) -> float:
    """Gbit/s of one run in ``mode``; CPU and tracer counters added to ``counters``."""
    switch0 = sum(cpu_seconds(p) for p in vswitchd_pids(handle))
    result: dict[str, float] = {}
    if mode == "untraced":
        gbps = iperf(handle, seconds)
    elif mode.startswith("tcpdump"):
        with tcpdumps(handle, result):
            gbps = iperf(handle, seconds)
    else:
        flt = "host 203.0.113.99" if mode.startswith("non") else f"host {FIP}"
        with tracer(flt, result):
            gbps = iperf(handle, seconds)
    result["vswitchd_cpu_s"] = sum(cpu_seconds(p) for p in vswitchd_pids(handle)) - switch0
    for k, v in result.items():
        counters[k] = counters.get(k, 0) + v
    return gbps


def idle_cpu(handle: LabHandle, seconds: float = 5.0) -> float:
    """Share of one CPU both ovs-vswitchd processes use while nothing flows."""
    pids = vswitchd_pids(handle)
    c0 = sum(cpu_seconds(p) for p in pids)
    time.sleep(seconds)
    return (sum(cpu_seconds(p) for p in pids) - c0) / seconds


def measure(seconds: float, runs: int) -> tuple[dict[str, dict[str, Any]], float]:
    """Per mode: median Gbit/s, runs, counters; and vswitchd's idle CPU share."""
    lab.down("healthy")
    with lab.up("healthy") as handle:
        server = subprocess.Popen(ns(handle.ns("vm"), "iperf3", "-s", "-B", VM),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            idle = idle_cpu(handle)
            rates: dict[str, list[float]] = {m: [] for m in MODES}
            counters: dict[str, dict[str, float]] = {m: {} for m in MODES}
            for _ in range(runs):
                for mode in MODES:
                    rates[mode].append(one_run(handle, mode, seconds, counters[mode]))
        finally:
            server.terminate()
            server.wait()
    return {m: {"gbps": statistics.median(rates[m]), "runs": rates[m], **counters[m]}
            for m in MODES}, idle


def table(modes: dict[str, dict[str, Any]], seconds: float, runs: int) -> list[str]:
    """Markdown rows, one per mode."""
    base = modes["untraced"]["gbps"]
    rows = ["| mode | Gbit/s | cost | events drained | lost | ns/BPF run | tracer or tcpdump "
            "CPU | ovs-vswitchd CPU |", "|---|---|---|---|---|---|---|---|"]
    wall = seconds * runs
    for mode, m in modes.items():
        cost = (base - m["gbps"]) / base * 100
        runs_n = m.get("run_cnt", 0)
        per = f"{m['run_time_ns'] / runs_n:.0f}" if runs_n else "-"
        cpu = f"{m['cpu_s'] / wall * 100:.1f}%" if "cpu_s" in m else "-"
        drained = f"{m['drained']:.0f}" if "drained" in m else "-"
        lost = f"{m['lost']:.0f}" if "lost" in m else "-"
        rows.append(f"| {mode} | {m['gbps']:.2f} | {cost:.1f}% | {drained} | {lost} | {per} | "
                    f"{cpu} | {m['vswitchd_cpu_s'] / wall * 100:.0f}% |")
    return rows


def main() -> int:
    """Measure, print, and with --record append to bench/RESULTS.md."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    modes, idle = measure(args.seconds, args.runs)
    rows = table(modes, args.seconds, args.runs)
    per_run = "; ".join(f"{m}: {', '.join(f'{x:.2f}' for x in v['runs'])}"
                        for m, v in modes.items())
    text = "\n".join([
        "", "## trace on Open vSwitch traffic (bench/bench_trace_ovs.py)", "",
        f"`bench/bench_trace_ovs.py --seconds {args.seconds:g} --runs {args.runs}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, kernel {os.uname().release}, "
        f"2 CPUs shared with other work (load average {os.getloadavg()[0]:.1f} at the end). "
        "iperf3 TCP from the `healthy` lab's client to the floating IP, DNATed by the router "
        "namespace to the VM: every segment crosses two ovs-vswitchd userspace datapaths and "
        "the VXLAN tunnel between them; medians, modes interleaved run by run.", "",
        *rows, "",
        f"Per run (Gbit/s): {per_run}.", "",
        f"ovs-vswitchd idle (two daemons, lab up, no traffic, 5 s): {idle * 100:.1f}% of one "
        "CPU.", "",
    ])
    print(text)
    if args.record:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
