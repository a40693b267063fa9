"""Real kernel: with stacks on, every event carries its own kernel stack, however many differ.

Stacks once went into a shared stack map and the events named them by id; once two distinct
stacks hashed to one bucket the newer one was refused (``-EEXIST``) and its events silently
had none: this traffic (40 to 110 distinct stacks) lost some in 4 runs of 8. Each event now
carries its stack in its own ring record, and a stack the kernel cannot record is counted.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from ntf_topo import SERVER, VIP, Topo, nat_topo_fixture, require_bpf

from conftest import require_tool
from nettrail.model.event import TraceEvent
from nettrail.trace.config import TraceConfig
from nettrail.trace.decode import Decoder
from nettrail.trace.session import TraceSession, TraceStats

pytestmark = [pytest.mark.bpf, pytest.mark.root]
__all__ = ["nat_topo_fixture"]

PROBES = f"""
import socket
for round in range(3):
    for port in range(23, 45):
        s = socket.socket(); s.settimeout(0.05)
        try: s.connect(({VIP!r}, port))
        except OSError: pass
        s.close()
        for to in ({VIP!r}, {SERVER!r}):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.sendto(b"x" * port * (round + 1), (to, port)); u.close()
"""
"""Refused connects (resets by the router), UDP to closed ports (ICMP errors back)."""


def _traffic(t: Topo) -> list[subprocess.Popen[bytes]]:
    """A TCP stream through the DNAT (iperf3 to VIP:22) and probes of closed ports."""
    def start(ns: str, *cmd: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    server = start(t.server, "iperf3", "-s", "-1", "-B", SERVER, "-p", "22")
    time.sleep(0.3)
    return [server, start(t.client, "iperf3", "-c", VIP, "-p", "22", "-t", "2", "-b", "50M"),
            start(t.client, "python3", "-c", PROBES)]


def _trace_traffic(t: Topo) -> tuple[list[TraceEvent], TraceStats]:
    """Every event of the three namespaces while the traffic runs, drained as it comes."""
    require_bpf()
    require_tool("iperf3")
    inodes = tuple(os.stat(f"/run/netns/{ns}").st_ino for ns in (t.client, t.router, t.server))
    cfg = TraceConfig(netns=inodes, stack=True, ring_bytes=64 << 20)
    events: list[TraceEvent] = []
    with TraceSession(cfg) as session:
        decoder = Decoder(session.anchor_ns, stacks=True)
        procs = _traffic(t)
        deadline = time.monotonic() + 20
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.05)
            events += decoder.table(session.read()).events()
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        time.sleep(0.2)
        events += decoder.table(session.read()).events()
        stats = session.stats()
    return events, stats


def test_every_event_carries_its_stack(nat_topo: Topo) -> None:
    events, stats = _trace_traffic(nat_topo)
    assert stats.lost == 0
    distinct = {ev.stack.frames for ev in events if ev.stack is not None}
    assert len(events) >= 1000 and len(distinct) >= 30, (len(events), len(distinct))
    missing = [ev for ev in events if ev.stack is None or not ev.stack.frames]
    assert not missing, f"{len(missing)} of {len(events)} events without a stack: {missing[:3]}"
    assert stats.stacks_lost == 0
    kinds = {ev.kind for ev in events}
    assert {"xmit", "recv", "reset"} <= kinds, kinds
