"""Cross-point analysis of a generated multi-point capture (a few thousand packets): the whole
result (clock, NAT, findings, diagnosis and every packet path) against a recorded snapshot.

The capture mixes healthy connections through a router's DNAT, the two-NAT incident, lost
segments, refused connections, retransmissions and MTU black holes at three points with skewed
clocks and ``-i any`` copies, plus the same kind of traffic as tcpdump text (no seq numbers,
no IP IDs). Set ``NETTRAIL_UPDATE_GOLDEN=1`` to rewrite the snapshot after an intended change,
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from crosskit import ACK, FIN, PSH, RST, SYN, Net
from nettrail.analyze import crosspoint
from nettrail.model.analysis import Analysis, PacketPath
from nettrail.report.json import endpoint_dict, key_dict, to_dict

EXPECTED = Path(__file__).parent / "expected"


def _conn(net: Net, i: int, kind: int, t: float) -> None:
    """One connection ``i`` of ``kind`` starting at ``t`` ms (true time)."""
    client = f"203.0.113.{100 + i % 100}:{20000 + i}"
    fip = f"203.0.113.{10 + i % 7}:22"
    vm = f"198.51.100.{4 + i % 7}:22"
    req = [("client", client, fip, "eth0"), ("router", client, fip, "qg-1"),
           ("router", client, vm, "qr-1"), ("compute", client, vm, "tap1")]
    rep = [("compute", vm, client, "tap1"), ("router", vm, client, "qr-1"),
           ("router", fip, client, "qg-1"), ("client", fip, client, "eth0")]
    cs, ss = 1000 + i * 7919 % 100000, 5000 + i * 104729 % 100000
    if kind == 3:  # refused
        net.send(t, req, SYN, seq=cs)
        net.send(t + 0.5, rep, RST | ACK, seq=0, ack=cs + 1)
        return
    if kind == 1:  # the incident: reply translated on the compute node, RST from the router
        asym = [("compute", vm, client, "tap1"), ("compute", fip, client, "eth1"),
                ("client", fip, client, "eth0")]
        net.send(t, req, SYN, seq=cs, ts_val=i)
        net.send(t + 1.0, asym, SYN | ACK, seq=ss, ack=cs + 1, ts_val=i + 1)
        net.send(t + 2.0, req[:2], ACK, seq=cs + 1, ack=ss + 1)
        net.send(t + 2.5, [("router", fip, client, "qg-1"), ("client", fip, client, "eth0")],
                 RST, seq=ss + 1, ip_id=0)
        return
    net.send(t, req, SYN, seq=cs)
    net.send(t + 1.0, rep, SYN | ACK, seq=ss, ack=cs + 1)
    net.send(t + 2.0, req, ACK, seq=cs + 1, ack=ss + 1)
    if kind == 2:  # a request segment lost between router and compute, three times
        for k in range(3):
            net.send(t + 3.0 + 200.0 * k, req[:3], PSH | ACK, seq=cs + 1, ack=ss + 1, length=50)
        return
    if kind == 5:  # MTU black hole: full-size replies stop at the router, small ones pass
        net.send(t + 3.0, req, PSH | ACK, seq=cs + 1, ack=ss + 1, length=40)
        net.send(t + 4.0, rep, PSH | ACK, seq=ss + 1, ack=cs + 41, length=200)
        for k in range(3):
            net.send(t + 5.0 + 200.0 * k, rep[:1], ACK, seq=ss + 201, ack=cs + 41, length=1448)
        return
    net.send(t + 3.0, req, PSH | ACK, seq=cs + 1, ack=ss + 1, length=40)
    if kind == 4:  # the request retransmitted (another IP ID), both seen everywhere
        net.send(t + 203.0, req, PSH | ACK, seq=cs + 1, ack=ss + 1, length=40)
    net.send(t + 4.0, rep, ACK, seq=ss + 1, ack=cs + 41)
    net.send(t + 5.0, rep, PSH | ACK, seq=ss + 1, ack=cs + 41, length=300)
    net.send(t + 6.0, req, ACK, seq=cs + 41, ack=ss + 301)
    net.send(t + 7.0, req, FIN | ACK, seq=cs + 41, ack=ss + 301)
    net.send(t + 8.0, rep, FIN | ACK, seq=ss + 301, ack=cs + 42)
    net.send(t + 9.0, req, ACK, seq=cs + 42, ack=ss + 302)


def generated(text: bool) -> Net:
    """Connections of every kind, 3 ms apart, the compute node's clock 25 ms ahead."""
    net = Net(("client", "router", "compute"), {"compute": 25.0, "router": -3.0}, text)
    kinds = (0, 0, 0, 4, 0, 2, 0, 3, 0, 5, 0, 1) if not text else (0, 0, 4, 0, 3, 0, 2)
    for i in range(72 if not text else 35):
        _conn(net, i, kinds[i % len(kinds)], i * 3.0)
    return net


def _path(p: PacketPath) -> dict[str, Any]:
    return {"id": p.id, "confidence": p.confidence, "connection": key_dict(p.connection),
            "hops": [[h.point, h.ifname, h.time_ns, h.file, h.frame, h.text,
                      None if h.src is None else endpoint_dict(h.src),
                      None if h.dst is None else endpoint_dict(h.dst)] for h in p.hops]}


def snapshot(net: Net, ids_only: bool) -> str:
    """Everything cross-point analysis decided, as JSON: the report's object, then one line
    per packet path (only the kept paths' ids when ``ids_only``)."""
    points = net.points()
    r = crosspoint.cross_point(points)
    if ids_only:
        return json.dumps([p.id for p in r.paths]) + "\n"
    analysis = Analysis(points=(), connections=(), findings=r.findings, clock=r.clock,
                        nat=r.nat, paths=r.paths, diagnosis=r.diagnosis)
    data = to_dict(analysis)
    data["packets"] = sum(len(v) for v in points.values())
    lines = [json.dumps({k: v}, sort_keys=True) for k, v in data.items() if k != "findings"]
    lines += [json.dumps(f, sort_keys=True) for f in data["findings"]]
    lines += [json.dumps(_path(p), sort_keys=True) for p in r.paths]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("text", "cap"), [(False, None), (False, 300), (True, None)],
                         ids=["headers", "headers-capped", "text"])
def test_generated_capture_matches_snapshot(text: bool, cap: int | None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    if cap is not None:  # fewer paths kept than packets: those with findings first
        monkeypatch.setattr(crosspoint, "MAX_PATHS", cap)
    got = snapshot(generated(text), ids_only=cap is not None)
    name = "crosspoint_generated_" + ("text" if text else "headers") + (
        f"_cap{cap}" if cap else "") + (".json" if cap else ".jsonl")
    path = EXPECTED / name
    if os.environ.get("NETTRAIL_UPDATE_GOLDEN"):
        path.write_text(got)
    assert got == path.read_text()
