"""What runs on a remote host, from nettrail's archive: the eBPF tracer or a snapshot.

``remote.AGENT`` starts it as root with the host's ``python3`` (``main([SSH_CONNECTION,
COMMAND, ARG...])``). ``trace`` streams every packet the tracer sees, in every network
namespace, as pcapng on stdout: one interface per (namespace, device), its comment
``netns INODE NAME``; it prints ``nettrail-agent: tracing netns INODE`` on stderr once
attached and stops at a line or the end of stdin (collect stopping, the connection dropping),
SIGINT (the deadline) or SIGTERM. ``snapshot`` writes the host's snapshot JSON on stdout.
Nothing is written on the host: the BPF object is read from the archive into a memory file.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path

from nettrail.errors import CapabilityError, InputError, NettrailError

MARK = "nettrail-agent"
READY = b"nettrail-agent: tracing netns "
"""What the agent prints on stderr once the tracer is attached (the login netns inode follows)."""
STATS = "nettrail-agent: stats "
MAX_RULES = 14
"""The most filter rules the tracer's programs pass the verifier with (measured on 6.18:
16 rules make ``nt_reset`` too complex to load)."""
DIRECTIONS = ("xmit", "recv")
"""The events whose packets are streamed: what a capture at that device sees."""


def own_netns() -> int:
    """The inode of the network namespace this process runs in (the login's)."""
    return os.stat("/proc/self/ns/net").st_ino


def ssh_ports(ssh_connection: str) -> tuple[int, int] | None:
    """(client port, server port) of ``SSH_CONNECTION`` (``CLIENT CPORT SERVER SPORT``)."""
    parts = ssh_connection.split()
    if len(parts) == 4 and parts[1].isdigit() and parts[3].isdigit():
        return int(parts[1]), int(parts[3])
    return None


def filter_with_exclusions(expr: str, ports: Sequence[tuple[int, int]],
                           ) -> tuple[str, list[tuple[int, int]]]:
    """``expr`` minus the SSH connections given by their port pairs, the first (this agent's
    own) always, the others while the filter stays within :data:`MAX_RULES`; the filter and
    the connections left in. A connection is told by its client (ephemeral) port: the
    tracer's filter takes few rules, and a pair of ``tcp port`` terms per connection would
    use up the budget."""
    from nettrail.trace.filter import compile_filter

    base = f"({expr})" if expr.strip() else ""
    text, kept = base, list[tuple[int, int]]()
    for i, pair in enumerate(ports):
        ports_text = " or ".join(f"port {a}" for a, _ in [*kept, pair])
        candidate = f"{base} and not ({ports_text})" if base else f"not ({ports_text})"
        if i and len(compile_filter(candidate)) > MAX_RULES:
            break
        text, kept = candidate, [*kept, pair]
    return text, kept


def port_pair(text: str) -> tuple[int, int]:
    """``CPORT:SPORT`` as two ports (argparse type)."""
    a, _, b = text.partition(":")
    if not (a.isdigit() and b.isdigit() and int(a) < 65536 and int(b) < 65536):
        raise argparse.ArgumentTypeError(f"not a port pair: {text!r}")
    return int(a), int(b)


def inodes(text: str) -> set[int]:
    """Comma-separated netns inodes (argparse type)."""
    words = [w for w in text.split(",") if w]
    if not all(w.isdigit() for w in words):
        raise argparse.ArgumentTypeError(f"not netns inodes: {text!r}")
    return {int(w) for w in words}


def bpf_object() -> Path:
    """A path libbpf can open holding the BPF object: the file itself, or, inside the archive,
    a memory file with its bytes (``/proc/self/fd/N``, gone with the process)."""
    from nettrail.trace.session import OBJECT_PATH

    if OBJECT_PATH.is_file():
        return OBJECT_PATH
    try:
        data = resources.files("nettrail.trace").joinpath("bpf").joinpath(
            "trace.bpf.o").read_bytes()
    except (OSError, KeyError) as exc:
        raise CapabilityError("the archive holds no BPF object") from exc
    fd = os.memfd_create("trace.bpf.o")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return Path(f"/proc/self/fd/{fd}")


def _stop_on_stdin(stop: threading.Event) -> None:
    """Set ``stop`` at the first line or the end of stdin."""
    try:
        while True:
            data = os.read(0, 4096)
            if not data or b"\n" in data:
                break
    except OSError:
        pass
    stop.set()


def trace(args: argparse.Namespace, ssh_connection: str) -> int:
    """Stream the tracer's packets as pcapng on stdout until told to stop."""
    try:  # the tracer decodes its ring with numpy; the snapshot needs nothing of it
        from nettrail.report.trace_pcapng import PcapngOut
        from nettrail.trace.run import TraceRun
    except ModuleNotFoundError as exc:
        raise CapabilityError(f"the eBPF tracer needs the Python module {exc.name} on the "
                              "host (python3 -m pip install numpy)") from exc
    from nettrail.trace.config import TraceConfig
    from nettrail.trace.netns_names import NetnsNames

    own = ssh_ports(ssh_connection)
    skip = [*([own] if own else []), *args.skip_ssh]
    expr, kept = filter_with_exclusions(args.filter, skip)
    cfg = TraceConfig(filter=expr)
    if len(kept) < len(skip):
        sys.stderr.write(f"{MARK}: warning: {len(skip) - len(kept)} other SSH connections "
                         "of the collection are traced (the filter is too long to leave "
                         "them out)\n")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=_stop_on_stdin, args=(stop,), daemon=True).start()
    sink = PcapngOut(sys.stdout.buffer, kinds=DIRECTIONS, by_device=True,
                     comment="nettrail collect --tracer ebpf")

    def ready(_session: object) -> None:
        sys.stderr.write(f"{READY.decode()}{own_netns()}\n")
        sys.stderr.flush()

    result = TraceRun(cfg, [sink], should_stop=stop.is_set, on_start=ready,
                      names=NetnsNames(), obj=bpf_object()).run()
    s = result.stats
    sys.stderr.write(f"{STATS}emitted={s.emitted} lost={s.lost} events={result.events} "
                     f"packets={sink.packets}\n")
    for warning in result.warnings:
        sys.stderr.write(f"{MARK}: warning: {warning}\n")
    return 0


def snapshot(args: argparse.Namespace) -> int:
    """Write the snapshot JSON of this host's namespaces (less those skipped) on stdout; with
    ``--per-netns``, a JSON list of one snapshot per namespace (with its bridges)."""
    from nettrail.topology import namespaces, snapshot_refs, store

    if os.geteuid() != 0:
        raise CapabilityError("the snapshot needs root")
    own = own_netns()
    refs = [r for r in namespaces() if r.inode not in args.skip_netns
            and (not args.own_only or r.inode == own)]
    topo = snapshot_refs(refs)
    if not args.per_netns:
        store.render(topo, sys.stdout)
        return 0
    docs = []
    for ns in topo.namespaces:
        part = replace(topo, namespaces=(ns,),
                       bridges=tuple(b for b in topo.bridges if b.namespace == ns.name))
        text = io.StringIO()
        store.render(part, text)
        docs.append(json.loads(text.getvalue()))
    json.dump(docs, sys.stdout)
    return 0


def parser() -> argparse.ArgumentParser:
    """The agent's arguments (after ``SSH_CONNECTION``)."""

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise InputError(message)

    p = _Parser(prog=MARK)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("trace")
    t.add_argument("--filter", default="")
    t.add_argument("--skip-ssh", type=port_pair, action="append", default=[],
                   help="another collection's SSH connection (CPORT:SPORT) not to trace")
    s = sub.add_parser("snapshot")
    s.add_argument("--skip-netns", type=inodes, default=set())
    s.add_argument("--own-only", action="store_true",
                   help="only the namespace the agent runs in")
    s.add_argument("--per-netns", action="store_true",
                   help="one snapshot per namespace, as a JSON list")
    return p


def main(argv: Sequence[str]) -> int:
    """Run the agent: ``[SSH_CONNECTION, COMMAND, ARG...]``; errors are one line on stderr."""
    try:
        if not argv:
            raise InputError("no arguments")
        args = parser().parse_args(list(argv[1:]))
        if args.command == "trace":
            return trace(args, argv[0])
        return snapshot(args)
    except NettrailError as exc:
        sys.stderr.write(f"{MARK}: {exc}\n")
        return 2 if isinstance(exc, InputError) else 3 if isinstance(
            exc, CapabilityError) else 4
    except BrokenPipeError:
        return 141
