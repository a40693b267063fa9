"""``nettrail`` entry point: parse arguments, run one subcommand, map errors to exit codes.

Exit codes: 0 the command ran; 1 the command ran and reports a failure it was asked to
detect (e.g. a lab run whose outcome differs from the scenario's expectation); 2 unusable input
or arguments; 3 a missing capability (root, BTF, a tool); 4 a runtime failure (lab, trace);
130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from nettrail.cli.heap import steady_heap
from nettrail.errors import CapabilityError, InputError, NettrailError
from nettrail.signals import Interrupts

SUBCOMMANDS = ("analyze", "trace", "collect", "lab", "snapshot", "demo")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_CAPABILITY = 3
EXIT_RUNTIME = 4
EXIT_INTERRUPTED = 130


EPILOG = """examples:
  nettrail analyze host1=client.pcap host5=compute.txt   # captures of several points
  nettrail lab run dual-l3 --output out && nettrail analyze out --html report.html
  nettrail trace host 203.0.113.223 and tcp port 22 -- ssh 203.0.113.223 true
  nettrail collect --output run netnode compute -- ssh 203.0.113.223 true
  nettrail demo

exit status: 0 ran; 1 ran and found the failure it was asked to check; 2 unusable input or
arguments; 3 missing capability (root, BTF, a tool); 4 runtime failure; 5 collect: some
host failed (the run is written); 130 interrupted.
`nettrail COMMAND --help` tells more about each command.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_INPUT, f"nettrail: error: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered (only ``only``, when given: the
    others' modules are not even imported, which keeps ``nettrail analyze`` quick to start)."""
    parser = _Parser(prog="nettrail", description="Who sent this packet, and why did my "
                     "connection die?", epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        if only is None or name == only:
            module = importlib.import_module(f"nettrail.cli.{name}")
            module.register(sub)
    return parser


def one_blas_thread() -> None:
    """One OpenBLAS thread, unless the environment sets their number or numpy is loaded.

    numpy's OpenBLAS starts a thread per core when it loads, and each but the first spins
    for about 0.12 s of CPU waiting for work: a third of the CPU time of a small analysis,
    taken from a host that may be busy. nettrail gives it none (its matrix products are of
    integers, which numpy computes itself)."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Run nettrail with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    one_blas_thread()
    steady_heap()
    parser = build_parser(argv[0] if argv and argv[0] in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        print(f"nettrail: error: a command is required: {', '.join(SUBCOMMANDS[:-1])} or "
              f"{SUBCOMMANDS[-1]} (nettrail --help tells more)", file=sys.stderr)
        return EXIT_INPUT
    interrupts = Interrupts()
    try:
        with interrupts.watch():
            code: int = args.func(args)
        if interrupts.seen:  # its KeyboardInterrupt was lost on the way (``Interrupts``)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        print("nettrail: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except InputError as exc:
        print(f"nettrail: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except CapabilityError as exc:
        print(f"nettrail: missing capability: {exc}", file=sys.stderr)
        return EXIT_CAPABILITY
    except NettrailError as exc:
        print(f"nettrail: error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except BrokenPipeError:
        return EXIT_OK
    return code


if __name__ == "__main__":
    sys.exit(main())
