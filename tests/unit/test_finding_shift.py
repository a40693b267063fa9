"""A finding's evidence moved to the first point's clock (``Finding.shifted``)."""

from __future__ import annotations

import dataclasses

import pytest

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


def test_moved_copies_are_what_init_makes() -> None:
    """Every field of a moved finding and evidence is set (defaults too), they compare (and
    an evidence hashes) as the ones made by ``__init__``, and stay frozen."""
    ev = (Evidence("a", "a.pcap", 1, 1000, "x"), Evidence("b", "b.pcap", 2, 5000, "y", "e1"))
    f = Finding("kind", Severity.WARNING, "s", ev)
    moved = f.shifted({"a": 7, "b": -2})
    made = Finding("kind", Severity.WARNING, "s", (Evidence("a", "a.pcap", 1, 993, "x"),
                                                   Evidence("b", "b.pcap", 2, 5002, "y", "e1")))
    for got, want in ((moved, made), *zip(moved.evidence, made.evidence, strict=True)):
        assert type(got) is type(want)
        for fld in dataclasses.fields(want):  # type: ignore[arg-type]
            assert getattr(got, fld.name) == getattr(want, fld.name)
        assert got == want and repr(got) == repr(want)
    assert list(map(hash, moved.evidence)) == list(map(hash, made.evidence))
    assert ev[1].shifted(0) is ev[1] and ev[1].shifted(5) == made.evidence[1].shifted(7) \
        == Evidence("b", "b.pcap", 2, 4995, "y", "e1")
    for frozen, name in ((moved, "summary"), (moved.evidence[0], "time_ns")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(frozen, name, 0)
