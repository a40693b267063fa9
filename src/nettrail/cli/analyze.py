"""``nettrail analyze [POINT=]FILE...``: read captures, analyse, print the report.

Exit 0 when the analysis ran on every file; 2 for unusable arguments, or when a file could not
be read completely: the analysis of the good records is still printed, then one line per
faulty file (``nettrail: error: FILE at byte N: reason``) on stderr.
"""

from __future__ import annotations

import argparse
import filecmp
import ipaddress
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from nettrail.analyze.clockprobe import HostClock
from nettrail.analyze.flows import gc_paused
from nettrail.capture import holds_no_packet, parse_point_args
from nettrail.capture.inputs import Inputs, open_inputs
from nettrail.capture.spool import given
from nettrail.cli.args import checked
from nettrail.cli.heap import keep_freed
from nettrail.cli.main import EXIT_INPUT, EXIT_OK
from nettrail.cli.progress import Progress, Reading
from nettrail.errors import InputError
from nettrail.model.analysis import Analysis
from nettrail.run import PacketFilter, analyze_files

DESCRIPTION = ("Read pcap, pcapng or tcpdump text captures, one or more per capture point, "
               "explain how each TCP connection went and diagnose a failure; with two or more "
               "points, follow packets across them (NAT, clock skew) first.")
EPILOG = """examples:
  nettrail analyze client.pcap
  nettrail analyze host1=netnode.pcap host5=compute.txt   # any mix of formats
  nettrail analyze --format json --html report.html host1=a.pcapng host5=b.pcap
  nettrail analyze nettrail-demo/dual-l3                   # a `lab run` directory
  nettrail analyze --filter-host 203.0.113.10 --filter-port 22 any.pcap
  tcpdump -nr any.pcap | nettrail analyze -                # a pipe: - is standard input
  nettrail analyze netnode=<(ssh netnode tcpdump -nr /tmp/x.pcap) client.pcap"""


def register(sub: Any) -> None:
    """Add the ``analyze`` subcommand to the parser."""
    p: argparse.ArgumentParser = sub.add_parser(
        "analyze", help="explain TCP connections in captures from one or more points",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("captures", nargs="+", metavar="[POINT=]FILE",
                   help="a capture file, optionally named as a capture point (host1=a.pcap), "
                   "- for standard input, or a directory written by `nettrail lab run`; the "
                   "first point is the clock reference")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="report format on stdout (default: text)")
    p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    p.add_argument("--output-pcapng", metavar="FILE",
                   help="also write the packets, annotated, as pcapng for Wireshark")
    p.add_argument("--filter-host", metavar="ADDR", type=_address,
                   help="analyse only packets from or to this IPv4/IPv6 address")
    p.add_argument("--filter-port", metavar="PORT", type=_port,
                   help="analyse only TCP/UDP packets from or to this port")
    p.set_defaults(func=run)


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def _port(text: str) -> int:
    return checked(text, int, "a port number", lambda port: 0 <= port <= 65535,
                   "port out of range: {value}")


def run(args: argparse.Namespace) -> int:
    """Run ``nettrail analyze``: analyse, render, report faults; return the exit code."""
    pairs, ifnames = expand_inputs(args.captures)
    for option, path in (("--html", args.html), ("--output-pcapng", args.output_pcapng)):
        if path:
            check_writable(option, path)
    inputs = open_inputs(pairs, ifnames, manifest_drops(args.captures), prompt=sys.stderr)
    clocks = measured_clocks(args.captures)
    if len({capture.point for capture in inputs.captures()}) > 1:
        keep_freed()  # several points at once: speed over a lower peak
    with gc_paused(freeze=True):  # a batch job building millions of acyclic objects
        with Progress(Reading(inputs.captures()), sys.stderr):
            # text and JSON show no packet path: only the HTML and pcapng outputs need them
            result = analyze_files(inputs, packet_filter=PacketFilter(args.filter_host,
                                                                      args.filter_port),
                                   paths=bool(args.html or args.output_pcapng),
                                   clocks=clocks)
        analysis = with_snapshots(result.analysis, args.captures)
        if len(result.errors) < len(inputs) or any(p.read_packets for p in analysis.points):
            render(analysis, args.format, sys.stdout)
            sys.stdout.flush()
            if args.html:
                write_html(analysis, args.html)
            if args.output_pcapng:
                write_pcapng(analysis, inputs, args.output_pcapng)
    for err in result.errors:
        print(f"nettrail: error: {err}", file=sys.stderr)
    return EXIT_INPUT if result.errors else EXIT_OK


def with_snapshots(analysis: Analysis, args: Sequence[str]) -> Analysis:
    """Tie translations to rules when a run directory holds the hosts' snapshots (an unreadable
    snapshot is reported on stderr and the analysis goes on without it)."""
    dirs = [arg for arg in args if os.path.isdir(arg)]
    if not dirs:
        return analysis
    from nettrail.topology.store import read_rules  # only run directories pay for it

    rules = {}
    for arg in dirs:
        found, errors = read_rules(Path(arg))
        rules.update(found)
        for exc in errors:
            print(f"nettrail: warning: {exc}", file=sys.stderr)
    if not rules:
        return analysis
    from nettrail.analyze.attribute import attribute

    return attribute(analysis, rules)


def expand_inputs(
    args: Sequence[str],
) -> tuple[list[tuple[str, str]], dict[str, dict[int, str]]]:
    """(point, path) pairs and interface names per point from the command's arguments.

    A directory written by ``nettrail lab run`` stands for all its captures, named by the
    manifest's points, with the interface index -> name tables the manifest recorded.
    """
    runs: dict[str, list[tuple[str, str]]] = {}
    ifnames: dict[str, dict[int, str]] = {}
    for arg in args:
        if os.path.isdir(arg):
            from nettrail.lab.manifest import MANIFEST_NAME, captures_of

            if not os.path.isfile(os.path.join(arg, MANIFEST_NAME)):
                raise InputError(f"{arg}: a directory without a {MANIFEST_NAME} (not written "
                                 "by `nettrail lab run` or `nettrail collect`)")
            pairs, names = captures_of(Path(arg))
            if not pairs:
                raise InputError(f"{arg}: no captures: its {MANIFEST_NAME} lists no points")
            runs[arg] = pairs
            ifnames.update(names)
    files = iter(parse_point_args([arg for arg in args if arg not in runs],
                                  {p for pairs in runs.values() for p, _path in pairs}))
    inputs = [pair for arg in args for pair in runs.get(arg) or (next(files),)]
    _check_unique(inputs)
    return inputs, ifnames


def manifest_drops(args: Sequence[str]) -> dict[str, int]:
    """The packets each point's capture dropped, by point, as the manifests of the run
    directories among the arguments recorded (tcpdump's own count)."""
    from nettrail.lab.manifest import drops_of

    out: dict[str, int] = {}
    for arg in args:
        if os.path.isdir(arg):
            out.update(drops_of(Path(arg)))
    return out


def measured_clocks(args: Sequence[str]) -> dict[str, HostClock] | None:
    """The clocks a ``nettrail collect`` run measured over SSH, by point (a point per
    namespace has its host's clock), when a single collect run directory is analysed; an
    unreadable measurement is named in a warning on stderr and the packets' clocks stand
    alone."""
    if len(args) != 1 or not os.path.isdir(args[0]):
        return None
    from nettrail.collect.manifest import clocks
    from nettrail.lab.manifest import MANIFEST_NAME, read

    manifest = read(Path(args[0]))
    try:
        measured = clocks(manifest)
    except InputError as exc:
        print(f"nettrail: warning: {Path(args[0]) / MANIFEST_NAME}: {exc}; the clocks are "
              "estimated from the packets alone", file=sys.stderr)
        return None
    by_point = {}
    for point in manifest.get("points", ()):
        if isinstance(point, dict) and isinstance(point.get("name"), str):
            clock = measured.get(point.get("host") or point["name"])
            if clock is not None:
                by_point[point["name"]] = clock
    return by_point or None


def _check_unique(inputs: Sequence[tuple[str, str]]) -> None:
    """The same file twice would be matched against itself as copies of every packet; so
    would a copy of it (the same capture fetched twice under two names): the same bytes. Not
    files of no packet, the same bytes whoever wrote them (``tcpdump -G``'s quiet
    intervals)."""
    seen: dict[str, str] = {}
    by_size: dict[int, list[str]] = {}
    for _point, path in inputs:
        key = os.path.realpath(given(path))  # - and /dev/stdin are one
        if key in seen:
            also = "" if seen[key] == path else f" (also as {seen[key]})"
            raise InputError(f"{path}: given twice{also}")
        seen[key] = path
        try:
            size = os.stat(path).st_size
        except OSError:
            continue  # named when it is opened
        for other in by_size.setdefault(size, []):
            if size and _same_bytes(other, path) and not holds_no_packet(path):
                raise InputError(f"{path}: given twice: the same bytes as {other} (one "
                                 "capture copied under two names)")
        by_size[size].append(path)


def _same_bytes(a: str, b: str) -> bool:
    """Whether two files hold the same bytes (False when either cannot be read)."""
    try:
        return filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def check_writable(option: str, path: str) -> None:
    """Fail before any work when an output file cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InputError(f"{option} {path}: a directory, not a file")
    if not os.path.isdir(folder):
        raise InputError(f"{option} {path}: no such directory {folder}")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and
                                          not os.access(path, os.W_OK)):
        raise InputError(f"{option} {path}: not writable")


def render(analysis: Analysis, fmt: str, out: TextIO) -> None:
    """Render ``analysis`` as ``text`` or ``json`` to ``out``."""
    if fmt == "json":
        from nettrail.report import json as report_json

        report_json.render(analysis, out)
    else:
        from nettrail.report import text as report_text

        report_text.render(analysis, out)


def write_html(analysis: Analysis, path: str) -> None:
    """Write the HTML report of ``analysis`` to ``path``."""
    from nettrail.report import html as report_html

    with _open(path, "w") as out:
        report_html.render(analysis, out)


def write_pcapng(analysis: Analysis, inputs: Inputs, path: str) -> None:
    """Write the annotated pcapng of ``analysis`` to ``path``: the captures read once more."""
    from nettrail.report import pcapng as report_pcapng

    reading = Reading(inputs.captures(), "writing pcapng from", "", in_order=False,
                      packets=False)
    with _open(path, "wb") as out, Progress(reading, sys.stderr):
        report_pcapng.export(analysis, inputs.records(), out)


def _open(path: str, mode: str) -> Any:
    try:
        return open(path, mode)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc

