"""``nettrail collect``: capture on several hosts at once over SSH, with their clocks measured.

Exit 0 when every host captured to the end; 5 when some host failed (the run is still written
with what the others captured, and each failed host has its reason); 2 for unusable arguments;
130 when interrupted (the run is written too).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from nettrail.cli.args import checked
from nettrail.collect.host import HostRun, HostSettings
from nettrail.collect.remote import SNAPLEN
from nettrail.collect.run import DEFAULT_SETTLE_S, CollectPlan, CollectResult, collect
from nettrail.collect.ssh import SshOptions
from nettrail.errors import InputError
from nettrail.lab.builder import terminate_as_interrupt

EXIT_OK = 0
EXIT_SOME_FAILED = 5
EXIT_INTERRUPTED = 130
FILTER_WORDS = frozenset((
    "tcp", "udp", "icmp", "icmp6", "ip", "ip6", "arp", "rarp", "sctp", "vrrp", "igmp",
    "not", "host", "port", "net", "src", "dst", "vlan", "mpls", "ether", "portrange",
))

DESCRIPTION = """\
Capture on every HOST at once over the system OpenSSH client (your ~/.ssh/config, jump hosts,
agents and certificates apply), measure each host's clock before and after, run COMMAND here
while everything captures, and write RUN/ for `nettrail analyze RUN`.

FILTER (optional, first) is a pcap filter applied on every host; it is recognised by a space,
a parenthesis or a leading filter word (tcp, host, port, not, ...), or given with --filter."""

EPILOG = """examples:
  nettrail collect --output run1 netnode compute -- ssh 203.0.113.223 true
  nettrail collect -F lab.conf --output run2 'tcp port 22' client netnode compute vm --duration 10
  nettrail analyze run1

exit status: 0 every host captured; 5 some host failed (the run is written with the others);
2 unusable arguments; 130 interrupted (the run is written)."""


def register(sub: Any) -> None:
    """Add the ``collect`` subcommand to the parser."""
    p: argparse.ArgumentParser = sub.add_parser(
        "collect", help="capture on several hosts at once over SSH, clocks measured",
        usage="nettrail collect [-F SSH_CONFIG] --output RUN [options] [FILTER] HOST... "
              "[-- COMMAND...]",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p)
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="[FILTER] HOST... [-- COMMAND]")
    p.set_defaults(func=run)


def add_options(p: argparse.ArgumentParser) -> None:
    """The options of ``collect`` (also accepted after the hosts)."""
    p.add_argument("-F", dest="ssh_config", metavar="SSH_CONFIG",
                   help="OpenSSH client config file (as ssh -F)")
    p.add_argument("--output", type=Path, metavar="RUN",
                   help="directory to write (one pcap per host and manifest.json)")
    p.add_argument("--duration", type=_seconds, metavar="S",
                   help="stop after S seconds (with COMMAND: at the latest)")
    p.add_argument("--settle", type=_seconds, default=DEFAULT_SETTLE_S, metavar="S",
                   help=f"keep capturing S seconds after COMMAND ends (default "
                   f"{DEFAULT_SETTLE_S:g})")
    p.add_argument("--tracer", choices=("tcpdump", "ebpf"), default="tcpdump",
                   help="remote capture method (default tcpdump; ebpf is refused: not in "
                   "this build)")
    p.add_argument("--filter", dest="filter_expr", metavar="FILTER",
                   help="pcap filter for every host (instead of a first positional FILTER)")
    p.add_argument("--accept-new-host-keys", action="store_true",
                   help="accept and record host keys never seen before (changed keys are "
                   "still refused)")
    p.add_argument("--connect-timeout", type=int, default=10, metavar="S",
                   help="seconds to wait for each host's connection (default 10)")
    p.add_argument("--snaplen", type=int, default=SNAPLEN, metavar="BYTES",
                   help=f"bytes kept per packet (default {SNAPLEN}: whole packets; 128 keeps "
                   "the headers and streams many more packets per second)")
    p.add_argument("--probes", type=int, default=128, metavar="N",
                   help="clock probes per host before and after (default 128)")


def _seconds(text: str) -> float:
    return checked(text, float, "a number of seconds", lambda value: 0 <= value <= 86400,
                   "{value} is not between 0 and 86400 seconds")


class _LateParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(message)


def late_options(args: argparse.Namespace) -> None:
    """Options given after the hosts (``collect --output R a b --duration 5``): parse them
    out of ``args.rest`` (up to ``--``) into ``args``."""
    words = list(args.rest)
    command: list[str] = []
    if "--" in words:
        i = words.index("--")
        words, command = words[:i], words[i:]
    if not any(w.startswith("-") for w in words):
        return
    late = _LateParser(prog="nettrail collect", add_help=False)
    add_options(late)
    found, positional = late.parse_known_args(words)
    for w in positional:
        if w.startswith("-"):
            raise InputError(f"unknown option {w!r}")
    for key, value in vars(found).items():
        if value != late.get_default(key):
            setattr(args, key, value)
    args.rest = positional + command


def split_rest(rest: Sequence[str], filter_expr: str | None,
               ) -> tuple[str, list[str], list[str]]:
    """(filter, hosts, command) from the positional words."""
    words = list(rest)
    command: list[str] = []
    if "--" in words:
        i = words.index("--")
        words, command = words[:i], words[i + 1:]
    for w in words:
        if w.startswith("-"):
            raise InputError(f"unexpected option {w!r} (the command goes after --)")
    expr = filter_expr or ""
    if not filter_expr and len(words) >= 2 and looks_like_filter(words[0]):
        expr, words = words[0], words[1:]
    if not words:
        raise InputError("collect needs at least one HOST")
    return expr, words, command


def looks_like_filter(word: str) -> bool:
    """Whether a first positional word is a pcap filter rather than a host name."""
    if any(c.isspace() or c in "()!&|" for c in word):
        return True
    return word.lower() in FILTER_WORDS


def run(args: argparse.Namespace) -> int:
    """Run ``nettrail collect``; return the exit code."""
    late_options(args)
    if args.output is None:
        raise InputError("collect needs --output RUN")
    expr, hosts, command = split_rest(args.rest, args.filter_expr)
    if args.probes < 1 or args.connect_timeout < 1:
        raise InputError("--probes and --connect-timeout must be at least 1")
    if not 64 <= args.snaplen <= SNAPLEN:
        raise InputError(f"--snaplen must be between 64 and {SNAPLEN}")
    deadline = int((args.duration or 3600) + args.settle + 60)
    settings = HostSettings(
        SshOptions(args.ssh_config, args.accept_new_host_keys, args.connect_timeout),
        filter=expr, probes=args.probes, snaplen=args.snaplen, deadline_s=deadline)
    plan = CollectPlan(tuple(hosts), args.output, settings, args.duration, tuple(command),
                       args.settle, args.tracer)
    progress = Progress(sys.stderr)
    with terminate_as_interrupt():
        result = collect(plan, progress.update)
    progress.close()
    summary(result, sys.stderr)
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if result.failed else EXIT_OK


class Progress:
    """Host states on stderr: one line rewritten in place on a TTY, else a line per change."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.states: dict[str, str] = {}
        self.lock = threading.Lock()

    def update(self, host: HostRun) -> None:
        """Show ``host``'s new state."""
        text = host.state + (f": {host.reason}" if host.reason else "")
        with self.lock:
            if self.states.get(host.name) == text:
                return
            self.states[host.name] = text
            if self.tty:
                line = "  ".join(f"{h} {s.split(':')[0]}" for h, s in self.states.items())
                self.out.write("\r\x1b[K" + line[:200])
            else:
                self.out.write(f"collect: {host.name}: {text}\n")
            self.out.flush()

    def close(self) -> None:
        """End the in-place line."""
        if self.tty and self.states:
            self.out.write("\n")


def summary(result: CollectResult, out: TextIO) -> None:
    """One line per host, the trigger's status and where the run is."""
    for h in result.hosts:
        line = f"{h.name}: {h.state}"
        if h.reason:
            line += f": {h.reason}"
        if h.packets or h.state == "done":
            line += f" ({h.packets} packets)"
        dropped = h.counts.get("dropped-by-kernel", 0)
        if dropped:
            line += f", {dropped} dropped by the kernel"
        out.write(line + "\n")
    if result.command_status is not None:
        out.write(f"command exited with status {result.command_status}\n")
    if result.interrupted:
        out.write("interrupted: the captures were stopped and the run written\n")
    out.write(f"run written: {result.manifest}\n")
