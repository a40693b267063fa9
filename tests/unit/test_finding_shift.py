"""A finding's evidence moved to the first point's clock (``Finding.shifted``)."""

from __future__ import annotations

import dataclasses

from nettrail.model.finding import Evidence, Finding, Severity
from nettrail.model.flow import Endpoint, FlowKey


def test_each_evidence_moves_by_its_points_offset() -> None:
    ev = (Evidence("a", "a.pcap", 1, 1000, "x", "eth0", "n"),
          Evidence("b", "b.pcap", 2, 5000, "y", None, ""),
          Evidence("c", "c.pcap", 3, 7000, "z"))
    key = FlowKey.of(6, Endpoint("198.51.100.1", 1), Endpoint("203.0.113.2", 2))
    f = Finding("reset", Severity.ERROR, "s", ev, True, key, {"k": "v"})
    moved = f.shifted({"a": 0, "b": 25, "c": -3})
    assert moved == dataclasses.replace(f, evidence=(
        ev[0], dataclasses.replace(ev[1], time_ns=4975), dataclasses.replace(ev[2],
                                                                              time_ns=7003)))
    assert moved.evidence[0] is ev[0]  # an evidence that does not move is kept
    assert f.shifted({"a": 0, "x": 9}) is f  # nothing moves: the finding itself
    assert f.shifted({}) is f
