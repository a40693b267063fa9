"""Real kernel, real namespaces: hops across namespaces, DNAT, local resets, drops with reasons."""

from __future__ import annotations

import ipaddress
import os
import subprocess
from typing import Any

import pytest
from ntf_topo import CLIENT, SERVER, VIP, Topo, connect, nat_topo_fixture, sh, trace_while

from nettrail.model.event import TraceEvent
from nettrail.model.packet import RST, SYN, TCPHeader
from nettrail.report.trace_text import packet_rewrites
from nettrail.trace.config import TraceConfig
from nettrail.trace.filter import PacketFields, evaluate

pytestmark = [pytest.mark.bpf, pytest.mark.root]
__all__ = ["nat_topo_fixture"]


def _tcp(ev: TraceEvent) -> TCPHeader | None:
    return ev.l4 if isinstance(ev.l4, TCPHeader) else None


def _hops(events: list[TraceEvent], pred: Any) -> list[tuple[str, str, str | None]]:
    return [(ev.kind, ev.netns, ev.ifname) for ev in events if pred(ev)]


def assert_in_order(got: list[Any], want: list[Any]) -> None:
    """``want`` appears in ``got`` as an ordered subsequence."""
    it = iter(got)
    for item in want:
        assert any(x == item for x in it), f"missing {item} (in order) in {got}"


def test_dnat_hops_reset_and_follow(nat_topo: Topo) -> None:
    t = nat_topo
    cfg = TraceConfig(filter=f"host {VIP} and tcp port 22")
    events, stats = trace_while(cfg, lambda: connect(t.client, VIP, 22))
    assert stats.lost == 0
    syn_id = next(ev.packet_id for ev in events
                  if ev.kind == "xmit" and _tcp(ev) and _tcp(ev).flags == SYN)
    syn = [ev for ev in events if ev.packet_id == syn_id]
    assert_in_order(
        [(ev.kind, ev.netns, ev.ifname) for ev in syn],
        [("xmit", t.client, t.c_dev), ("recv", t.router, t.r_in), ("xmit", t.router, t.r_out),
         ("recv", t.server, t.s_dev)])
    # after the DNAT the headers no longer match the filter: those hops come from following
    after = [ev for ev in syn if ev.netns == t.server]
    assert after and all(ev.followed for ev in after)
    assert after[0].ip is not None and after[0].ip.dst == SERVER
    notes = [text for _, text in packet_rewrites(syn)]
    assert f"DNAT {VIP}:22 -> {SERVER}:22 in {t.router}" in notes
    # the conntrack entry of the DNATed SYN names both tuples
    ct = next(ev.conntrack for ev in syn if ev.netns == t.router and ev.kind == "xmit")
    assert ct is not None and ct.dnat is not None
    assert (str(ct.dnat[0]), str(ct.dnat[1])) == (f"{VIP}:22", f"{SERVER}:22")
    # the server's stack answered RST, without a socket
    resets = [ev for ev in events if ev.kind == "reset"]
    assert resets, "no reset event"
    r = resets[0]
    assert r.netns == t.server and r.reset is not None
    assert not r.reset.socket and r.reset.name == "NO_SOCKET"
    # the RST travels back, un-NATed in the router to come from the VIP
    rst_hops = [ev for ev in events if _tcp(ev) and _tcp(ev).flags & RST and ev.kind == "recv"]
    assert any(ev.netns == t.client and ev.ip is not None and ev.ip.src == VIP
               for ev in rst_hops)


def test_router_own_stack_resets(nat_topo: Topo) -> None:
    t = nat_topo
    cfg = TraceConfig(filter=f"host {VIP} and tcp port 23", hooks=("xmit", "recv", "reset"))
    events, stats = trace_while(cfg, lambda: connect(t.client, VIP, 23))
    assert stats.lost == 0
    reset = next(ev for ev in events if ev.kind == "reset")
    assert reset.netns == t.router and reset.reset is not None and not reset.reset.socket
    assert reset.ip is not None and reset.ip.dst == VIP and reset.ip.src == CLIENT
    assert_in_order(_hops(events, lambda ev: _tcp(ev) is not None and _tcp(ev).flags & RST),
                    [("xmit", t.router, t.r_in), ("recv", t.client, t.c_dev)])


def test_drop_reason_from_btf(nat_topo: Topo) -> None:
    t = nat_topo
    cfg = TraceConfig(filter="tcp dst port 25")
    events, stats = trace_while(cfg, lambda: connect(t.client, SERVER, 25, timeout=0.3))
    assert stats.lost == 0
    drops = [ev for ev in events if ev.kind == "drop"]
    assert drops and drops[0].netns == t.router
    assert drops[0].drop is not None and drops[0].drop.name == "NETFILTER_DROP"


def test_filter_excludes_other_traffic(nat_topo: Topo) -> None:
    t = nat_topo
    cfg = TraceConfig(filter="tcp port 4444")
    events, _ = trace_while(cfg, lambda: connect(t.client, VIP, 23))
    assert events == []


def test_device_glob_and_netns_filters(nat_topo: Topo) -> None:
    t = nat_topo
    cfg = TraceConfig(filter="tcp port 23", ifname_globs=(t.r_in,), follow=False,
                      hooks=("xmit", "recv"))
    events, _ = trace_while(cfg, lambda: connect(t.client, VIP, 23))
    assert events and {ev.ifname for ev in events} == {t.r_in}
    ino = os.stat(f"/run/netns/{t.client}").st_ino
    cfg = TraceConfig(filter="tcp port 23", netns=(ino,), follow=False, hooks=("xmit", "recv"))
    events, _ = trace_while(cfg, lambda: connect(t.client, VIP, 23))
    assert events and {ev.netns for ev in events} == {t.client}
    # followed, the client's packets are shown beyond the namespace they matched in
    cfg = TraceConfig(filter="tcp port 23", netns=(ino,), hooks=("xmit", "recv"))
    events, _ = trace_while(cfg, lambda: connect(t.client, VIP, 23))
    assert {ev.netns for ev in events} == {t.client, t.router}


def test_kernel_stacks_symbolized(nat_topo: Topo) -> None:
    t = nat_topo
    cfg = TraceConfig(filter="tcp port 23", stack=True, hooks=("xmit", "reset"))
    events, _ = trace_while(cfg, lambda: connect(t.client, VIP, 23))
    xmit = next(ev for ev in events if ev.kind == "xmit")
    reset = next(ev for ev in events if ev.kind == "reset")
    assert xmit.stack is not None and reset.stack is not None
    assert xmit.stack.frames[0].startswith("dev_hard_start_xmit+0x")
    assert any(f.startswith("tcp_v4_send_reset+") for f in reset.stack.frames[:2])


@pytest.mark.parametrize("expr", [
    f"dst host {VIP}", "src net 198.51.100.0/24 and tcp", "tcp[tcpflags] & tcp-rst != 0",
    "tcp port 23 and not tcp[tcpflags] & tcp-syn != 0", "portrange 20-24"])
def test_kernel_filter_agrees_with_python(nat_topo: Topo, expr: str) -> None:
    t = nat_topo
    cfg = TraceConfig(filter=expr, follow=False, hooks=("xmit", "recv"))

    def traffic() -> None:
        connect(t.client, VIP, 23)
        connect(t.client, VIP, 22)

    events, _ = trace_while(cfg, traffic)
    assert events, expr
    for ev in events:
        assert ev.ip is not None and ev.l4 is not None
        ip = ipaddress.ip_address(ev.ip.src), ipaddress.ip_address(ev.ip.dst)
        flags = ev.l4.flags if isinstance(ev.l4, TCPHeader) else 0
        fields = PacketFields(ev.ip.version, ev.ip.proto, ip[0].packed, ip[1].packed,
                              ev.l4.sport, ev.l4.dport, flags)
        assert evaluate(cfg.rules, fields), (expr, ev.packet)


def test_synack_retransmit(nat_topo: Topo) -> None:
    t = nat_topo
    code = ("import socket,time;s=socket.socket();s.bind(('0.0.0.0',2222));s.listen();"
            "print('up',flush=True);time.sleep(10)")
    listener = subprocess.Popen(["ip", "netns", "exec", t.server, "python3", "-c", code],
                                stdout=subprocess.PIPE, text=True)
    rule = ["iptables", "-A", "INPUT", "-p", "tcp", "--sport", "2222", "-j", "DROP"]
    try:
        assert listener.stdout is not None and listener.stdout.readline() == "up\n"
        sh("ip", "netns", "exec", t.client, *rule)
        cfg = TraceConfig(filter="tcp port 2222", hooks=("synack-retransmit",))
        events, _ = trace_while(cfg, lambda: connect(t.client, SERVER, 2222, timeout=1.5))
    finally:
        rule[1] = "-D"
        subprocess.run(["ip", "netns", "exec", t.client, *rule], capture_output=True)
        listener.kill()
        listener.wait()
    ev = next(ev for ev in events if ev.kind == "synack-retransmit")
    assert ev.netns == t.server and ev.socket is not None
    assert (str(ev.socket.local), str(ev.socket.remote.addr)) == (f"{SERVER}:2222", CLIENT)


def test_ipv6_loopback_in_a_namespace(nat_topo: Topo) -> None:
    t = nat_topo
    cfg = TraceConfig(filter="ip6 and tcp dst port 7", hooks=("xmit", "recv", "reset"))
    code = ("import socket;s=socket.socket(socket.AF_INET6);s.settimeout(1);"
            "print(s.connect_ex(('::1',7)))")
    events, _ = trace_while(cfg, lambda: sh("ip", "netns", "exec", t.client, "python3", "-c",
                                            code))
    kinds = [(ev.kind, ev.netns, ev.ifname) for ev in events]
    assert ("xmit", t.client, "lo") in kinds and ("reset", t.client, "lo") in kinds
    syn = events[0]
    assert syn.ip is not None and syn.ip.version == 6 and syn.ip.dst == "::1"
    reset = next(ev for ev in events if ev.kind == "reset")
    assert reset.reset is not None and not reset.reset.socket
