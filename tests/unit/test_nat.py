"""NAT translations inferred from packets followed across points."""

from __future__ import annotations

import pytest

from crosskit import FIP, VM, C, incident
from nettrail.analyze.crosspoint import cross_point
from nettrail.analyze.nat import describe_translation
from nettrail.model.flow import Endpoint


def ep(text: str) -> Endpoint:
    addr, port = text.rsplit(":", 1)
    return Endpoint(addr, int(port))


@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_incident_request_and_reply_translated_in_different_places(text: bool) -> None:
    r = cross_point(incident(text=text, skew_ms=-20.0).points())
    got = {(t.kind, t.leg, t.before, t.after, t.at) for t in r.nat}
    assert got == {("dnat", "request", ep(FIP), ep(VM), "router"),
                   ("snat", "reply", ep(VM), ep(FIP), "compute")}
    assert all(t.connection is not None and ep(C) in t.connection for t in r.nat)


@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_healthy_translations_all_at_the_router(text: bool) -> None:
    r = cross_point(incident(healthy=True, text=text).points())
    got = {(t.kind, t.leg, t.before, t.after, t.at): t.packets for t in r.nat}
    assert got == {("dnat", "request", ep(FIP), ep(VM), "router"): 6,
                   ("snat", "reply", ep(VM), ep(FIP), "router"): 4}


def test_translation_between_points_has_no_owner() -> None:
    points = incident(healthy=True).points()
    points["router"] = [r for r in points["router"] if r.ifname != "qr-1"]  # outside only
    r = cross_point(points)
    dnat = next(t for t in r.nat if t.kind == "dnat")
    assert (dnat.from_point, dnat.to_point, dnat.at) == ("router", "compute", None)
    assert describe_translation(dnat) == ("dnat of the request 203.0.113.10:22 -> "
                                          "198.51.100.4:22 between router and compute "
                                          "(6 packets)")
    assert not [f for f in r.findings if f.root_cause]


def test_route_cache_gives_each_track_its_own_rewrites() -> None:
    """Tracks seen once per point share their rewrites by route and forms: every track of
    the recorded scenarios gets from a memo what it would get alone (without one)."""
    from fixturekit import SCENARIOS, scenario_points
    from nettrail.analyze import nat
    from nettrail.analyze.clock import offset_map
    from nettrail.analyze.crosspoint import correlate
    from nettrail.analyze.tracks import build_tracks

    checked = 0
    for scenario in SCENARIOS:
        data = scenario_points(scenario)
        sightings, clock, matches = correlate({d.summary.name: list(d.table.records())
                                               for d in data})
        tracks = build_tracks(sightings, matches, offset_map(clock))
        memo: dict[tuple[object, ...], object] = {}
        shared = [nat.track_translations(t, memo) for t in tracks]
        assert len(memo) < len(tracks)  # some tracks did share
        for t, got in zip(tracks, shared, strict=True):
            assert list(got) == list(nat.track_translations(t))
            checked += bool(got)
    assert checked > 0
