"""The issue's bars on the lab's OpenStack scenarios, traced live with a filter on the client.

dual-l3: the SYN's hops from the client to the VM with the DNAT in the router namespace, the
SYN-ACK leaving the compute node already rewritten to the floating IP (never through the
router), and the RST made by the router namespace's own TCP stack. healthy: the SYN-ACK returns
through the router namespace. Assertions are ordered subsets of the events, never whole outputs.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from ntf_topo import require_bpf, trace_while

from nettrail.lab.handle import LabHandle
from nettrail.model.event import TraceEvent
from nettrail.model.packet import ACK, RST, SYN, TCPHeader
from nettrail.report.trace_text import packet_rewrites
from nettrail.trace.config import TraceConfig

pytestmark = [pytest.mark.bpf, pytest.mark.root, pytest.mark.lab]

FIP, VM, CLIENT = "203.0.113.223", "198.51.100.4", "203.0.113.10"
ROUTER = "qrouter-5f1c2d3e-8b7a-4c1e-9d2f-0a6b3c4d5e6f"


def flags(ev: TraceEvent) -> int | None:
    return ev.l4.flags if isinstance(ev.l4, TCPHeader) else None


def first_packet(events: list[TraceEvent], want: int) -> list[TraceEvent]:
    """Every event of the first packet whose first hop has exactly the TCP flags ``want``."""
    pid = next(ev.packet_id for ev in events if flags(ev) == want and ev.kind == "xmit")
    return [ev for ev in events if ev.packet_id == pid]


def hop_list(events: list[TraceEvent], lab: LabHandle) -> list[tuple[str, str, str | None]]:
    names = {lab.ns(h): h for h in ("client", "netnode", ROUTER, "compute", "vm", "extnet")}
    return [(ev.kind, names.get(ev.netns, ev.netns), ev.ifname) for ev in events]


def assert_in_order(got: list[Any], want: list[Any]) -> None:
    it = iter(got)
    for item in want:
        assert any(x == item for x in it), f"missing {item} (in order) in {got}"


def traced(lab_scenario: Callable[[str], LabHandle], name: str) -> tuple[
        LabHandle, list[TraceEvent]]:
    require_bpf()
    lab = lab_scenario(name)
    cfg = TraceConfig(filter=f"host {CLIENT} and tcp port 22")
    result: dict[str, Any] = {}
    events, stats = trace_while(cfg, lambda: result.update(t=lab.run_traffic()), settle=0.5)
    assert stats.lost == 0, stats  # type: ignore[attr-defined]
    assert result["t"].outcome == result["t"].expected, result["t"]
    return lab, events


def test_dual_l3(lab_scenario: Callable[[str], LabHandle]) -> None:
    lab, events = traced(lab_scenario, "dual-l3")
    router = lab.ns(ROUTER)
    syn = first_packet(events, SYN)
    assert_in_order(hop_list(syn, lab), [
        ("xmit", "client", "eth0"), ("recv", ROUTER, "qg-7d3e1f2a-4b"),
        ("xmit", ROUTER, "qr-1a2b3c4d-5e"), ("xmit", "netnode", "eth0"),
        ("recv", "compute", "eth0"), ("xmit", "compute", "tap9c8b7a6d-5e"),
        ("recv", "vm", "eth0")])
    assert f"DNAT {FIP}:22 -> {VM}:22 in {router}" in [t for _, t in packet_rewrites(syn)]
    # VXLAN: the underlay hop carries the SYN as inner headers
    under = next(ev for ev in syn if ev.ifname == "eth0" and ev.netns == lab.ns("compute"))
    assert under.packet is not None and under.packet.vni == 1001
    synack = first_packet(events, SYN | ACK)
    hops = hop_list(synack, lab)
    assert_in_order(hops, [("xmit", "vm", "eth0"), ("recv", "compute", "tap9c8b7a6d-5e"),
                           ("xmit", "compute", "eth1"), ("recv", "client", "eth0")])
    assert not any(h[1] == ROUTER for h in hops), "SYN-ACK went through the router"
    leaving = next(ev for ev in synack if ev.netns == lab.ns("compute") and ev.ifname == "eth1")
    assert leaving.ip is not None and leaving.ip.src == FIP
    assert any(t.startswith(f"SNAT {VM}:22 -> {FIP}:22 in {lab.ns('compute')}")
               for _, t in packet_rewrites(synack))
    resets = [ev for ev in events if ev.kind == "reset"]
    assert resets and resets[0].netns == router and resets[0].reset is not None
    assert not resets[0].reset.socket and resets[0].ip is not None
    assert (resets[0].ip.src, resets[0].ip.dst) == (CLIENT, FIP)
    rst = first_packet(events, RST)
    assert_in_order(hop_list(rst, lab), [("xmit", ROUTER, "qg-7d3e1f2a-4b"),
                                         ("recv", "client", "eth0")])


def test_analyze_reads_every_namespace_on_one_clock(
        lab_scenario: Callable[[str], LabHandle]) -> None:
    """``trace --analyze``: every namespace is a point, all of one kernel's clock, so no
    offset is estimated between them (from packets seen one way only it could be a
    millisecond off, and put a reply before its request); the diagnosis is the incident's."""
    require_bpf()
    lab_scenario("dual-l3")
    nettrail = [sys.executable, "-m", "nettrail.cli.main"]
    proc = subprocess.run([*nettrail, "trace", "--analyze", "-q", "tcp", "port", "22", "--",
                           *nettrail, "lab", "traffic", "dual-l3"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "served by two L3 implementations" in proc.stdout, proc.stdout
    section = proc.stdout.split("\nClocks\n", 1)[1].split("\n\n", 1)[0].splitlines()
    reference = section[0].strip().removesuffix("'s clock is the reference")
    assert reference.startswith("ntl-dual-l3-"), section
    assert len(section) >= 5, section
    for line in section[1:]:
        assert line.endswith(f"'s clock is {reference}'s (one host, one kernel clock)"), section


def test_healthy(lab_scenario: Callable[[str], LabHandle]) -> None:
    lab, events = traced(lab_scenario, "healthy")
    router = lab.ns(ROUTER)
    synack = first_packet(events, SYN | ACK)
    assert_in_order(hop_list(synack, lab), [
        ("xmit", "vm", "eth0"), ("xmit", "compute", "eth0"), ("recv", "netnode", "eth0"),
        ("recv", ROUTER, "qr-1a2b3c4d-5e"), ("xmit", ROUTER, "qg-7d3e1f2a-4b"),
        ("recv", "client", "eth0")])
    assert f"SNAT {VM}:22 -> {FIP}:22 in {router}" in [t for _, t in packet_rewrites(synack)]
    assert not [ev for ev in events if ev.kind == "reset"]


def test_vxlan_inner_headers_match_in_kernel(lab_scenario: Callable[[str], LabHandle]) -> None:
    require_bpf()
    lab = lab_scenario("healthy")
    # not followed: the underlay hops are emitted only because the kernel matched inner headers
    cfg = TraceConfig(filter=f"host {VM} and tcp[tcpflags] & tcp-syn != 0", follow=False,
                      hooks=("xmit", "recv"))
    events, _ = trace_while(cfg, lab.run_traffic, settle=0.5)
    under = [ev for ev in events if ev.netns in (lab.ns("netnode"), lab.ns("compute"))
             and ev.ifname == "eth0"]
    assert under, hop_list(events, lab)
    for ev in under:
        assert ev.packet is not None and ev.packet.vni == 1001
        assert ev.packet.headers.ip is not None and ev.packet.headers.ip.dst.startswith("198.18.")
        assert ev.ip is not None and VM in (ev.ip.src, ev.ip.dst)
