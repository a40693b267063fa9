"""``nettrail collect`` over lab hosts: start-up time and clock offset error for 1 to 8 hosts,
and packets per second streamed back per host. Needs root.

    .venv/bin/python bench/bench_collect.py [--repeat N] [--record]

The lab is 8 hosts around a switch, each with its own emulated clock offset (collect is not
told). Start-up = from the command's start until every host captures (manifest ``ready_s``).
Offset error = |probe offset - emulated offset|, next to the uncertainty collect states.
Streaming: h1 serves 400 MB over TCP to h2 (offloads off: every packet is a wire-size
frame); collect captures both ends, h2 through the lab's clock-shifting wrapper.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nettrail import lab
from nettrail.lab import sshhosts

ROOT = Path(__file__).resolve().parent.parent
NETTRAIL = [sys.executable, "-m", "nettrail.cli.main"]
OFFSETS_MS = [0, -25, 13, -7.5, 40, -3, 1, -60]
STREAM_BYTES = 400_000_000


def scenario_text() -> str:
    """Eight hosts h1..h8 on a switch; h1 serves bytes; clocks offset by OFFSETS_MS."""
    parts = ['name = "collect-bench"', "offloads = false", 'captures = ["h1", "h2"]',
             "[traffic]", 'host = "h2"', 'kind = "tcp-fetch"', 'target = "198.18.9.1"',
             "port = 8000", f"bytes = {STREAM_BYTES}", "timeout = 60", 'expect = "success"',
             "settle = 0.2", "[hosts.sw.bridges.br0]"]
    for i, off in enumerate(OFFSETS_MS, 1):
        parts.append(f"[hosts.h{i}]\nclock_offset_ms = {off}")
        parts.append(f'[links.l{i}]\na = {{ host = "h{i}", dev = "eth0", '
                     f'addrs = ["198.18.9.{i}/24"] }}\nb = {{ host = "sw", dev = "p{i}", '
                     'master = "br0" }')
    parts.append('[hosts.h1.services.bulk]\nkind = "tcp-server"\nport = 8000\n'
                 f"bytes = {STREAM_BYTES}")
    return "\n".join(parts) + "\n"


def run_collect(config: Path, out: Path, hosts: list[str], *tail: str) -> dict[str, Any]:
    """One collect run; its manifest."""
    argv = [*NETTRAIL, "collect", "-F", str(config), "--output", str(out), *hosts, *tail]
    res = subprocess.run(argv, stderr=subprocess.PIPE, text=True, timeout=300, check=False)
    if res.returncode not in (0, 5):
        raise SystemExit(f"collect failed ({res.returncode}): {res.stderr}")
    data: dict[str, Any] = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return data


def startup(config: Path, tmp: Path, n: int, repeat: int) -> dict[str, float]:
    """Median start-up and worst offset error / stated uncertainty over ``repeat`` runs."""
    ready, errors, uncs, failed = [], [], [], []
    for r in range(repeat):
        hosts = [f"h{i}" for i in range(1, n + 1)]
        data = run_collect(config, tmp / f"s{n}-{r}", hosts, "--duration", "0.2", "--settle",
                           "0")
        ready.append(data["timings"]["ready_s"])
        for h in data["hosts"]:
            if h["state"] != "done":
                failed.append(f"{h['name']}: {h['reason']}")
                continue
            truth = OFFSETS_MS[int(h["name"][1:]) - 1] * 1e6
            for when in ("before", "after"):
                est = h["clock"][when]
                if est is None:
                    failed.append(f"{h['name']}: no {when} probe answered")
                    continue
                errors.append(abs(est["offset_ns"] - truth))
                uncs.append(est["uncertainty_ns"])
    if failed:
        print(f"{n} hosts: " + "; ".join(failed), file=sys.stderr)
    return {"failed": len(failed), "ready_s": statistics.median(ready),
            "err_med_us": statistics.median(errors) / 1e3,
            "err_max_us": max(errors) / 1e3, "unc_med_us": statistics.median(uncs) / 1e3,
            "within": sum(e <= u for e, u in zip(errors, uncs, strict=True)) / len(errors)}


def streaming(config: Path, tmp: Path, snaplen: int) -> dict[str, dict[str, float]]:
    """Packets per second each host streamed back while h2 fetched from h1."""
    data = run_collect(config, tmp / f"stream{snaplen}", ["h1", "h2"], "--settle", "0.2",
                       "--snaplen", str(snaplen), "--",
                       *NETTRAIL, "lab", "traffic", "collect-bench")
    seconds = data["timings"]["trigger_end_s"] - data["timings"]["ready_s"]
    result = {}
    for h in data["hosts"]:
        counts = h["tcpdump"]
        result[h["name"]] = {"packets": h["packets"], "mb": h["bytes"] / 1e6,
                             "pps": h["packets"] / seconds, "mbps": h["bytes"] / 1e6 / seconds,
                             "dropped": counts.get("dropped-by-kernel", 0),
                             "seconds": seconds}
    return result


def ebpf(config: Path, tmp: Path, repeat: int) -> list[str]:
    """``--tracer ebpf``: start-up (archive sent, tracer loaded) for 1 and 2 hosts, and the
    packets per second each host's tracer streamed back while h2 fetched from h1."""
    lines = ["", "`--tracer ebpf` (no snapshots): start-up until every tracer is attached, "
             "and packets streamed while h2 fetches 400 MB from h1 (filter `tcp port 8000`; "
             "both tracers run on this one kernel: h1's streams the lab's namespaces that are "
             "no host's login, h2's its own).", "",
             "| what | hosts | result | load average |", "|---|---|---|---|"]
    for n in (1, 2):
        ready = [run_collect(config, tmp / f"e{n}-{r}", [f"h{i}" for i in range(1, n + 1)],
                             "--tracer", "ebpf", "--no-snapshot", "--duration", "0.2",
                             "--settle", "0", "--probes", "16")["timings"]["ready_s"]
                 for r in range(repeat)]
        lines.append(f"| start-up, median of {repeat} | {n} | {statistics.median(ready):.2f} s "
                     f"(best {min(ready):.2f} s) | {os.getloadavg()[0]:.1f} |")
    data = run_collect(config, tmp / "estream", ["h1", "h2"], "--tracer", "ebpf",
                       "--no-snapshot", "--settle", "0.2", "--filter", "tcp port 8000", "--",
                       *NETTRAIL, "lab", "traffic", "collect-bench")
    seconds = data["timings"]["trigger_end_s"] - data["timings"]["ready_s"]
    for h in data["hosts"]:
        t = h.get("tracer") or {}
        lines.append(f"| streamed, {seconds:.2f} s | {h['name']} ({len(h['points'])} points) | "
                     f"{h['packets']} packets kept, {t.get('packets', 0)} streamed "
                     f"({t.get('packets', 0) / seconds:.0f}/s, {h['bytes'] / 1e6:.1f} MB kept), "
                     f"{t.get('lost', 0)} events lost"
                     + (f"; {h['state']}: {h['reason']}" if h["state"] != "done" else "")
                     + f" | {os.getloadavg()[0]:.1f} |")
    return lines


def main() -> int:
    """Measure, print, and with ``--record`` append to bench/RESULTS.md."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--ebpf-only", action="store_true",
                    help="only the --tracer ebpf figures")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        path = tmp / "collect-bench.toml"
        path.write_text(scenario_text(), encoding="utf-8")
        lab.down("collect-bench")
        t0 = time.monotonic()
        with lab.up(str(path)) as handle:
            up_s = time.monotonic() - t0
            config = sshhosts.write_client_config(handle.scenario, handle.state.dir)
            rows = {} if args.ebpf_only else {
                n: startup(config, tmp, n, args.repeat) for n in (1, 2, 4, 8)}
            stream = {} if args.ebpf_only else {
                f"{name}, snaplen {snap}": r for snap in (262144, 128)
                for name, r in streaming(config, tmp, snap).items()}
            tracer = ebpf(config, tmp, args.repeat)
    text = render(rows, stream, up_s, args.repeat) + "\n".join(tracer) + "\n"
    print(text)
    if args.record:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


def render(rows: dict[int, dict[str, float]], stream: dict[str, dict[str, float]],
           up_s: float, repeat: int) -> str:
    """The RESULTS.md section."""
    lines = [
        "## collect: start-up, clock offset error, streaming (bench/bench_collect.py)",
        "",
        f"{time.strftime('%Y-%m-%d')}, {platform.node()}, kernel {platform.release()}, "
        f"{repeat} runs per row; lab of 8 hosts (build {up_s:.2f} s) with emulated clock "
        f"offsets {OFFSETS_MS} ms, 128 probes before and after per host.",
        "",
        "| hosts | start-up (median) | offset error median | max | stated uncertainty median "
        "| error within uncertainty | host failures |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, r in rows.items():
        lines.append(f"| {n} | {r['ready_s']:.2f} s | {r['err_med_us']:.1f} µs | "
                     f"{r['err_max_us']:.1f} µs | {r['unc_med_us']:.1f} µs | "
                     f"{r['within']:.0%} | {r['failed']:.0f} |")
    lines += ["", "| host | packets | MB | seconds | packets/s | MB/s | dropped by kernel |",
              "|---|---|---|---|---|---|---|"]
    for name, s in stream.items():
        lines.append(f"| {name} | {s['packets']} | {s['mb']:.0f} | {s['seconds']:.2f} | "
                     f"{s['pps']:.0f} | {s['mbps']:.1f} | {s['dropped']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
