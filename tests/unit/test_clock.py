"""Clock offsets between points from matched packets: bounds, robustness, wording."""

from __future__ import annotations

import numpy as np
import pytest

from crosskit import ACK, FIP, MS, PSH, RST, SYN, VM, C, Net, handshake, incident
from flowkit import Wire
from nettrail.analyze import clock
from nettrail.analyze.clock import PairEstimate, describe_offset, offsets
from nettrail.analyze.crosspoint import correlate, cross_point
from nettrail.model.analysis import ClockOffset
from nettrail.model.packet import PacketRecord


def clock_of(points: dict) -> dict[str, ClockOffset]:  # type: ignore[type-arg]
    _, clock, _ = correlate(points)
    return {c.point: c for c in clock}


@pytest.mark.parametrize("skew", [25.0, -40.0, 0.0, 3_600_000.0])
@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_offset_from_both_directions(skew: float, text: bool) -> None:
    c = clock_of(incident(healthy=True, text=text, skew_ms=skew).points())
    assert c["client"].offset_ns == 0.0
    est = c["compute"]
    assert est.reference == "client"
    # true offset within the stated uncertainty, and the uncertainty is below a hop's transit
    assert abs(est.offset_ns - skew * MS) <= est.uncertainty_ns
    assert est.uncertainty_ns < 0.2 * MS
    most, least = est.limits  # what the packets allow holds the truth
    assert most is not None and least is not None and least <= skew * MS <= most
    assert abs(c["router"].offset_ns) <= c["router"].uncertainty_ns


@pytest.mark.parametrize("shift_ms", [-900.0, -3.0, 3.0, 700.0])
def test_one_mangled_timestamp_does_not_move_the_estimate(shift_ms: float) -> None:
    good = clock_of(incident(healthy=True, skew_ms=25.0).points())["compute"]
    points = incident(healthy=True, skew_ms=25.0).points()
    recs = points["compute"]
    i = 4  # the compute host's view of the client's ACK
    recs[i] = recs[i]._replace(ts_ns=recs[i].ts_ns + round(shift_ms * MS))
    bad = clock_of(points)["compute"]
    assert abs(bad.offset_ns - good.offset_ns) <= 0.05 * MS
    assert bad.uncertainty_ns <= good.uncertainty_ns + 0.05 * MS


@pytest.mark.parametrize("skew", [7.0, -40.0])
def test_one_late_stamp_keeps_the_truth_inside(skew: float) -> None:
    """The client's SYN stamped 0.9 ms late, everything else on time (0.2 ms transit): the
    SYN's bound says the netnode is 0.7 ms less ahead than it is. By medians the RST then
    reads as the client's direction and the client's ACK as the other: dropping the bound
    that contradicts kept the late one and left an interval 0.2 ms off the truth. Bounds
    that contradict cannot tell which of them is wrong: the interval holds them all."""
    client, netnode = Wire("client", "client.pcap"), Wire("netnode", "netnode.pcap")
    srv = "198.51.100.4:22"
    client.tcp(0.7, C, srv, SYN, seq=1000)  # sent at -0.2, stamped 0.9 ms late
    netnode.tcp(0.0 + skew, C, srv, SYN, seq=1000)
    client.tcp(1.3, C, srv, ACK, seq=1001, ack=5001)
    netnode.tcp(1.5 + skew, C, srv, ACK, seq=1001, ack=5001)
    netnode.tcp(1.52 + skew, srv, C, RST, seq=5001)
    client.tcp(1.72, srv, C, RST, seq=5001)
    est = clock_of({"client": client.records, "netnode": netnode.records})["netnode"]
    assert est.two_sided
    assert abs(est.offset_ns - skew * MS) <= est.uncertainty_ns
    most, least = est.limits
    assert most is not None and least is not None and least <= skew * MS <= most


@pytest.mark.parametrize("late_ms", [0.3, 0.9])
def test_a_late_client_stamp_leaves_the_reset_to_the_router(late_ms: float) -> None:
    """The incident with the client's SYN stamped late: by the bounds kept, the router was
    0.06 ± 0.02 ms behind the client (it agrees with it), which put the router's RST first at
    the client: 'the server reset the connection'. Every clock holds the truth, and the RST
    stays the router's."""
    points = incident(skew_ms=25.0).points()
    client = points["client"]
    client[0] = client[0]._replace(ts_ns=client[0].ts_ns + round(late_ms * MS))  # the SYN
    r = cross_point(points)
    for c in r.clock:
        truth = 25.0 * MS if c.point == "compute" else 0.0
        assert abs(c.offset_ns - truth) <= c.uncertainty_ns
    assert [f.kind for f in r.findings if f.root_cause] == ["asymmetric-nat",
                                                            "reset-not-from-server"]


def test_a_contradicting_bound_past_the_outlier_floor_is_dropped_outright() -> None:
    """Two lower bounds only (no median to hold a mangled one off), one a second past the
    rest: it is dropped without stretching the interval; one 0.5 ms past stretches it."""
    upper = np.array([7_200_000, 7_300_000], np.int64)
    mangled = clock._estimate_from("a", "b", upper, np.array([6_800_000, 1_006_800_000]),
                                   [], 4)
    assert mangled.limits == (7_200_000, 6_800_000)
    late = clock._estimate_from("a", "b", upper, np.array([6_800_000, 7_700_000]), [], 4)
    assert late.limits == (7_700_000, 6_800_000)


def _late_copies(skew_ms: float) -> dict[str, list[PacketRecord]]:
    """Two points on one link (a host's tap and its guest's eth0), each capturing ``-i any``:
    every packet reaches the other point 1 to 20 us after it left (the guest's data waits
    longest), and each point stamps every packet again on another interface 3 us after the
    first: sometimes when the other point has already seen it."""
    host, guest = Wire("host", "host.pcap"), Wire("guest", "guest.pcap")
    skew = {"host": 0.0, "guest": skew_ms}
    srv = "198.51.100.4:80"

    def send(t_ms: float, sender: Wire, receiver: Wire, flags: int, transit_us: float,
             length: int = 0) -> None:
        src, dst = (C, srv) if sender is host else (srv, C)
        for wire, t in ((sender, t_ms), (receiver, t_ms + transit_us / 1000)):
            rec = wire.tcp(t + skew[wire.point], src, dst, flags, seq=1 + round(t_ms * 1000),
                           ack=7, length=length, ifname="eth0")
            wire.copy(rec, 3.0, "any1")

    send(0.0, host, guest, SYN, 2.0)
    send(1.0, guest, host, SYN | ACK, 1.0)
    for i in range(3):
        send(2.0 + i, host, guest, ACK, 2.0)
        for k, transit in enumerate((5.0, 10.0, 15.0, 20.0)):
            send(2.1 + i + k / 10, guest, host, PSH | ACK, transit, length=100)
    return {w.point: sorted(w.records, key=lambda r: r.ts_ns) for w in (host, guest)}


@pytest.mark.parametrize("skew", [0.0, 0.03, -2.0])
def test_late_copies_keep_the_truth_and_the_order_of_points(skew: float) -> None:
    points = _late_copies(skew)
    guest = clock_of(points)["guest"]
    assert abs(guest.offset_ns - skew * MS) <= guest.uncertainty_ns
    paths = [p for p in cross_point(points).paths if len({h.point for h in p.hops}) == 2]
    assert len(paths) == 17
    for path in paths:
        first = path.hops[0]
        sender = "host" if str(first.src) == C else "guest"
        assert first.point == sender, path


@pytest.mark.parametrize("skew", [0.0, 0.5, -25.0])
@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_a_packet_that_went_round_a_namespace_and_back_bounds_both_ways(skew: float,
                                                                       text: bool) -> None:
    """A network node captured with ``-i any`` sees each packet before its router namespace
    NATs it and again after (host, router, router, host): both points saw both forms. Read
    as one way, such packets gave a bound past the truth by tens of µs on 3 of 18 lab runs
    (the host's copies on other interfaces move its first and last sightings apart). The
    router was reached after the host first saw the packet and left before the host last
    saw it: both bounds, from each packet."""
    net = Net(("netnode", "router"), {"router": skew}, text)
    req = [("netnode", C, FIP, "eth1"), ("netnode", C, FIP, "pe-1"), ("router", C, FIP, "qg-1"),
           ("router", C, VM, "qr-1"), ("netnode", C, VM, "pi-1"), ("netnode", C, VM, "eth0")]
    rep = [("netnode", VM, C, "eth0"), ("netnode", VM, C, "pi-1"), ("router", VM, C, "qr-1"),
           ("router", FIP, C, "qg-1"), ("netnode", FIP, C, "pe-1"), ("netnode", FIP, C, "eth1")]
    handshake(net, req, rep)
    router = clock_of(net.points())["router"]
    assert router.two_sided  # one way, before: ± 1 ms
    assert abs(router.offset_ns - skew * MS) <= router.uncertainty_ns <= 0.1 * MS


def test_one_way_evidence_only_is_uncertain() -> None:
    points = incident(text=True, skew_ms=25.0).points()
    del points["client"]  # router and compute share only the SYN: one direction
    c = clock_of(points)["compute"]
    assert abs(c.offset_ns - 25.0 * MS) < 1.0 * MS
    assert c.uncertainty_ns >= 1.0 * MS
    # NAT shows the SYN going router -> compute: compute is at most as far ahead as the
    # SYN's times say (the truth, with its transit, lies on that side)
    most, least = c.limits
    assert least is None and most is not None and 25.0 * MS <= most == c.offset_ns


def test_limits_chain_with_their_sides() -> None:
    """Along a chain of pairs the limits add up where every link knows that side; a link
    walked backwards swaps its sides."""
    pairs = [PairEstimate("a", "b", 5e6, 1e5, 10, True, (5.1e6, 4.9e6)),
             PairEstimate("c", "b", 2e6, 1e6, 3, False, (2e6, None))]
    got = {c.point: c for c in offsets(["a", "b", "c"], pairs)}
    assert got["b"].limits == (5.1e6, 4.9e6)
    # c - a = (b - a) - (b - c), with b - a in [4.9, 5.1] ms and b - c at most 2 ms
    assert got["c"].limits == (None, pytest.approx(2.9e6))


def test_every_chain_bounds_a_point_the_most_certain_chain_leaves_wide() -> None:
    """The recorded dual-l3 collect run's pairs (ms): compute tied to the client both ways
    but loosely (-24.3 ± 0.7), and one way to the router, which agrees with the client; the
    VM 25.00 ms ahead of compute, at most 0.4 ahead of the router. Together: compute between
    -25.01 and -24.56, the VM between -0.02 and 0.45, both ways (the truth: -25 and 0)."""
    ms = [PairEstimate("client", "router", -0.071 * MS, 0.123 * MS, 4, True,
                       (0.052 * MS, -0.195 * MS)),
          PairEstimate("client", "compute", -24.299 * MS, 0.715 * MS, 4, True,
                       (-23.584 * MS, -25.014 * MS)),
          PairEstimate("client", "vm", 0.678 * MS, 0.748 * MS, 4, True,
                       (1.426 * MS, -0.07 * MS)),
          PairEstimate("router", "compute", -24.614 * MS, 1.0 * MS, 2, False,
                       (-24.614 * MS, None)),
          PairEstimate("router", "vm", 0.396 * MS, 1.0 * MS, 2, False, (0.396 * MS, None)),
          PairEstimate("compute", "vm", 25.003 * MS, 0.006 * MS, 4, True,
                       (25.009 * MS, 24.997 * MS))]
    got = {c.point: c for c in offsets(["client", "router", "compute", "vm"], ms)}
    compute = got["compute"]
    assert compute.limits == (pytest.approx(-24.562 * MS), pytest.approx(-25.014 * MS))
    assert compute.offset_ns == pytest.approx(-24.788 * MS)
    assert compute.uncertainty_ns == pytest.approx(0.226 * MS)
    vm = got["vm"]  # 0.215 ± 0.232: within its uncertainty of zero, so zero (settled)
    assert vm.limits == (pytest.approx(0.447 * MS), pytest.approx(-0.017 * MS))
    assert vm.offset_ns == 0.0 and vm.two_sided
    for c in got.values():
        assert abs(c.offset_ns - {"compute": -25.0 * MS}.get(c.point, 0.0)) <= c.uncertainty_ns


def test_one_way_chains_together_bound_both_ways() -> None:
    """b is tied to a one way only (at most 3 ms ahead of it) and to c the other way (at
    least 1.5 ms ahead of it), c to a both ways: b's offset is the middle of what all allow,
    and tied both ways."""
    pairs = [PairEstimate("a", "b", 3e6, 1e6, 5, False, (3e6, None)),
             PairEstimate("a", "c", 1e6, 1e5, 5, True, (1.1e6, 0.9e6)),
             PairEstimate("c", "b", 1.5e6, 1e6, 5, False, (None, 1.5e6))]
    b = {c.point: c for c in offsets(["a", "b", "c"], pairs)}["b"]
    assert b.limits == (3e6, pytest.approx(2.4e6))
    assert b.offset_ns == pytest.approx(2.7e6) and b.uncertainty_ns == pytest.approx(0.3e6)
    assert b.two_sided


def test_an_estimate_is_held_within_every_chains_limit() -> None:
    """The most certain chain says b is 3 ms ahead (a median: which way its packets went is
    untold); another chain says at most 2.5: the estimate keeps to that limit, still one
    way."""
    pairs = [PairEstimate("a", "b", 3e6, 1e6, 5, False),
             PairEstimate("a", "c", 1e6, 1e5, 5, True, (1.1e6, 0.9e6)),
             PairEstimate("c", "b", 1.4e6, 1e6, 5, False, (1.4e6, None))]
    b = {c.point: c for c in offsets(["a", "b", "c"], pairs)}["b"]
    assert b.limits == (pytest.approx(2.5e6), None)
    assert b.offset_ns == pytest.approx(2.5e6) and b.uncertainty_ns == 1e6
    assert not b.two_sided


def test_contradicting_limits_leave_the_most_certain_chain() -> None:
    """Limits that cannot all hold (a cycle adds up below zero: a mangled time, a late
    stamp) bound nothing: each point keeps its most certain chain."""
    pairs = [PairEstimate("a", "b", 5e6, 1e5, 10, True, (5.1e6, 4.9e6)),
             PairEstimate("b", "c", 1e6, 1e5, 10, True, (1.1e6, 0.9e6)),
             PairEstimate("a", "c", 3e6, 2e6, 10, False, (3e6, None))]  # a -> c: at most 3
    got = {c.point: c for c in offsets(["a", "b", "c"], pairs)}
    assert got["c"].offset_ns == pytest.approx(6e6)
    assert got["c"].limits == (pytest.approx(6.2e6), pytest.approx(5.8e6))


def test_offsets_chain_through_an_intermediate_point() -> None:
    pairs = [PairEstimate("a", "b", 5e6, 1e5, 10, True),
             PairEstimate("b", "c", -2e6, 2e5, 10, True)]
    got = {c.point: c for c in offsets(["a", "b", "c", "d"], pairs)}
    assert got["c"].offset_ns == pytest.approx(3e6)
    assert got["c"].uncertainty_ns == pytest.approx(3e5)
    assert "d" not in got


def test_direct_pair_preferred_when_more_certain() -> None:
    pairs = [PairEstimate("a", "b", 5e6, 1e5, 10, True),
             PairEstimate("b", "c", -2e6, 2e5, 10, True),
             PairEstimate("a", "c", 3.1e6, 1e4, 4, True)]
    got = {c.point: c for c in offsets(["a", "b", "c"], pairs)}
    assert got["c"].offset_ns == pytest.approx(3.1e6)


def test_wording() -> None:
    c = ClockOffset("host5", "host1", -25.0e6, 0.4e6, 12)
    assert describe_offset(c) == "host5's clock is 25.0 ± 0.4 ms behind host1"
    c = ClockOffset("host5", "host1", 3.25e6, 0.01e6, 12)
    assert describe_offset(c) == "host5's clock is 3.250 ± 0.010 ms ahead of host1"
    c = ClockOffset("host5", "host1", 0.01e6, 0.02e6, 12)
    assert describe_offset(c) == "host5's clock agrees with host1 (within 0.020 ms)"
