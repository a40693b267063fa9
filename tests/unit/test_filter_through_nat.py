"""``--filter-host`` / ``--filter-port`` over several points: the connection is followed
through NAT, not cut where its addresses change. Filtering packets first left the router's
and the VM's forms out, so the points that saw only those seemed to miss it: the floating
IP gave "the server reset the connection", the VM's fixed address a RST "injected" by a
device in between."""

from __future__ import annotations

from pathlib import Path

import pytest

from nettrail.lab.manifest import captures_of
from nettrail.run import PacketFilter, analyze_files

RUN = Path(__file__).parents[1] / "fixtures" / "labruns" / "dual-l3"


def _diagnosis(packet_filter: PacketFilter) -> tuple[tuple[str, ...] | None, int]:
    pairs, ifnames = captures_of(RUN)
    analysis = analyze_files(pairs, ifnames=ifnames, packet_filter=packet_filter).analysis
    kinds = analysis.diagnosis.kinds if analysis.diagnosis is not None else None
    return kinds, len(analysis.connections)


@pytest.mark.parametrize("packet_filter", [
    PacketFilter("203.0.113.223"), PacketFilter("198.51.100.4"), PacketFilter("203.0.113.10"),
    PacketFilter(None, 22), PacketFilter("198.51.100.4", 22)],
    ids=["floating-ip", "fixed-ip", "client", "port", "fixed-ip-and-port"])
def test_any_form_of_the_connection_gives_the_diagnosis_of_all(
        packet_filter: PacketFilter) -> None:
    whole, connections = _diagnosis(PacketFilter())
    assert whole == ("asymmetric-nat", "reset-not-from-server")
    assert _diagnosis(packet_filter) == (whole, connections)


def test_a_host_of_no_connection_reports_none() -> None:
    assert _diagnosis(PacketFilter("198.51.100.99")) == (None, 0)
