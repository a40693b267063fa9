"""`nettrail trace [options] [FILTER...] [-- COMMAND...]`: live eBPF tracing in every netns."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from nettrail.analyze.clockprobe import HostClock
from nettrail.analyze.pipeline import analyze_records
from nettrail.cli.args import checked
from nettrail.errors import InputError
from nettrail.model.event import TraceEvent
from nettrail.model.event_table import EventTable
from nettrail.report.text import render
from nettrail.report.trace_json import JsonLines
from nettrail.report.trace_pcapng import PcapngOut
from nettrail.report.trace_text import Timeline
from nettrail.signals import signal_handlers
from nettrail.trace.config import HOOKS, TraceConfig
from nettrail.trace.netns_names import NetnsNames
from nettrail.trace.records import by_point, reset_origins, to_packet_records
from nettrail.trace.run import Sink, TraceResult, TraceRun
from nettrail.trace.session import OBJECT_PATH, TraceSession, check_capabilities

USAGE = "nettrail trace [OPTIONS] [FILTER ...] [-- COMMAND ...]"
DESCRIPTION = """\
Trace packets live on transmit, receive, drop, TCP reset and SYN-ACK retransmit
tracepoints in every network namespace. Options come first; the filter follows,
a pcap-filter subset: host, net, port, portrange, src/dst, tcp/udp/icmp/icmp6,
ip/ip6, tcp[tcpflags], and/or/not. A command to run while tracing goes after --
(nettrail then exits with the command's status).
"""
EPILOG = """examples:
  nettrail trace host 203.0.113.223 and tcp port 22
  nettrail trace --duration 10 --filter-netns 'qrouter-1234' port 22
  nettrail trace --filter-ifname 'qr-*,qg-*' 'tcp[tcpflags] & tcp-rst != 0'
  nettrail trace --output-json t.jsonl --ready-file /tmp/ready -- ssh 203.0.113.223 true
"""


def register(sub: Any) -> None:
    """Add the `trace` subcommand to the parser."""
    p: argparse.ArgumentParser = sub.add_parser(
        "trace", help="trace packets live with eBPF across every network namespace",
        usage=USAGE, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--filter", default=None, metavar="EXPR",
                   help="filter expression (instead of the trailing words)")
    p.add_argument("--filter-ifname", default="", metavar="GLOBS",
                   help="comma-separated device names or PREFIX* globs, e.g. 'qr-*,qg-*'")
    p.add_argument("--filter-netns", default="", metavar="NAMES",
                   help="comma-separated netns names (ip netns) or inodes")
    p.add_argument("--no-follow", action="store_true",
                   help="do not follow a matched packet through NAT and encapsulation")
    p.add_argument("--no-follow-connections", action="store_true",
                   help="follow matched packets only, not the rest of their connection "
                        "(its other direction before and after translation)")
    p.add_argument("--stack", action="store_true", help="record and print kernel stacks")
    p.add_argument("--no-conntrack", action="store_true", help="do not read conntrack entries")
    p.add_argument("--hooks", default=",".join(HOOKS),
                   help=f"comma-separated hooks (default: {','.join(HOOKS)})")
    p.add_argument("--duration", type=_seconds, default=None, metavar="S",
                   help="stop after S seconds (more than 0)")
    p.add_argument("--ready-file", type=Path, default=None, metavar="F",
                   help="write F once the programs are attached")
    p.add_argument("--output-json", type=Path, default=None, metavar="F",
                   help="write JSON lines to F (header record first)")
    p.add_argument("--output-pcapng", type=Path, default=None, metavar="F",
                   help="write the captured packet bytes to a pcapng file F")
    p.add_argument("--ring-size", type=_mib, default=16, metavar="MB",
                   help="event ring buffer size in MiB, a power of two (default 16)")
    p.add_argument("--analyze", action="store_true",
                   help="at the end, analyze the traced packets as captures (one point per netns)")
    p.add_argument("-q", "--quiet", action="store_true", help="no live timeline on stdout")
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def _seconds(text: str) -> float:
    return checked(text, float, "a number of seconds", lambda value: 0 < value < float("inf"),
                   "must be more than 0 seconds, not {text}")


def _mib(text: str) -> int:
    return checked(text, int, "a whole number of MiB", lambda n: n >= 1 and not n & (n - 1),
                   "must be a power of two (1, 2, 4, 8, 16, ...), not {value}")


def _check_ready_file(path: Path | None) -> None:
    """Refuse a ready file that cannot be written before anything is attached."""
    if path is None:
        return
    parent = path.parent
    if path.is_dir():
        raise InputError(f"cannot write ready file {path}: it is a directory")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write ready file {path}: no writable directory {parent}")


def split_rest(rest: list[str]) -> tuple[list[str], list[str]]:
    """Filter words and the command after ``--``."""
    if "--" in rest:
        i = rest.index("--")
        words, command = rest[:i], rest[i + 1 :]
    else:
        words, command = rest, []
    for w in words:
        if w.startswith("--"):
            raise InputError(f"option {w} must come before the filter expression")
    return words, command


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def build_config(args: argparse.Namespace, words: list[str], names: NetnsNames) -> TraceConfig:
    """The ``TraceConfig`` the arguments ask for (``InputError`` on bad values)."""
    if args.filter is not None and words:
        raise InputError("give the filter either with --filter or as trailing words, not both")
    inodes = []
    for ns in _csv(args.filter_netns):
        ino = names.inode(ns)
        if ino is None:
            raise InputError(f"--filter-netns: no network namespace named {ns!r}")
        inodes.append(ino)
    return TraceConfig(
        filter=args.filter if args.filter is not None else " ".join(words),
        ifname_globs=_csv(args.filter_ifname), netns=tuple(inodes),
        follow=not args.no_follow, connections=not args.no_follow_connections,
        stack=args.stack, conntrack=not args.no_conntrack,
        hooks=_csv(args.hooks), ring_bytes=args.ring_size << 20,
    )


def _open_text(path: Path) -> TextIO:
    try:
        return open(path, "w")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from exc


def _open_binary(path: Path) -> BinaryIO:
    try:
        return open(path, "wb")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from exc


class _Outputs:
    """The sinks the arguments ask for; JSON starts once the clock anchor is known."""

    def __init__(self, args: argparse.Namespace, cfg: TraceConfig,
                 stack: contextlib.ExitStack) -> None:
        self.cfg = cfg
        self.sinks: list[Sink] = []
        self.resets: list[TraceEvent] = []
        self.kept: list[TraceEvent] | None = [] if args.analyze else None
        self.json: JsonLines | None = None
        self._json_file = (stack.enter_context(_open_text(args.output_json))
                           if args.output_json is not None else None)
        if not args.quiet:
            timeline = Timeline(sys.stdout, stacks=args.stack)
            stack.callback(timeline.flush)
            self.sinks.append(timeline)
        if args.output_pcapng is not None:
            self.sinks.append(PcapngOut(stack.enter_context(_open_binary(args.output_pcapng))))
        self.sinks.append(self)

    def start(self, session: TraceSession) -> None:
        """Write the JSON header (it carries the session's clock anchor)."""
        if self._json_file is not None:
            self.json = JsonLines(self._json_file, session.anchor_ns, self.cfg.filter)

    def write(self, table: EventTable) -> None:
        """Pass events to JSON and keep resets for the end-of-run origin lines."""
        if self.json is not None:
            self.json.write(table)
        self.resets.extend(table.event(i) for i in table.rows_of_kind("reset"))
        if self.kept is not None:
            self.kept.extend(table.events())

    def finish(self, result: TraceResult) -> None:
        """Write the JSON summary record."""
        if self.json is not None:
            s = result.stats
            self.json.summary(s.emitted, s.lost, result.events,
                              s.stacks_lost if self.cfg.stack else None)


def run(args: argparse.Namespace) -> int:
    """Run `nettrail trace`."""
    words, command = split_rest(args.rest)
    names = NetnsNames()
    cfg = build_config(args, words, names)
    _check_ready_file(args.ready_file)
    check_capabilities(OBJECT_PATH, cfg.hooks)  # before any output file is created
    stop = {"flag": False}

    def _stop(signum: int, frame: object) -> None:
        stop["flag"] = True

    with contextlib.ExitStack() as stack:
        out = _Outputs(args, cfg, stack)
        stack.enter_context(signal_handlers(_stop, signal.SIGINT, signal.SIGTERM))
        result = TraceRun(cfg, out.sinks, command, args.duration, args.ready_file,
                          lambda: stop["flag"], on_start=out.start, names=names).run()
        out.finish(result)
    if out.kept is not None:
        points = by_point(to_packet_records(out.kept))
        if points:
            # every namespace traced here reads this kernel's clock: no offset between them
            one_host = HostClock(socket.gethostname(), None, None)
            render(analyze_records(points, dict.fromkeys(points, one_host)), sys.stdout)
        else:
            print("nettrail: --analyze: no packet was traced, nothing to analyze",
                  file=sys.stderr)
    for line in reset_origins(out.resets):
        print(f"nettrail: {line}", file=sys.stderr)
    for warning in result.warnings:
        print(f"nettrail: warning: {warning}", file=sys.stderr)
    s = result.stats
    stacks = f", {s.stacks_lost} stacks not recorded" if cfg.stack else ""
    print(f"nettrail: {result.events} events, {s.lost} lost, {s.followed} packets followed"
          f"{stacks}", file=sys.stderr)
    if s.lost:
        print(f"nettrail: warning: {s.lost} events lost (ring buffer full); "
              "try a larger --ring-size or a narrower filter", file=sys.stderr)
    if s.stacks_lost:
        print(f"nettrail: warning: the kernel could not record the stack of {s.stacks_lost} "
              "events (shown as 'stack not recorded')", file=sys.stderr)
    return result.command_status if result.command_status is not None else 0
