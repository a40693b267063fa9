"""Filters at the rule table's limit load into every program and select what they say;
one instruction more is refused before anything is loaded."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ntf_topo import VIP, Topo, connect, nat_topo_fixture, require_bpf, trace_while

from nettrail.trace import layout as L
from nettrail.trace.config import HOOKS, TraceConfig

pytestmark = [pytest.mark.bpf, pytest.mark.root]
__all__ = ["nat_topo_fixture"]

OTHERS = [f"198.18.99.{i}" for i in range(1, 20)]


def or_chain(last: str) -> str:
    """Fourteen hosts or'ed left to right (a shallow stack), then tcp, not udp: 32 rules."""
    hosts = " or ".join(f"host {a}" for a in [*OTHERS[:13], last])
    return f"({hosts}) and tcp and not udp"


def nested(last: str) -> str:
    """Fourteen hosts or'ed right to left (every test on the stack before the first or)."""
    inner = f"host {last}"
    for addr in reversed(OTHERS[:13]):
        inner = f"host {addr} or ({inner})"
    return f"tcp and not udp and ({inner})"


MIXED = ("(ether host 02:00:00:00:00:01 or vlan 5) and (tcp[tcpflags] & tcp-syn != 0 or "
         "tcp[tcpflags] = tcp-rst) and (src net 198.18.0.0/16 or dst port 22) and "
         "(portrange 1000-2000 or less 100) and (greater 50 or ip6) and (proto 17 or icmp) and "
         "(ether src 02:00:00:00:00:02 or host 2001:db8::1) and not host 198.18.1.1 and ip")


@pytest.mark.parametrize("shape", [or_chain, nested])
@pytest.mark.parametrize("matching", [True, False])
def test_filter_at_the_limit_loads_and_selects(nat_topo: Topo, shape: object,
                                               matching: bool) -> None:
    assert callable(shape)
    text = shape(VIP if matching else OTHERS[-1])
    cfg = TraceConfig(filter=text, hooks=HOOKS)
    assert len(cfg.rules) == L.MAX_RULES
    t = nat_topo
    events, _ = trace_while(cfg, lambda: connect(t.client, VIP, 22))
    kinds = {(ev.kind, ev.netns) for ev in events}
    if not matching:
        assert kinds == set()
        return
    # the SYN leaves the client, the server's stack answers with a reset (tcp_send_reset:
    # the reset program runs the whole rule table on the SYN it answers)
    assert ("xmit", t.client) in kinds and ("reset", t.server) in kinds, kinds


def test_every_kind_of_rule_at_the_limit_loads(nat_topo: Topo) -> None:
    cfg = TraceConfig(filter=MIXED, hooks=HOOKS)
    assert len(cfg.rules) == L.MAX_RULES
    # the SYN has neither such a MAC nor a VLAN, nor is it UDP or ICMP
    events, stats = trace_while(cfg, lambda: connect(nat_topo.client, VIP, 22))
    assert events == [] and stats.emitted == 0


def test_one_rule_above_the_limit_is_refused_before_loading() -> None:
    require_bpf()
    text = f"not ({or_chain(VIP)})"
    proc = subprocess.run([sys.executable, "-m", "nettrail.cli.main", "trace", "-q",
                           "--duration", "1", text], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert f"{L.MAX_RULES + 1} instructions, at most {L.MAX_RULES} fit" in proc.stderr
