"""Fixtures of the bpf tier: a small namespace topology with a DNAT router, and a tracer.

Topology (namespaces and devices carry the ``ntF`` prefix; addresses from the test ranges)::

    ntF<id>c (client)              ntF<id>r (router)                   ntF<id>s (server)
    198.51.100.2 --veth-- 198.51.100.1, VIP 198.51.100.100 | 203.0.113.1 --veth-- 203.0.113.2
                          DNAT VIP:22 -> 203.0.113.2:22; FORWARD drops tcp dport 25

Nothing listens anywhere, so a SYN to VIP:22 is DNATed and the server's TCP stack answers RST;
a SYN to VIP:23 reaches the router's own stack, which answers RST from the VIP.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from conftest import require_root, require_tool
from nettrail.model.event import TraceEvent
from nettrail.trace.config import TraceConfig
from nettrail.trace.decode import Decoder
from nettrail.trace.session import OBJECT_PATH, TraceSession

VIP = "198.51.100.100"
CLIENT = "198.51.100.2"
SERVER = "203.0.113.2"


def sh(*cmd: str) -> str:
    """Run a command, fail the test with its stderr when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc.stdout


def in_ns(ns: str, *cmd: str) -> str:
    """Run a command inside a namespace."""
    return sh("ip", "netns", "exec", ns, *cmd)


def connect(ns: str, addr: str, port: int, timeout: float = 1.0) -> str:
    """Try a TCP connect from ``ns``; return the outcome (``refused``, ``timeout``, ``ok``)."""
    code = (
        "import socket,sys\n"
        f"s=socket.socket(); s.settimeout({timeout})\n"
        "try:\n"
        f"    s.connect(({addr!r},{port})); print('ok')\n"
        "except ConnectionRefusedError: print('refused')\n"
        "except OSError: print('timeout')\n"
    )
    return in_ns(ns, "python3", "-c", code).strip()


@dataclass(frozen=True)
class Topo:
    """Names of the three namespaces and their devices."""

    client: str
    router: str
    server: str
    c_dev: str
    r_in: str
    r_out: str
    s_dev: str


def _build(t: Topo) -> None:
    for ns in (t.client, t.router, t.server):
        sh("ip", "netns", "add", ns)
        in_ns(ns, "ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", t.c_dev, "netns", t.client, "type", "veth", "peer", "name", t.r_in,
       "netns", t.router)
    sh("ip", "link", "add", t.r_out, "netns", t.router, "type", "veth", "peer", "name",
       t.s_dev, "netns", t.server)
    steps = [
        (t.client, "ip addr add 198.51.100.2/24 dev " + t.c_dev),
        (t.client, f"ip link set {t.c_dev} up"),
        (t.client, "ip route add default via 198.51.100.1"),
        (t.router, f"ip addr add 198.51.100.1/24 dev {t.r_in}"),
        (t.router, f"ip addr add {VIP}/32 dev {t.r_in}"),
        (t.router, f"ip addr add 203.0.113.1/24 dev {t.r_out}"),
        (t.router, f"ip link set {t.r_in} up"),
        (t.router, f"ip link set {t.r_out} up"),
        (t.router, "sysctl -qw net.ipv4.ip_forward=1"),
        (t.router, f"iptables -t nat -A PREROUTING -d {VIP} -p tcp --dport 22 "
                   f"-j DNAT --to-destination {SERVER}:22"),
        (t.router, "iptables -A FORWARD -p tcp --dport 25 -j DROP"),
        (t.server, f"ip addr add {SERVER}/24 dev {t.s_dev}"),
        (t.server, f"ip link set {t.s_dev} up"),
        (t.server, "ip route add default via 203.0.113.1"),
    ]
    for ns, cmd in steps:
        in_ns(ns, *cmd.split())


def _teardown(t: Topo) -> None:
    for ns in (t.client, t.router, t.server):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


_BUILT = itertools.count()


@pytest.fixture(scope="module", name="nat_topo")
def nat_topo_fixture() -> Iterator[Topo]:
    """Three namespaces with a DNAT router, removed afterwards even on failure."""
    require_root()
    require_tool("iptables")
    tag = f"ntF{os.getpid() % 1000}{next(_BUILT)}"
    t = Topo(f"{tag}c", f"{tag}r", f"{tag}s", f"{tag}c0", f"{tag}r0", f"{tag}r1", f"{tag}s0")
    try:
        _build(t)
        # warm up ARP so the traced connects are only TCP
        in_ns(t.client, "python3", "-c", "import socket;s=socket.socket();s.settimeout(1);"
              f"s.connect_ex(('{VIP}',22))")
        yield t
    finally:
        _teardown(t)


def require_bpf() -> None:
    """Skip unless we can load BPF: root, kernel BTF, the built object."""
    require_root()
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("needs kernel BTF (/sys/kernel/btf/vmlinux)")
    if not OBJECT_PATH.exists():
        pytest.skip(f"needs the BPF object {OBJECT_PATH} (make bpf)")


def trace_while(cfg: TraceConfig, action: object, settle: float = 0.2) -> tuple[
        list[TraceEvent], object]:
    """Attach with ``cfg``, run ``action()``, and return the decoded events and the stats."""
    require_bpf()
    with TraceSession(cfg) as session:
        decoder = Decoder(session.anchor_ns, stacks=cfg.stack)
        assert callable(action)
        action()
        time.sleep(settle)
        events = decoder.table(session.read()).events()
        stats = session.stats()
    return events, stats
