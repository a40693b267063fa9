"""Lab timings: build (`up`), captured run and teardown (`down`) of every shipped scenario,
and the whole `nettrail demo`. Needs root.

    .venv/bin/python bench/bench_lab.py [--repeat N] [--record]

``--record`` appends a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nettrail import lab

ROOT = Path(__file__).resolve().parent.parent


def time_scenario(name: str, out: Path) -> dict[str, float]:
    """Seconds to bring ``name`` up, run it with captures, and take it down."""
    lab.down(name)
    t0 = time.monotonic()
    handle = lab.up(name)
    t1 = time.monotonic()
    result = handle.run(out / name)
    t2 = time.monotonic()
    handle.down()
    t3 = time.monotonic()
    if not result.traffic.as_expected:
        raise SystemExit(f"{name}: client saw {result.traffic.outcome}, "
                         f"expected {result.traffic.expected}")
    return {"up": t1 - t0, "run": t2 - t1, "traffic": result.traffic.elapsed,
            "settle": handle.scenario.traffic.settle, "down": t3 - t2}


def time_demo(out: Path) -> float:
    """Seconds for the whole `nettrail demo` (two labs, two analyses, reports)."""
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "nettrail.cli.main", "demo", "--output", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def main() -> int:
    """Time every scenario ``--repeat`` times and the demo once; print (and record) a table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in lab.available():
            samples = [time_scenario(name, Path(tmp) / str(i)) for i in range(args.repeat)]
            med = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
            scn = lab.load(name)
            switching = "Open vSwitch" if scn.switches else "Linux bridge"
            rows.append(f"| {name} | {switching} | {len(scn.hosts)} | {med['up']:.2f} | "
                        f"{med['run']:.2f} | "
                        f"{med['traffic']:.2f} | {med['settle']:.1f} | {med['down']:.2f} |")
        demo = time_demo(Path(tmp) / "demo")
    text = "\n".join([
        "",
        "## Lab: build, captured run and teardown per scenario",
        "",
        f"{time.strftime('%Y-%m-%d')}, {platform.node()}, kernel {platform.release()}, "
        f"{args.repeat} runs each, medians in seconds. `run` = tcpdump started and listening at "
        "every capture point + client traffic + settle time + captures stopped + manifest; "
        "`traffic` is the client alone (a timeout or stall is the scenario's expected outcome).",
        "",
        "| scenario | switching | hosts | up | run | traffic | settle | down |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"`nettrail demo` (dual-l3 and healthy: build, run, tear down, analyse, text and HTML "
        f"reports): {demo:.1f} s.",
        "",
    ])
    print(text)
    if args.record:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
