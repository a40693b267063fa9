"""One remote host of a collect run: a small state machine run in its own thread.

connecting -> capturing -> draining -> done, or failed (with the reason) from any state. A
host that fails never blocks the others: each waits for its own connection, its own capture
and its own drain, with its own timeouts. Whatever happens, every local ssh process of the
host is ended and its control directory removed before the thread ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from nettrail.analyze.clockprobe import HostClock, ProbeEstimate, estimate
from nettrail.collect import agent, pcapfile, remote, tracefile, zipapp
from nettrail.collect.peers import Peers, peer_of
from nettrail.collect.ssh import Master, SshOptions
from nettrail.errors import NettrailError
from nettrail.jsonfile import parse_json
from nettrail.topology import store

CONNECTING, CAPTURING, DRAINING, DONE, FAILED = (
    "connecting", "capturing", "draining", "done", "failed")
_COUNTS = re.compile(r"(\d+) packets? (captured|received by filter|dropped by kernel)")


@dataclass(frozen=True)
class HostSettings:
    """What every host of a run shares: ssh options, filter, probes, deadlines."""

    ssh: SshOptions
    filter: str = ""
    probes: int = 128
    snaplen: int = remote.SNAPLEN
    deadline_s: int = 3600
    ready_timeout: float = 20.0
    drain_timeout: float = 10.0
    tracer: str = "tcpdump"
    snapshot: bool = True
    snapshot_timeout: float = 60.0


@dataclass
class HostRun:
    """The live state of one host and everything it reported."""

    name: str
    pcap: Path
    settings: HostSettings
    on_change: Callable[[HostRun], None] = lambda h: None
    peers: Peers | None = None
    state: str = CONNECTING
    reason: str = ""
    fingerprint: str | None = None
    info: dict[str, str] = field(default_factory=dict)
    interfaces: dict[int, str] = field(default_factory=dict)
    clock: HostClock | None = None
    counts: dict[str, int] = field(default_factory=dict)
    points: list[dict[str, Any]] = field(default_factory=list)
    snapshot: dict[str, Any] = field(default_factory=dict)
    packets: int = 0
    bytes: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    settled: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    interrupted: bool = False

    def set(self, state: str, reason: str = "") -> None:
        """Move to ``state``; a host that failed stays failed."""
        if self.state == FAILED:
            return
        self.state, self.reason = state, reason
        if state in (CAPTURING, FAILED):
            self.settled.set()
        self.on_change(self)

    def run(self) -> None:
        """The whole life of the host; never raises."""
        workdir = Path(tempfile.mkdtemp(prefix="nettrail-ssh-"))
        master = Master(self.name, self.settings.ssh, workdir)
        t0 = time.monotonic()
        try:
            self._run(master, t0)
        except Exception as exc:  # one host's surprise must not take the others down
            self.set(FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            self._peers.register(self.name, None)
            self.stream.unlink(missing_ok=True)
            master.close()
            shutil.rmtree(workdir, ignore_errors=True)
            self.settled.set()
            self.timings["total_s"] = round(time.monotonic() - t0, 3)

    def _run(self, master: Master, t0: float) -> None:
        master.start()
        why = master.wait_ready(self.settings.ssh.connect_timeout + 5)
        self.fingerprint = master.fingerprint()
        if why is not None:
            self.set(FAILED, why)
            return
        self.timings["connected_s"] = round(time.monotonic() - t0, 3)
        self._read_info(master)
        self._peers.register(self.name, peer_of(self.name, self.info))
        before = probe(master, self.settings.probes)
        if self.ebpf:  # a tracer must know the SSH streams of hosts on its kernel
            self._peers.wait(self.settings.ssh.connect_timeout + 20)
        if self.stop.is_set():
            self.set(FAILED, "stopped before capturing")
            return
        capture = self._capture(master)
        try:
            why = capture.wait_ready(self.settings.ready_timeout)
            if why is not None:
                self.set(FAILED, why)
                return
            self.timings["capturing_s"] = round(time.monotonic() - t0, 3)
            self.set(CAPTURING)
            while not self.stop.wait(0.05):
                if capture.proc.poll() is not None:
                    break
            ended_early = not self.stop.is_set()
            self.set(DRAINING)
            capture.finish(self.settings.drain_timeout)
        finally:
            capture.kill()
        self.counts = capture.counts()
        self._points()
        if ended_early:
            self.set(FAILED, "capture ended early: " + (capture.last_error() or
                                                        f"exit {capture.proc.returncode}"))
        after = probe(master, self.settings.probes) if not ended_early else None
        self.clock = HostClock(self.name, before, after, *_discipline(self.info))
        if capture.proc.returncode not in (0, None) and self.state != FAILED:
            self.set(FAILED, capture.last_error() or f"exit {capture.proc.returncode}")
        if self.settings.snapshot and not self.interrupted:
            self._snapshot(master)
        self.set(DONE)

    @property
    def ebpf(self) -> bool:
        """Whether this host traces with nettrail's eBPF agent (else tcpdump)."""
        return self.settings.tracer == "ebpf"

    @property
    def _peers(self) -> Peers:
        if self.peers is None:
            self.peers = Peers([self.name])
        return self.peers

    def _capture(self, master: Master) -> Capture:
        s = self.settings
        if not self.ebpf:
            return Capture(master, remote.capture_command(s.filter, s.deadline_s, s.snaplen),
                           self.pcap, remote.READY)
        archive = zipapp.build()
        args = ["trace", "--filter", s.filter]
        for a, b in self._peers.others_ssh(self.name):
            args += ["--skip-ssh", f"{a}:{b}"]
        return Capture(master, remote.agent_command(len(archive), s.deadline_s, args),
                       self.stream, agent.READY, archive)

    @property
    def stream(self) -> Path:
        """Where the eBPF agent's pcapng stream is written before it is split into points."""
        return self.pcap.with_name(f".{self.name}.stream.pcapng")

    def _points(self) -> None:
        """Count what was captured (an unfinished last record cut) and name the points."""
        if not self.ebpf:
            self.packets, self.bytes = pcapfile.trim(self.pcap)
            if pcapfile.usable(self.pcap):
                self.points = [{"name": self.name, "pcap": self.pcap.name, "netns": None,
                                "interfaces": {str(k): v for k, v in
                                               sorted(self.interfaces.items())},
                                "tcpdump": self.counts}]
            return
        found = tracefile.split(self.stream, self.name, self.pcap.parent,
                                lambda ino, ns: self._peers.point_of(self.name, ino, ns))
        self.stream.unlink(missing_ok=True)
        self.packets = sum(pf.packets for pf in found)
        self.bytes = sum(pf.path.stat().st_size for pf in found)
        self.points = [{"name": pf.name, "pcap": pf.path.name, "netns": pf.netns,
                        "netns_inode": pf.inode, "host": self.name, "interfaces": {},
                        "devices": pf.interfaces, "packets": pf.packets} for pf in found]

    def _snapshot(self, master: Master) -> None:
        """Take the host's snapshot with the agent into RUN/snapshots/HOST.json; a failure
        is noted in ``self.snapshot``, never fatal."""
        try:
            archive = zipapp.build()
        except NettrailError as exc:
            self.snapshot = {"error": str(exc)}
            return
        timeout = self.settings.snapshot_timeout
        cmd = remote.agent_command(len(archive), int(timeout),
                                   ["snapshot", *self._peers.snapshot_args(self.name)])
        t = time.monotonic()
        status, out, err = master.run(cmd, timeout + 10, stdin=archive)
        self.timings["snapshot_s"] = round(time.monotonic() - t, 3)
        if status != 0:
            lines = [ln for ln in err.splitlines() if ln.strip()]
            self.snapshot = {"error": lines[-1] if lines else f"exit {status}"}
            return
        try:
            files = [store.write_text(self.pcap.parent, point, text)
                     for point, text in self._snapshot_parts(out)]
        except NettrailError as exc:  # names the host and the fault
            self.snapshot = {"error": str(exc)}
            return
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            self.snapshot = {"error": f"unreadable snapshot: {exc!s}"}
            return
        self.snapshot = {"files": [p.relative_to(self.pcap.parent).as_posix() for p in files]}

    def _snapshot_parts(self, out: str) -> list[tuple[str, str]]:
        """(point, snapshot JSON) from the agent's answer: the host's, or one per namespace
        (a host on a shared kernel) named by the point it belongs to."""
        if not out.lstrip().startswith("["):
            return [(self.name, out)]
        parts = []
        for doc in parse_json(out, f"{self.name}'s snapshot", store.WHAT):
            ns = doc["namespaces"][0]
            point = self._peers.point_of(self.name, int(ns["inode"]), str(ns["name"]))
            if point is not None:
                parts.append((point, json.dumps(doc, indent=1)))
        return parts

    def _read_info(self, master: Master) -> None:
        status, out, _err = master.run(remote.info_command(), timeout=15)
        for line in out.splitlines():
            key, _, value = line.partition(" ")
            if key == "ifindex":
                index, _, ifname = value.partition(" ")
                if index.isdigit():
                    self.interfaces[int(index)] = ifname
            elif key:
                self.info[key] = value
        if status != 0:
            self.info["error"] = f"exit {status}"


def _discipline(info: dict[str, str]) -> tuple[bool | None, int | None]:
    """(synchronised, max error in ns) from the host's adjtimex answer."""
    fields = info.get("adjtimex", "").split()
    if len(fields) < 3 or not all(f.lstrip("-").isdigit() for f in fields[:3]):
        return None, None
    state, status, maxerror = (int(f) for f in fields[:3])
    unsync = bool(status & 0x40) or state == 5  # STA_UNSYNC, TIME_ERROR
    return not unsync, maxerror * 1000


class Capture:
    """The remote capture session (tcpdump, or the eBPF agent after its archive is sent on
    stdin): stdout streamed into a file, stderr watched for ``ready``."""

    def __init__(self, master: Master, cmd: str, path: Path, ready: bytes,
                 send: bytes = b"") -> None:
        self.proc = master.session(cmd)
        self.stderr = b""
        self.marker = ready
        self.ready = threading.Event()
        self.out: BinaryIO = path.open("wb")
        self._threads = [threading.Thread(target=self._pump, daemon=True),
                         threading.Thread(target=self._watch, daemon=True)]
        for t in self._threads:
            t.start()
        if send and self.proc.stdin is not None:
            with contextlib.suppress(OSError):  # ssh gone: its stderr tells why
                self.proc.stdin.write(send)
                self.proc.stdin.flush()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            data = os.read(fd, 1 << 20)
            if not data:
                break
            self.out.write(data)
        self.out.flush()

    def _watch(self) -> None:
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        while True:
            data = os.read(fd, 4096)
            if not data:
                break
            self.stderr += data
            if self.marker in self.stderr:
                self.ready.set()
        self.ready.set()

    def wait_ready(self, timeout: float) -> str | None:
        """None once the capture runs, else why not."""
        if not self.ready.wait(timeout):
            return f"the capture did not start within {timeout:.0f}s"
        if self.marker in self.stderr:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2)
        return self.last_error() or f"capture exited with status {self.proc.returncode}"

    def last_error(self) -> str:
        """The last line the remote side wrote that is not tcpdump's own chatter."""
        lines = [ln.strip() for ln in self.stderr.decode(errors="replace").splitlines()]
        useful = [ln for ln in lines if ln and not _COUNTS.search(ln) and not ln.startswith(
            ("listening on", "tcpdump: listening", agent.STATS, agent.READY.decode()))]
        return useful[-1] if useful else ""

    def finish(self, timeout: float) -> None:
        """Tell the remote side to stop (end of stdin) and drain what is in flight."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))

    def kill(self) -> None:
        """End the local ssh session process whatever its state; close the file."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for t in self._threads:
            t.join(2)
        self.out.close()

    def counts(self) -> dict[str, int]:
        """tcpdump's closing counts (captured, received by filter, dropped by kernel), or
        the eBPF agent's (emitted, lost, events, packets)."""
        text = self.stderr.decode(errors="replace")
        found = {m.group(2).replace(" ", "-"): int(m.group(1)) for m in _COUNTS.finditer(text)}
        for line in text.splitlines():
            if line.startswith(agent.STATS):
                for word in line[len(agent.STATS):].split():
                    key, _, value = word.partition("=")
                    if value.isdigit():
                        found[key] = int(value)
        return found


def probe(master: Master, count: int, timeout: float = 15.0) -> ProbeEstimate | None:
    """``count`` NTP-style probes over one session; the estimate from the fastest.

    ``timeout`` bounds each answer (the first one includes the remote shell's start)."""
    proc = master.session(remote.probe_command(), stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    fd_in, fd_out = proc.stdin.fileno(), proc.stdout.fileno()
    samples: list[tuple[int, int, int]] = []
    pending = b""
    try:
        for _ in range(count):
            t1 = time.time_ns()
            os.write(fd_in, b"\n")
            while b"\n" not in pending:
                ready, _, _ = select.select([fd_out], [], [], timeout)
                chunk = os.read(fd_out, 256) if ready else b""
                if not chunk:
                    return estimate(samples)
                pending += chunk
            t4 = time.time_ns()
            line, _, pending = pending.partition(b"\n")
            t = parse_time(line.decode(errors="replace"))
            if t is not None:
                samples.append((t1, t, t4))
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return estimate(samples)


def parse_time(text: str) -> int | None:
    """``1796318310.062619`` (seconds) as integer ns; None when it is not a time."""
    sec, _, frac = text.strip().partition(".")
    if not sec.isdigit() or (frac and not frac.isdigit()):
        return None
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])
