"""Decoding and writing trace events: the previous per-event decoder against the columnar one.

1. Decode rate: a burst of real events (16-byte UDP datagrams along the five namespaces of
   ``bench_trace.chain``, 8 events each) is read raw from the ring once; then each source tree
   decodes it (old: a ``TraceEvent`` per record; new: an ``EventTable`` per batch), alone, then
   written as JSON lines, then as the live timeline, to /dev/null. One fresh process per
   measurement pinned to CPU 0 (``taskset -c 0``), trees alternating, best of ``--runs``.
2. Live: ``nettrail trace`` itself from each tree, pinned to CPU 0, on the chain while iperf3
   (pinned to CPU 1) offers ``--rate`` events/s for ``--seconds``: the events it wrote and the
   events the kernel lost because the 64 MiB ring was full, as the CLI reports them.

The old tree is a source tree of the previous version, e.g. ``git archive main | tar -x -C
/tmp/nettrail-old`` with ``src/nettrail/trace/bpf/trace.bpf.o`` copied in (the BPF side is
the same). Usage (root): ``.venv/bin/python bench/bench_trace_decode.py --old /tmp/nettrail-old
[--runs 3] [--rate 300000] [--seconds 5] [--record]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_trace import CHAIN, CHAIN_B, PY, ROOT, burst_drain, chain, iperf_server, show
from run import child_env

DECODE = r"""
import contextlib, json, os, sys, time
from nettrail.trace import layout as L
from nettrail.trace.decode import Decoder
buf = open(sys.argv[1], "rb").read()
what = sys.argv[2]
size = int(sys.argv[3]) * L.RECORD_STRUCT.size if len(sys.argv) > 3 else 0
chunks = [buf[i : i + size] for i in range(0, len(buf), size)] if size else [buf]
try:
    from nettrail.report.trace_json import JsonLines
    from nettrail.report.trace_text import Timeline
    decode = lambda d, b: d.table(b)
except ImportError:
    from nettrail.trace.output import JsonLines, Timeline
    decode = lambda d, b: [d.event(r) for r in L.RECORD_STRUCT.iter_unpack(b)]
try:  # the collector's settings of a trace run, where the tree has them
    from nettrail.trace.run import _rare_collections as collections
except ImportError:
    collections = contextlib.nullcontext
out = open(os.devnull, "w")
d = Decoder(time.clock_gettime_ns(time.CLOCK_REALTIME) - time.monotonic_ns())
if what == "json":
    sink = JsonLines(out, 0, "")
elif what == "timeline":
    sink = Timeline(out)
elif what == "pcapng":
    from nettrail.report.trace_pcapng import PcapngOut
    sink = PcapngOut(open(os.devnull, "wb"))
else:
    sink = None
t0 = time.perf_counter()
c0 = time.process_time()
with collections():
    for chunk in chunks:
        data = decode(d, chunk)
        if what == "timeline":
            sink.add(data)
            sink.flush(time.clock_gettime_ns(time.CLOCK_MONOTONIC))
        elif sink is not None:
            sink.write(data)
    if what == "timeline":
        sink.flush()
print(json.dumps({"events": len(buf) // L.RECORD_STRUCT.size,
                  "seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0}))
"""
STAGES = ("decode", "json", "timeline", "pcapng")
MODES = {"json": ["-q", "--output-json", "{tmp}/t.jsonl"], "timeline": [],
         "timeline+json": ["--output-json", "{tmp}/t.jsonl"],
         "pcapng": ["-q", "--output-pcapng", "{tmp}/t.pcapng"]}
SUMMARY = re.compile(r"nettrail: (\d+) events, (\d+) lost")


NEW = [ROOT]


def trees(old: Path) -> dict[str, Path]:
    """The source trees compared: the previous version and this one."""
    return {"old": old, "new": NEW[0]}


def env_for(tree: Path) -> dict[str, str]:
    """The environment that imports nettrail from ``tree`` (its bytecode: ``child_env``)."""
    return child_env(tree / "src", PYTHONPATH=str(tree / "src"))


def decode_rates(dump: Path, old: Path, runs: int, batch: int = 0) -> dict[str, dict[str, Any]]:
    """Best events/s per (tree, stage), trees alternating run by run; the burst decoded and
    written ``batch`` events at a time (0: all at once)."""
    best: dict[str, dict[str, Any]] = {}
    for _ in range(runs):
        for stage in STAGES:
            for name, tree in trees(old).items():
                out = subprocess.run(["taskset", "-c", "0", PY, "-c", DECODE, str(dump), stage,
                                      str(batch)],
                                     capture_output=True, text=True, check=True,
                                     env=env_for(tree), cwd="/").stdout
                got = json.loads(out)
                rate = got["events"] / got["seconds"]
                key = f"{name} {stage}"
                if rate > best.get(key, {}).get("rate", 0):
                    best[key] = {**best.get(key, {}), "rate": rate, "events": got["events"],
                                 "load": os.getloadavg()[0]}
                best[key]["cpu_rate"] = max(best[key].get("cpu_rate", 0),
                                            got["events"] / got["cpu"])
                print(f"{key}: {rate:,.0f} events/s (load {os.getloadavg()[0]:.1f})", flush=True)
    return best


def udp_chain(seconds: float, pps: int) -> dict[str, float]:
    """16-byte UDP datagrams at ``pps`` along the chain from CPU 1; what the receiver got."""
    if not pps:
        time.sleep(seconds)
        return {"packets": 0.0, "seconds": seconds}
    cmd = ["ip", "netns", "exec", CHAIN[0], "taskset", "-c", "1", "iperf3", "-u", "-c",
           CHAIN_B, "-t", str(seconds), "-l", "16", "-b", str(pps * 16 * 8), "-J"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    end = json.loads(out)["end"]["sum"]
    return {"packets": float(end.get("packets", 0)), "seconds": float(end["seconds"])}


def live_run(tree: Path, mode: str, rate: int, seconds: float) -> dict[str, Any]:
    """One ``nettrail trace`` run of ``tree`` in ``mode`` on a stream of ``rate`` events/s."""
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready"
        extra = [a.format(tmp=tmp) for a in MODES[mode]]
        cmd = ["taskset", "-c", "0", PY, "-m", "nettrail.cli.main", "trace", "--hooks",
               "xmit,recv,drop", "--ring-size", "64", "--ready-file", str(ready), *extra,
               "udp", "and", "host", CHAIN_B]
        with open(Path(tmp) / "stdout", "w") as stdout:
            proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True,
                                    env=env_for(tree), cwd="/")
            while not ready.exists():
                if proc.poll() is not None:
                    _, err = proc.communicate()
                    raise SystemExit(f"nettrail trace failed: {err}")
                time.sleep(0.05)
            t0 = time.monotonic()
            sent = udp_chain(seconds, rate // 8)
            elapsed = time.monotonic() - t0
            load = os.getloadavg()[0]
            proc.send_signal(signal.SIGINT)
            err = proc.stderr.read() if proc.stderr else ""
            _, _, usage = os.wait4(proc.pid, 0)
            proc.returncode = 0
    found = SUMMARY.search(err)
    if found is None:
        raise SystemExit(f"no summary from nettrail trace: {err[-500:]}")
    events, lost = int(found.group(1)), int(found.group(2))
    return {"events": events, "lost": lost, "sent_pps": sent["packets"] / sent["seconds"],
            "events_per_s": events / elapsed, "load": load,
            "cpu_s": usage.ru_utime + usage.ru_stime}


def live(old: Path, rate: int, seconds: float, runs: int,
         modes: Sequence[str] = tuple(MODES)) -> dict[str, list[dict[str, Any]]]:
    """Every (tree, mode) run ``runs`` times, trees alternating; first each tree once with
    no traffic (its CPU time is what starting, loading and waiting cost)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, tree in trees(old).items():
        out[f"{name} idle"] = [live_run(tree, "json", 0, seconds)]
        print(f"live {name} idle: {out[f'{name} idle']}", flush=True)
    for _ in range(runs):
        for mode in modes:
            for name, tree in trees(old).items():
                got = live_run(tree, mode, rate, seconds)
                out.setdefault(f"{name} {mode}", []).append(got)
                print(f"live {name} {mode}: {got}", flush=True)
    return out


def record(best: dict[str, dict[str, Any]], runs_live: dict[str, list[dict[str, Any]]],
           args: argparse.Namespace) -> str:
    """The bench/RESULTS.md section."""
    lines = ["## trace decoding: per-event decoder vs columnar table",
             "", f"`bench/bench_trace_decode.py --runs {args.runs} --rate {args.rate} --seconds "
             f"{args.seconds}` on {os.uname().release}, {os.cpu_count()} CPUs, "
             f"{time.strftime('%Y-%m-%d %H:%M')} UTC, machine shared with other work (load "
             "average next to each figure). Old: the previous tree (a `TraceEvent` per record); "
             "new: this tree (an `EventTable` per batch, full events on demand)."]
    if best:
        lines += decode_table(best, args)
    if not runs_live:
        return "\n".join(lines) + "\n"
    return "\n".join(lines + live_table(runs_live, args)) + "\n"


def decode_table(best: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """The lines of the decode-rate table."""
    events = next(iter(best.values()))["events"]
    lines = ["", f"Decode rate, {events} real events (UDP along five namespaces) read raw from the "
             "ring, one fresh process per measurement on one core (`taskset -c 0`), best of "
             f"{args.runs}, old and new alternating:", "",
             "| stage | old events/s | new events/s | speed-up | load (old/new) "
             "| old / new events per CPU-second |",
             "|---|---|---|---|---|---|"]
    for stage in STAGES:
        o, n = best[f"old {stage}"], best[f"new {stage}"]
        what = {"decode": "decode", "json": "decode + JSON lines",
                "timeline": "decode + live timeline", "pcapng": "decode + pcapng"}[stage]
        lines.append(f"| {what} | {o['rate']:,.0f} | {n['rate']:,.0f} | "
                     f"{n['rate'] / o['rate']:.1f}x | {o['load']:.1f}/{n['load']:.1f} | "
                     f"{o['cpu_rate']:,.0f} / {n['cpu_rate']:,.0f} |")
    return lines


def live_table(runs_live: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> list[str]:
    """The lines of the live table."""
    lines = ["", f"Live: `nettrail trace` (CPU 0, 64 MiB ring, hooks xmit/recv/drop) while "
              f"iperf3 (CPU 1) offers {args.rate:,} events/s ({args.rate // 8:,} datagrams/s) for "
              f"{args.seconds} s; every run:", "",
              "| tree | output | sent datagrams/s | events written | events/s | lost | load "
              "| CPU µs/event |", "|---|---|---|---|---|---|---|---|"]
    for key, rows in runs_live.items():
        name, mode = key.split(" ", 1)
        idle = runs_live[f"{name} idle"][0]["cpu_s"]
        for r in rows:
            per = (f"{1e6 * (r['cpu_s'] - idle) / r['events']:.2f}" if r["events"] > 100
                   else f"({r['cpu_s']:.2f} s in all)")
            lines.append(f"| {name} | {mode} | {r['sent_pps']:,.0f} | {r['events']:,} | "
                         f"{r['events_per_s']:,.0f} | {r['lost']:,} | {r['load']:.1f} | {per} |")
    lines += ["", "CPU µs/event: the CLI process's user+system time beyond its idle run's "
              "(loading and verifying the BPF programs, waiting), per event written; a core to "
              "itself keeps up with 1/that events per second."]
    return lines


def main() -> int:
    """Record a burst, compare the decoders on it, then run both CLIs live."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", type=Path, required=True, help="source tree of the old version")
    ap.add_argument("--new", type=Path, default=ROOT, help="source tree of the new version "
                    "(default: this one)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=int, default=300_000, help="events/s offered live")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--live-runs", type=int, default=None, help="live runs (default: --runs)")
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-decode", action="store_true", help="live runs only")
    ap.add_argument("--modes", default=",".join(MODES),
                    help=f"live outputs to run (default: {','.join(MODES)})")
    ap.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    ap.add_argument("--burst", type=Path, default=None,
                    help="decode this recorded burst (raw ring records) instead; no live part")
    ap.add_argument("--batch", type=int, default=0,
                    help="decode and write the burst this many events at a time, as the live "
                    "drain does (default: all at once)")
    args = ap.parse_args()
    NEW[0] = args.new
    if args.burst is not None:
        show(record(decode_rates(args.burst, args.old, args.runs, args.batch), {}, args),
             args.record)
        return 0
    with tempfile.TemporaryDirectory() as tmp, chain(), iperf_server(CHAIN[-1], CHAIN_B):
        dump = Path(tmp) / "burst.raw"
        best = {}
        if not args.skip_decode:
            burst_drain(1.0, dump)
            best = decode_rates(dump, args.old, args.runs, args.batch)
        runs_live = {} if args.skip_live else live(args.old, args.rate, args.seconds,
                                                    args.live_runs or args.runs,
                                                    args.modes.split(","))
    show(record(best, runs_live, args), args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
