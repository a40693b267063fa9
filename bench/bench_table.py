"""``nettrail analyze`` on one core against tshark, on several traffic mixes (the packet table).

    python bench/bench_table.py [--packets 1000000] [--mixes web,bulk,short,sll2]
                                [--repeat 3] [--pcapng] [--no-append]

For each mix (``bench/gen_capture.py --mix``, generated once into bench/data/), runs in turn,
``--repeat`` times, both pinned to CPU 0 (``taskset -c 0``): ``nettrail analyze --format json
FILE > /dev/null`` and ``tshark -q -z conv,tcp -r FILE``; with ``--pcapng`` also nettrail on
the same packets as pcapng (``editcap -F pcapng``). Wall time and peak RSS per child
(``os.wait4``); best of the runs; the load average before and after. The table is printed
and appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from run import timed

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
RESULTS = BENCH / "RESULTS.md"


def capture(mix: str, packets: int, seed: int) -> Path:
    """The mix's capture, generated once."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"mix-{mix}-{packets}-seed{seed}.pcap"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        subprocess.run([sys.executable, str(BENCH / "gen_capture.py"), str(tmp), "--packets",
                        str(packets), "--seed", str(seed), "--mix", mix], check=True)
        tmp.rename(path)
    return path


def as_pcapng(path: Path) -> Path:
    """The same packets as pcapng (made once with editcap)."""
    out = path.with_suffix(".pcapng")
    if not out.exists():
        subprocess.run(["editcap", "-F", "pcapng", str(path), str(out)], check=True)
    return out


def main() -> int:
    """Run the comparison, print it and append it to RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mixes", default="web,bulk,short,sll2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pcapng", action="store_true")
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--no-append", action="store_true", help="print only")
    args = ap.parse_args()
    nettrail = str(Path(sys.executable).with_name("nettrail"))
    tshark = shutil.which("tshark")
    pin = ["taskset", "-c", "0"]
    lines = [f"## packet table: analyze on one core vs tshark ({datetime.now(UTC):%Y-%m-%d %H:%M}"
             f" UTC, {args.packets} packets)", "",
             "| input | nettrail best wall / CPU (s) | RSS (MB) | tshark best wall / CPU (s) | "
             "tshark RSS (MB) | ratio wall / CPU | load before/after |",
             "|---|---|---|---|---|---|---|"]
    for mix in args.mixes.split(","):
        path = capture(mix, args.packets, args.seed)
        cmds = {"nettrail": [*pin, nettrail, "analyze", "--format", "json", str(path)]}
        if args.pcapng:
            cmds["nettrail pcapng"] = [*pin, nettrail, "analyze", "--format", "json",
                                             str(as_pcapng(path))]
        if tshark and not args.no_tshark:
            cmds["tshark"] = [*pin, tshark, "-q", "-z", "conv,tcp", "-r", str(path)]
        runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in cmds}
        load0 = os.getloadavg()[0]
        for _ in range(args.repeat):  # alternating, so load changes hit both alike
            for name, argv in cmds.items():
                runs[name].append(timed(argv))
        load1 = os.getloadavg()[0]
        best = {k: min(w for w, _c, _r in v) for k, v in runs.items()}
        cpu = {k: min(c for _w, c, _r in v) for k, v in runs.items()}
        rss = {k: max(r for _w, _c, r in v) for k, v in runs.items()}
        t_best, t_cpu = best.get("tshark"), cpu.get("tshark")
        for name in [k for k in cmds if k != "tshark"]:
            ratio = (f"{best[name] / t_best:.2f} / {cpu[name] / t_cpu:.2f}"
                     if t_best and t_cpu else "-")
            t_text = (f"{t_best:.2f} / {t_cpu:.2f} | {rss['tshark']:.0f}" if t_best
                      else "- | -")
            label = f"{mix} ({path.stat().st_size / 1e6:.0f} MB)" + (
                " as pcapng" if name.endswith("pcapng") else "")
            lines.append(f"| {label} | {best[name]:.2f} / {cpu[name]:.2f} | {rss[name]:.0f} | "
                         f"{t_text} | {ratio} | {load0:.1f}/{load1:.1f} |")
        print("\n".join(lines[-len(cmds) + (1 if t_best else 0):]), flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_append:
        with RESULTS.open("a") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
