"""The tracer on the Open vSwitch lab, filtering on the floating IP only.

Through OVS's userspace datapath a frame entering a switch port is freed by the host's own
stack (OTHERHOST) after OVS's packet socket read it: shown as handed to Open vSwitch, never as a
drop, and joined with the copy OVS sends out of another port. Once the router's conntrack entry
is known the connection is followed in the kernel, so the VM's SYN-ACK from its fixed address
appears before the compute node's OpenFlow rules rewrite it. Ordered subsets, never whole outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ntf_topo import require_bpf, trace_while

from nettrail.lab.handle import LabHandle
from nettrail.model.event import TraceEvent
from nettrail.model.packet import SYN, TCPHeader
from nettrail.trace.config import TraceConfig

pytestmark = [pytest.mark.bpf, pytest.mark.root, pytest.mark.lab]

FIP, VM, CLIENT = "203.0.113.223", "198.51.100.4", "203.0.113.10"
ROUTER = "qrouter-5f1c2d3e-8b7a-4c1e-9d2f-0a6b3c4d5e6f"
SYNACK = SYN | 0x10


def flags(ev: TraceEvent) -> int | None:
    return ev.l4.flags if isinstance(ev.l4, TCPHeader) else None


def traced(lab: LabHandle, connections: bool) -> list[TraceEvent]:
    cfg = TraceConfig(filter=f"host {FIP}", connections=connections)
    result: dict[str, Any] = {}
    events, stats = trace_while(cfg, lambda: result.update(t=lab.run_traffic()), settle=0.5)
    assert stats.lost == 0, stats  # type: ignore[attr-defined]
    assert result["t"].outcome == result["t"].expected, result["t"]
    return events


def where(lab: LabHandle, ev: TraceEvent) -> tuple[str, str, str | None]:
    names = {lab.ns(h): h for h in ("client", "netnode", ROUTER, "compute", "vm", "extnet")}
    return ev.kind, names.get(ev.netns, ev.netns), ev.ifname


def test_dual_l3_on_ovs(lab_scenario: Callable[[str], LabHandle]) -> None:
    require_bpf()
    lab = lab_scenario("dual-l3")
    events = traced(lab, connections=True)
    # frames entering OVS ports are handed over, never reported as drops
    handed = [ev for ev in events if ev.kind == "handed"]
    assert handed and all(ev.drop is not None and ev.drop.handed_to == "Open vSwitch"
                          for ev in handed)
    assert not [ev for ev in events if ev.kind == "drop" and ev.drop is not None
                and ev.drop.name == "OTHERHOST"]
    # the VM's SYN-ACK from its fixed address, before the compute node's L3 translates it
    synack = next(ev for ev in events if ev.kind == "xmit" and flags(ev) == SYNACK
                  and ev.netns == lab.ns("vm"))
    assert synack.ip is not None and (synack.ip.src, synack.ip.dst) == (VM, CLIENT)
    # ... joined across the switch with the rewritten copy leaving the compute node
    same = [ev for ev in events if ev.packet_id == synack.packet_id]
    hops = [where(lab, ev) for ev in same]
    assert ("handed", "compute", "tap9c8b7a6d-5e") in hops, hops
    out = [ev for ev in same if where(lab, ev) == ("xmit", "compute", "eth1")]
    assert out and out[0].ip is not None and out[0].ip.src == FIP, hops
    assert hops.index(("handed", "compute", "tap9c8b7a6d-5e")) < hops.index(
        ("xmit", "compute", "eth1"))
    # the RST made by the router namespace's own TCP stack, from the floating IP
    resets = [ev for ev in events if ev.kind == "reset"]
    assert resets and resets[0].netns == lab.ns(ROUTER) and resets[0].reset is not None
    assert not resets[0].reset.socket

    # control: without connection following the VM's untranslated reply is not shown
    plain = traced(lab, connections=False)
    assert [ev for ev in plain if ev.kind == "reset"]
    assert not [ev for ev in plain if ev.netns == lab.ns("vm") and flags(ev) == SYNACK]


def test_link_filters_in_the_kernel(lab_scenario: Callable[[str], LabHandle]) -> None:
    """``ether src``, service names and ``greater`` decided in the kernel, outer or inner."""
    require_bpf()
    lab = lab_scenario("dual-l3")
    vm_mac = "fa:16:3e:5c:8b:7a"
    cfg = TraceConfig(filter=f"ether src {vm_mac} and tcp port ssh and greater 60",
                      follow=False, hooks=("xmit", "recv"))
    events, _ = trace_while(cfg, lab.run_traffic, settle=0.5)
    assert events
    for ev in events:
        assert ev.packet is not None
        frames = [ev.packet.headers] + ([ev.packet.inner] if ev.packet.inner else [])
        assert any(h.eth is not None and h.eth.src == vm_mac for h in frames), ev.packet
        assert ev.packet.wire_len >= 60
        assert ev.l4 is not None and 22 in (ev.l4.sport, ev.l4.dport)
    assert {where(lab, ev)[1] for ev in events} <= {"vm", "compute"}
    # the compute node's L3 rewrites the source MAC: nothing of the VM's MAC leaves on eth1
    assert not [ev for ev in events if where(lab, ev) == ("xmit", "compute", "eth1")]
