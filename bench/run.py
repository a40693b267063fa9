"""Time ``nettrail analyze`` against tshark and tcpdump on the same large capture, in one run.

    python bench/run.py [--packets 1000000] [--seed 1] [--repeat 3] [--no-append]

Generates (once, cached in bench/data/) a capture with bench/gen_capture.py, then runs, in
turn and ``--repeat`` times each: ``nettrail analyze --format json FILE > /dev/null`` (the
CLI, full single-point analysis), a plain read of the file into PacketRecords through
nettrail's general reader (what multi-point analysis pays; single-point analysis of a pcap
reads it into a packet table by columns and is quicker than this),
``tshark -q -z conv,tcp -r FILE`` and ``tcpdump -nr FILE``. Wall time and peak RSS are taken
per child process (``os.wait4``). The table is printed and appended to bench/RESULTS.md
under "analyze", with the date, machine and versions.
"""

from __future__ import annotations

import argparse
import compileall
import functools
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
RESULTS = BENCH / "RESULTS.md"
READ_ONLY = (
    "import sys\n"
    "from nettrail.capture import open_capture\n"
    "n = 0\n"
    "for _ in open_capture(sys.argv[1], 'p'):\n"
    "    n += 1\n"
)


def capture(packets: int, seed: int) -> Path:
    """The benchmark capture, generated once per (packets, seed)."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"analyze-{packets}-seed{seed}.pcap"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        subprocess.run([sys.executable, str(BENCH / "gen_capture.py"), str(tmp), "--packets",
                        str(packets), "--seed", str(seed)], check=True)
        tmp.rename(path)
    return path


def child_env(src: Path = ROOT / "src", **extra: str) -> dict[str, str]:
    """The environment of a timed child that runs nettrail from ``src``, with its sources
    compiled to bytecode beforehand and bytecode kept, as a user's nettrail runs (pip compiles
    an installed package; a checkout's modules are compiled on their first run and kept in
    ``__pycache__``). A shell with ``PYTHONDONTWRITEBYTECODE`` set, as this machine's is, has
    every run compile every module again: 40-70 ms of CPU (imports alone: 0.19 s against
    0.12 s) that a 200,000-line text read would count as its own. ``extra``: variables to set
    as well."""
    compileall.compile_dir(str(src), quiet=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


@functools.cache
def _timed_env() -> dict[str, str]:
    """``child_env`` of this tree, compiled once a bench run rather than before every child."""
    return child_env()


def timed(argv: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one run of ``argv``, stdout to
    /dev/null; nettrail from this tree's bytecode (``child_env``)."""
    env = _timed_env()
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=null, stderr=subprocess.DEVNULL, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed: exit {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def version(argv: list[str]) -> str:
    """First line a tool prints about its version."""
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip().rstrip(".")


def main() -> int:
    """Run the comparison, print it and append it to RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-append", action="store_true", help="print only")
    args = ap.parse_args()
    path = capture(args.packets, args.seed)
    nettrail = str(Path(sys.executable).with_name("nettrail"))
    tshark, tcpdump = shutil.which("tshark"), shutil.which("tcpdump")
    if not (tshark and tcpdump and os.path.exists(nettrail)):
        raise SystemExit("needs tshark, tcpdump and nettrail installed in this venv")
    commands = {
        "nettrail analyze --format json": [nettrail, "analyze", "--format", "json", str(path)],
        "nettrail records reader alone": [sys.executable, "-c", READ_ONLY, str(path)],
        "tshark -q -z conv,tcp": [tshark, "-q", "-z", "conv,tcp", "-r", str(path)],
        "tcpdump -nr": [tcpdump, "-nr", str(path)],
    }
    runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in commands}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeat):  # interleaved, so load changes hit every tool alike
        for name, argv in commands.items():
            runs[name].append(timed(argv))
    load_after = os.getloadavg()[0]
    table = render(runs, path, args, (load_before, load_after), tshark, tcpdump)
    print(table)
    if not args.no_append:
        with RESULTS.open("a") as f:
            f.write("\n" + table)
    return 0


def render(runs: dict[str, list[tuple[float, float, float]]], path: Path, args: argparse.Namespace,
           load: tuple[float, float], tshark: str, tcpdump: str) -> str:
    """The markdown section: context, one row per tool, the ratio to tshark."""
    tshark_best = min(w for w, _, _ in runs["tshark -q -z conv,tcp"])
    ours_best = min(w for w, _, _ in runs["nettrail analyze --format json"])
    tshark_cpu = min(c for _, c, _ in runs["tshark -q -z conv,tcp"])
    ours_cpu = min(c for _, c, _ in runs["nettrail analyze --format json"])
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [
        f"## analyze: nettrail vs tshark vs tcpdump ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`python bench/run.py --packets {args.packets} --seed {args.seed} --repeat "
        f"{args.repeat}` on `{path.name}` ({path.stat().st_size / 1e6:.0f} MB); {os.cpu_count()}"
        f" cores ({cpu}), Linux {platform.release()}, Python {platform.python_version()}, "
        f"{version([tshark, '--version'])}, {version([tcpdump, '--version'])}; load average "
        f"{load[0]:.1f} before, {load[1]:.1f} after (the machine is shared).",
        "",
        "| command | wall best (s) | wall median (s) | CPU best (s) | peak RSS (MB) |",
        "|---|---|---|---|---|",
    ]
    for name, samples in runs.items():
        walls = [w for w, _, _ in samples]
        cpu_best = min(c for _, c, _ in samples)
        rss = max(r for _, _, r in samples)
        lines.append(f"| `{name}` | {min(walls):.2f} | {statistics.median(walls):.2f} | "
                     f"{cpu_best:.2f} | {rss:.0f} |")
    lines += ["", f"nettrail / tshark, best wall: {ours_best / tshark_best:.2f}; best CPU: "
              f"{ours_cpu / tshark_cpu:.2f} (the bar is 0.50)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
