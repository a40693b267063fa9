"""Benchmark of `nettrail trace`: cost on an iperf3 stream, and how many events/s we drain.

Two namespaces ``ntFb-a`` / ``ntFb-b`` joined by a veth pair (198.18.7.1 / 198.18.7.2).

1. TCP throughput of ``iperf3`` a -> b (median of --runs runs of --seconds s) untraced, traced
   with a filter matching nothing, traced with a filter matching the stream, and under
   ``tcpdump -i any -s 0`` in both namespaces.
2. Drain rate: UDP packets of 16 bytes at rising rates with a matching filter; for each rate,
   the events/s the Python reader drained and how many the kernel lost.

The tracer runs as a separate process reading the ring buffer in batches (``TraceSession
.read``: one copy of the committed span), as ``nettrail trace`` does; decoding and writing the
events, old decoder against new, is ``bench/bench_trace_decode.py``.

Usage (root): ``.venv/bin/python bench/bench_trace.py [--seconds 5] [--runs 3]``; appends a
section to bench/RESULTS.md with --record.
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

A, B = "ntFb-a", "ntFb-b"
IP_A, IP_B = "198.18.7.1", "198.18.7.2"
ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

TRACER = r"""
import json, os, signal, sys, time
from nettrail.trace import libbpf
from nettrail.trace.config import TraceConfig
from nettrail.trace.layout import RECORD_STRUCT
from nettrail.trace.session import TraceSession
RECORD_SIZE = RECORD_STRUCT.size
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
cfg = TraceConfig(filter=sys.argv[1], hooks=("xmit", "recv", "drop"), ring_bytes=64 << 20)
pause = float(sys.argv[3])
n = 0
burst = {}
stats_fd = libbpf.enable_run_stats()
with TraceSession(cfg) as s:
    open(sys.argv[2], "w").write("ready")
    if pause:
        time.sleep(pause)
        t0 = time.perf_counter()
        got = s.read()
        burst = {"burst_events": len(got) // RECORD_SIZE, "burst_s": time.perf_counter() - t0}
        n += len(got) // RECORD_SIZE
        if len(sys.argv) > 4:
            open(sys.argv[4], "wb").write(got)
    while not stop:
        s.wait(0.05)
        n += len(s.read()) // RECORD_SIZE
    n += len(s.read()) // RECORD_SIZE
    st = s.stats()
    ids = set()
    for fd in os.listdir("/proc/self/fdinfo"):
        try:
            lines = open(f"/proc/self/fdinfo/{fd}").read().splitlines()
        except OSError:
            continue
        ids |= {int(l.split()[1]) for l in lines if l.startswith("prog_id:")}
    cnt = ns = 0
    for pid in ids:
        info = json.loads(os.popen(f"bpftool -j prog show id {pid}").read())
        cnt += info.get("run_cnt", 0)
        ns += info.get("run_time_ns", 0)
    burst.update(run_cnt=cnt, run_time_ns=ns)
t = os.times()
burst["cpu_s"] = t.user + t.system
print(json.dumps({"drained": n, "emitted": st.emitted, "lost": st.lost, **burst}))
"""


def sh(*cmd: str, check: bool = True, timeout: float = 120) -> str:
    """Run a command and return its stdout."""
    return subprocess.run(cmd, capture_output=True, text=True, check=check,
                          timeout=timeout).stdout


def ns(name: str, *cmd: str) -> list[str]:
    """A command line run inside namespace ``name``."""
    return ["ip", "netns", "exec", name, *cmd]


@contextmanager
def topology() -> Iterator[None]:
    """Two namespaces and a veth pair, removed on exit."""
    for n in (A, B):
        subprocess.run(["ip", "netns", "del", n], capture_output=True)
    try:
        for n in (A, B):
            sh("ip", "netns", "add", n)
            sh(*ns(n, "ip", "link", "set", "lo", "up"))
        sh("ip", "link", "add", "ntFb-a0", "netns", A, "type", "veth", "peer", "name",
           "ntFb-b0", "netns", B)
        sh(*ns(A, "ip", "addr", "add", f"{IP_A}/24", "dev", "ntFb-a0"))
        sh(*ns(B, "ip", "addr", "add", f"{IP_B}/24", "dev", "ntFb-b0"))
        sh(*ns(A, "ip", "link", "set", "ntFb-a0", "up"))
        sh(*ns(B, "ip", "link", "set", "ntFb-b0", "up"))
        yield
    finally:
        for n in (A, B):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


CHAIN = [f"ntFb-c{i}" for i in range(5)]
CHAIN_B = "198.18.13.2"


@contextmanager
def chain() -> Iterator[None]:
    """Five namespaces in a line (c0 -> c1 -> c2 -> c3 -> c4, routed): 8 events per packet."""
    for n in CHAIN:
        subprocess.run(["ip", "netns", "del", n], capture_output=True)
    try:
        for n in CHAIN:
            sh("ip", "netns", "add", n)
            sh(*ns(n, "ip", "link", "set", "lo", "up"))
            sh(*ns(n, "sysctl", "-qw", "net.ipv4.ip_forward=1"))
        for k in range(len(CHAIN) - 1):
            left, right = f"ntFb-l{k}", f"ntFb-r{k}"
            sh("ip", "link", "add", left, "netns", CHAIN[k], "type", "veth", "peer", "name",
               right, "netns", CHAIN[k + 1])
            sh(*ns(CHAIN[k], "ip", "addr", "add", f"198.18.{10 + k}.1/24", "dev", left))
            sh(*ns(CHAIN[k + 1], "ip", "addr", "add", f"198.18.{10 + k}.2/24", "dev", right))
            sh(*ns(CHAIN[k], "ip", "link", "set", left, "up"))
            sh(*ns(CHAIN[k + 1], "ip", "link", "set", right, "up"))
        for k, n in enumerate(CHAIN):
            if k < len(CHAIN) - 1:
                sh(*ns(n, "ip", "route", "add", "default", "via", f"198.18.{10 + k}.2"))
            for j in range(k - 1):
                sh(*ns(n, "ip", "route", "add", f"198.18.{10 + j}.0/24", "via",
                       f"198.18.{10 + k - 1}.1"))
        yield
    finally:
        for n in CHAIN:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


@contextmanager
def iperf_server(where: str = B, addr: str = IP_B) -> Iterator[None]:
    """iperf3 server in namespace ``where``."""
    proc = subprocess.Popen(ns(where, "iperf3", "-s", "-B", addr), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        yield
    finally:
        proc.terminate()
        proc.wait()


def iperf_tcp(seconds: float) -> float:
    """Gbit/s of one TCP stream a -> b."""
    out = sh(*ns(A, "iperf3", "-c", IP_B, "-t", str(seconds), "-J"))
    return float(json.loads(out)["end"]["sum_received"]["bits_per_second"]) / 1e9


def iperf_udp(seconds: float, pps: int) -> dict[str, float]:
    """Send 16-byte UDP datagrams at ``pps`` along the chain; what the receiver got."""
    rate = pps * 16 * 8
    out = sh(*ns(CHAIN[0], "iperf3", "-u", "-c", CHAIN_B, "-t", str(seconds), "-l", "16", "-b",
                 str(rate), "-J"), check=False, timeout=seconds + 15)
    end = json.loads(out)["end"]["sum"]
    return {"packets": float(end.get("packets", 0)), "seconds": float(end["seconds"])}


@contextmanager
def tracer(filter_text: str, result: dict[str, float], pause: float = 0,
           dump: Path | None = None) -> Iterator[None]:
    """The tracer process, attached before the body runs; its counters land in ``result``;
    with ``pause``, the records that piled up meanwhile are written raw to ``dump``."""
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready"
        extra = [str(dump)] if dump is not None else []
        proc = subprocess.Popen([PY, "-c", TRACER, filter_text, str(ready), str(pause), *extra],
                                stdout=subprocess.PIPE, text=True, cwd=ROOT)
        while not ready.exists():
            if proc.poll() is not None:
                raise SystemExit("tracer failed to start")
            time.sleep(0.05)
        try:
            yield
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=60)
            result.update(json.loads(out))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def tcpdumps(result: dict[str, float]) -> Iterator[None]:
    """Full-snaplen ``tcpdump -i any`` in both namespaces, writing pcap files."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = [subprocess.Popen(ns(n, "tcpdump", "-i", "any", "-s", "0", "-n", "-w",
                                     f"{tmp}/{n}.pcap"), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for n in (A, B)]
        time.sleep(1.0)
        try:
            yield
        finally:
            result["cpu_s"] = sum(cpu_seconds(p.pid) for p in procs)
            for p in procs:
                p.terminate()
                p.wait()


MODES = ("untraced", "non-matching filter", "matching filter", "tcpdump -i any x2")


def one_run(mode: str, seconds: float, counters: dict[str, float]) -> float:
    """Gbit/s of one iperf3 run in ``mode``; tracer counters are added to ``counters``."""
    if mode == "untraced":
        return iperf_tcp(seconds)
    result: dict[str, float] = {}
    if mode == "tcpdump -i any x2":
        with tcpdumps(result):
            gbps = iperf_tcp(seconds)
        counters["cpu_s"] = counters.get("cpu_s", 0) + result["cpu_s"]
        return gbps
    flt = "host 203.0.113.99" if mode.startswith("non") else f"host {IP_B}"
    with tracer(flt, result):
        gbps = iperf_tcp(seconds)
    for k, v in result.items():
        counters[k] = counters.get(k, 0) + v
    return gbps


def throughput(seconds: float, runs: int) -> dict[str, dict[str, Any]]:
    """Median Gbit/s per mode (modes interleaved run by run), with the tracer's counters."""
    rates: dict[str, list[float]] = {m: [] for m in MODES}
    counters: dict[str, dict[str, float]] = {m: {} for m in MODES}
    for _ in range(runs):
        for mode in MODES:
            rates[mode].append(one_run(mode, seconds, counters[mode]))
            print(f"{mode:>22}: {rates[mode][-1]:.2f} Gbit/s {counters[mode]}", flush=True)
    return {m: {"gbps": statistics.median(rates[m]), "runs": rates[m], **counters[m]}
            for m in MODES}


def burst_drain(seconds: float, dump: Path | None = None) -> dict[str, float]:
    """Consumer capacity: events piled up while the reader sleeps, then drained in one pass."""
    result: dict[str, float] = {}
    with tracer(f"udp and host {CHAIN_B}", result, pause=seconds + 1.0, dump=dump):
        iperf_udp(seconds, 20_000)
    result["events_per_s"] = result["burst_events"] / result["burst_s"]
    print(f"burst drain: {result}", flush=True)
    return result


def drain(seconds: float, rates: Sequence[int]) -> list[dict[str, float]]:
    """Events drained per second at rising UDP packet rates, with losses."""
    rows = []
    for pps in rates:
        result: dict[str, float] = {}
        with tracer(f"udp and host {CHAIN_B}", result):
            t0 = time.monotonic()
            sent = iperf_udp(seconds, pps)
            elapsed = time.monotonic() - t0
        row = {"offered_pps": pps, "sent_pps": sent["packets"] / sent["seconds"],
               "events_per_s": result["drained"] / elapsed, **result}
        rows.append(row)
        print(f"drain: {row}", flush=True)
    return rows


def record(modes: dict[str, dict[str, Any]], rows: list[dict[str, float]],
           burst: dict[str, float], seconds: float, runs: int) -> str:
    """The bench/RESULTS.md section."""
    base = modes["untraced"]["gbps"]
    lines = [
        "## trace",
        "",
        f"`bench/bench_trace.py --seconds {seconds} --runs {runs}` on {os.uname().release}, "
        f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, load average at the end "
        f"{os.getloadavg()[0]:.1f} (the machine is shared). iperf3 TCP a -> b over a veth "
        "pair between two namespaces; median of the runs, modes interleaved run by run.",
        "",
        "| mode | Gbit/s | cost | events drained | lost | BPF runs | ns/run | BPF CPU "
        "| process CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    total = seconds * runs
    for mode, m in modes.items():
        cost = 100 * (1 - m["gbps"] / base)
        n = int(m.get("run_cnt", 0))
        per = m.get("run_time_ns", 0) / n if n else 0
        bpf = f"{n} | {per:.0f} | {100 * m.get('run_time_ns', 0) / (total * 1e9):.2f}%" \
            if n else "- | - | -"
        proc = f"{100 * m['cpu_s'] / total:.1f}%" if "cpu_s" in m else "-"
        lines.append(f"| {mode} | {m['gbps']:.2f} | {cost:.1f}% | "
                     f"{int(m['drained']) if 'drained' in m else '-'} | "
                     f"{int(m['lost']) if 'lost' in m else '-'} | {bpf} | {proc} |")
    lines += ["", "BPF runs / ns per run / BPF CPU: program invocations, their mean run time and "
              "the share of one CPU they took (kernel run-time statistics over all runs); "
              "process CPU: user+system time of the tracer (Python reader) or of the two "
              "tcpdump processes, as a share of one CPU. These do not move with the machine's "
              "other load the way throughput does.",
              "Throughput per run: " + "; ".join(
                  f"{m}: " + ", ".join(f"{g:.1f}" for g in modes[m].get("runs", []))
                  for m in modes) + "."]
    lines += ["", "Drain rate: 16-byte UDP datagrams along five namespaces in a line (four veth "
              "pairs, 8 events per datagram), filter `udp and host "
              f"{CHAIN_B}`, hooks xmit/recv/drop, 64 MiB ring:", "",
              "| offered pkt/s | sent pkt/s | events drained/s | lost |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {int(r['offered_pps'])} | {int(r['sent_pps'])} | "
                     f"{int(r['events_per_s'])} | {int(r['lost'])} |")
    lines += ["", f"Consumer capacity: {int(burst['burst_events'])} events piled up while the "
              f"reader slept, drained in {burst['burst_s'] * 1000:.0f} ms = "
              f"**{int(burst['events_per_s'])} events/s**, {int(burst['lost'])} lost "
              "(decoding and writing them: `bench/bench_trace_decode.py`)."]
    return "\n".join(lines) + "\n"


def show(text: str, keep: bool) -> None:
    """Print a results section and, when ``keep``, append it to bench/RESULTS.md."""
    print(text)
    if keep:
        with open(ROOT / "bench" / "RESULTS.md", "a") as f:
            f.write("\n" + text)


def main() -> int:
    """Run both benchmarks, print and optionally record them."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rates", default="10000,20000,40000,80000")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = ap.parse_args()
    with topology(), iperf_server():
        modes = {} if args.skip_throughput else throughput(args.seconds, args.runs)
    with chain(), iperf_server(CHAIN[-1], CHAIN_B):
        rows = drain(args.seconds, [int(r) for r in args.rates.split(",")])
        burst = burst_drain(1.0)
    if not modes:
        print(rows, burst)
        return 0
    show(record(modes, rows, burst, args.seconds, args.runs), args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
