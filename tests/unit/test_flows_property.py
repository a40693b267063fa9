"""Property: any sequence of TCP packets ends in connections and findings, never an exception,
and the counts add up."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flowkit import Wire
from nettrail.analyze.flows import FlowTracker
from nettrail.model.flow import Outcome

ENDPOINTS = ["198.51.100.1:1000", "198.51.100.2:22", "203.0.113.5:1000"]

packet = st.tuples(
    st.floats(min_value=0, max_value=5, allow_nan=False),  # ms since the previous packet
    st.sampled_from(ENDPOINTS),
    st.sampled_from(ENDPOINTS),
    st.integers(min_value=0, max_value=0xFF),  # flags
    st.one_of(st.none(), st.sampled_from([0, 1, 100, 2**32 - 1])),  # seq
    st.sampled_from([0, 0, 10, 100]),  # payload length
    st.sampled_from([None, "eth0", "br0"]),
    st.booleans(),  # repeat the previous packet (a copy or a resend)
)


@settings(max_examples=300, deadline=None)
@given(st.lists(packet, max_size=40))
def test_any_packets_give_consistent_connections(packets: list[tuple]) -> None:  # type: ignore[type-arg]
    w = Wire()
    t = 0.0
    for dt, src, dst, flags, seq, length, ifname, again in packets:
        t += dt
        if again and w.records:
            w.copy(w.records[-1], dt * 1000, ifname)
            continue
        if src == dst:
            continue
        w.tcp(t, src, dst, flags, seq=seq, ack=seq, length=length, ifname=ifname)
    w.records.sort(key=lambda r: r.ts_ns)  # copies may land after later packets
    tracker = FlowTracker("p")
    tracker.consume(w.records)
    conns, findings = tracker.finish()
    assert sum(c.packets for c in conns) == len(w.records)
    for c in conns:
        assert c.copies + c.retransmissions <= c.packets
        assert c.first_ns <= c.last_ns
        assert isinstance(c.outcome, Outcome)
    for f in findings:
        assert f.evidence and all(e.text for e in f.evidence)
