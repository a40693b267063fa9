"""`nettrail lab`: list, build, run, tear down and inspect failure labs in network namespaces."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from nettrail import lab
from nettrail.errors import InputError
from nettrail.lab.handle import LabHandle, RunResult
from nettrail.model.flow import count_text

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EPILOG = """examples:
  nettrail lab list
  nettrail lab run dual-l3 --output out && nettrail analyze out
  nettrail lab up healthy && nettrail lab status && nettrail lab down healthy
  nettrail lab run ./my-scenario.toml    # a copy of a shipped scenario, edited
"""


def register(sub: Any) -> None:
    """Add the `lab` subcommand and its verbs to the parser."""
    p: argparse.ArgumentParser = sub.add_parser(
        "lab", help="failure labs in real network namespaces",
        description="Build scenarios as real network namespaces, run them with captures at\n"
                    "every point, tear them down.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    verbs.add_parser("list", help="list the shipped scenarios")
    up = verbs.add_parser("up", help="build a scenario and leave it running")
    up.add_argument("name", help="scenario name or path to a .toml file")
    run = verbs.add_parser("run", help="capture at every point while driving the traffic")
    run.add_argument("name", help="scenario name or path to a .toml file")
    run.add_argument("--output", type=Path, default=None, metavar="DIR",
                     help="directory for pcaps and manifest.json (default nettrail-lab/NAME)")
    run.add_argument("--keep", action="store_true",
                     help="leave the lab up afterwards (when this run built it)")
    down = verbs.add_parser("down", help="tear a lab down (idempotent)")
    down.add_argument("name", nargs="?", help="scenario name or path to a .toml file")
    down.add_argument("--all", action="store_true", help="remove every lab namespace")
    verbs.add_parser("status", help="list labs and leftovers on this machine")
    cfg = verbs.add_parser("ssh-config", help="print an OpenSSH config for a lab that is up "
                           "(ssh -F, nettrail collect -F)")
    cfg.add_argument("name", help="scenario name")
    traffic = verbs.add_parser("traffic", help="drive a lab's client traffic once, print the "
                               "outcome")
    traffic.add_argument("name", help="scenario name")
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Run one `nettrail lab` verb."""
    out = sys.stdout
    if args.verb is None:
        raise InputError("lab needs a verb: list, up, run, down, status, ssh-config or traffic "
                         "(nettrail lab --help tells more)")
    if args.verb == "list":
        return _list(out)
    if args.verb == "up":
        handle = lab.up(args.name)
        out.write(f"{handle.name} is up: {', '.join(handle.scenario.namespaces)}\n")
        return EXIT_OK
    if args.verb == "run":
        return _run(args.name, args.output, args.keep, out)
    if args.verb == "down":
        return _down(args.name, args.all, out)
    if args.verb == "ssh-config":
        return _ssh_config(args.name, out)
    if args.verb == "traffic":
        return _traffic(args.name, out)
    return _status(out)


def _ssh_config(name: str, out: TextIO) -> int:
    from nettrail.lab import sshhosts

    handle = lab.attach(name)
    out.write(sshhosts.client_config(handle.scenario, handle.state.dir))
    return EXIT_OK


def _traffic(name: str, out: TextIO) -> int:
    t = lab.attach(name).run_traffic()
    verdict = "as expected" if t.as_expected else f"EXPECTED {t.expected}"
    out.write(f"client ({t.kind}): {t.outcome} ({verdict}) in {t.elapsed:.2f}s: {t.detail}\n")
    return EXIT_OK if t.as_expected else EXIT_UNEXPECTED


def _list(out: TextIO) -> int:
    for name in lab.available():
        scn = lab.load(name)
        out.write(f"{name:<16} {scn.summary}\n")
    return EXIT_OK


def _run(name: str, output: Path | None, keep: bool, out: TextIO) -> int:
    scn = lab.load(name)
    if lab.is_up(scn.name):
        handle, built = lab.attach(scn.name), False
    else:
        handle, built = lab.up(name), True
    try:
        result = handle.run(output or Path("nettrail-lab") / scn.name)
    finally:
        if built and not keep:
            handle.down()
    write_run(result, out)
    return EXIT_OK if result.traffic.as_expected else EXIT_UNEXPECTED


def write_run(result: RunResult, out: TextIO) -> None:
    """Print a run's client outcome and where its captures are."""
    t = result.traffic
    verdict = "as expected" if t.as_expected else f"EXPECTED {t.expected}"
    out.write(f"client ({t.kind}): {t.outcome} ({verdict}) in {t.elapsed:.2f}s: {t.detail}\n")
    for point, pcap in result.captures:
        out.write(f"  {point}: {pcap}\n")
    for point, n in result.dropped.items():
        out.write(f"warning: tcpdump at {point} lost {count_text(n, 'packet')} "
                  "(dropped by the kernel)\n")
    out.write(f"manifest: {result.manifest}\n")


def _down(name: str | None, everything: bool, out: TextIO) -> int:
    if everything:
        removed = lab.down_all()
    elif name:
        removed = lab.down(lab.load(name).name if name.endswith(".toml") else name)
    else:
        raise InputError("lab down needs a scenario name or --all")
    if not removed:
        what = "no lab is up" if everything else f"{name} is not up"
        out.write(f"{what}: nothing to remove\n")
    else:
        out.write(f"removed {count_text(len(removed), 'namespace')}: {', '.join(removed)}\n")
    return EXIT_OK


def _status(out: TextIO) -> int:
    labs = lab.status()
    if not labs:
        out.write("no lab is up\n")
    for st in labs:
        state = "up" if st.has_state else "leftovers"
        out.write(f"{st.scenario}: {state}, {count_text(len(st.namespaces), 'namespace')}, "
                  f"{count_text(st.processes, 'process', 'processes')}\n")
        for ns in st.namespaces:
            out.write(f"  {ns}\n")
    return EXIT_OK


__all__ = ["LabHandle", "register", "run_command", "write_run"]
