"""Matches as columns (``Links``) make the tracks Match objects make: for every crosspoint
fixture scenario, the same tracks (sightings, confidence, order, numbers)."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from fixturekit import CAPTURES, SCENARIOS, fixture_table, scenario_points
from nettrail.analyze.anchors import anchor_indexes, coded_anchors
from nettrail.analyze.clock import _indexed_columns, offset_map
from nettrail.analyze.columns import column_ready, copy_free
from nettrail.analyze.correlate import fold_copies, strong_index, strong_pairs
from nettrail.analyze.crosspoint import _coded, _correlate
from nettrail.analyze.fold_rows import fold_columns
from nettrail.analyze.linked_convs import linked_conversations
from nettrail.analyze.tracks import (
    Track,
    build_conversations,
    build_tracks,
    linked_tracks,
    linked_tracks_firsts,
)
from nettrail.model.flow import Endpoint
from nettrail.model.rows import TableRows


def _shape(tracks: list[Track]) -> list[tuple[object, ...]]:
    return [(t.id, t.confidence, t.points, [(s.point, s.first_ns) for s in t.sightings])
            for t in tracks]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_linked_tracks_are_the_matched_tracks(scenario: str) -> None:
    data = scenario_points(scenario)
    points = {d.summary.name: list(d.table.records()) for d in data}
    tables = {d.summary.name: d.table for d in data}
    sightings, clock, _checks, matches, links = _correlate(points, None, tables, False)
    assert links is None
    by_matches = build_tracks(sightings, matches, offset_map(clock))
    sightings2, clock2, _checks, none, links = _correlate(points, None, tables, True)
    assert links is not None and not none and clock2 == clock
    by_links = linked_tracks(sightings2, links, offset_map(clock2))
    assert _shape(by_links) == _shape(by_matches)
    assert len(links.a) == len(matches) > 0


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_coded_anchors_are_the_indexed_anchors(scenario: str) -> None:
    """Anchors from strong key numbers are those read off the strong indexes: same
    sightings, same order, same keys left for matching in corrected time."""
    data = scenario_points(scenario)
    sightings = {d.summary.name: fold_copies(list(d.table.records())) for d in data}
    coded = _coded(sightings)
    assert coded is not None
    columns, keys = coded
    index = {p: strong_index(items) for p, items in sightings.items()}
    for a, b in combinations(sightings, 2):
        by_index = anchor_indexes(strong_pairs(index[a], index[b]))
        by_key = coded_anchors(columns[a], columns[b], keys)
        assert by_key.a.tolist() == by_index.a.tolist()
        assert by_key.b.tolist() == by_index.b.tolist()
        assert by_key.keyed.tolist() == by_index.keyed.tolist()
        assert [x.tolist() for x in by_key.left] == [x.tolist() for x in by_index.left]


def _anchor_pairs(path: Path) -> int | None:
    """How many pairs of points compared equal, with the capture read as two points (its
    packets seen at both), or None when its rows cannot be folded as columns; anchors from
    key numbers read off the columns (``fold_columns``) must be those from the sightings'
    keys."""
    tables = [fixture_table(path), fixture_table(path)]
    if not all(column_ready(t, TableRows(t)) and copy_free(t) for t in tables):
        return None
    sightings, folded = {}, {}
    endpoints: dict[tuple[str, int], Endpoint] = {}
    for name, table in zip("ab", tables, strict=True):
        sightings[name], folded[name] = fold_columns(TableRows(table), endpoints)
    by_columns = _coded(sightings, folded)
    by_sightings = _coded(sightings)
    assert (by_columns is None) == (by_sightings is None)
    if by_columns is None or by_sightings is None:
        return 0
    got = coded_anchors(by_columns[0]["a"], by_columns[0]["b"], by_columns[1])
    want = coded_anchors(by_sightings[0]["a"], by_sightings[0]["b"], by_sightings[1])
    assert got.a.tolist() == want.a.tolist() and got.b.tolist() == want.b.tolist()
    assert got.keyed.tolist() == want.keyed.tolist()
    assert [x.tolist() for x in got.left] == [x.tolist() for x in want.left]
    return len(got.a)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_anchors_from_folded_columns_are_the_coded_anchors(path: Path) -> None:
    _anchor_pairs(path)


def test_folded_columns_anchor_some_fixtures() -> None:
    """The comparison above is not empty: several fixtures give anchors that way."""
    assert sum(bool(_anchor_pairs(p)) for p in CAPTURES) >= 3


def _conversations(path: Path) -> int | None:
    """How many conversations compared equal, with the capture read as two points, or None
    when the links do not come as columns: conversations from the links
    (``linked_conversations``) must be those ``build_conversations`` makes of the tracks."""
    tables = {name: fixture_table(path) for name in "ab"}
    points = {name: TableRows(t) for name, t in tables.items()}
    sightings, clock, _checks, _none, links = _correlate(points, set(), tables, True)
    if links is None:
        return None
    tracks, firsts = linked_tracks_firsts(sightings, links, offset_map(clock))
    every = [s for items in sightings.values() for s in items]
    assert [t.first for t in tracks] == [every[i] for i in firsts.tolist()]
    got = linked_conversations(tracks, firsts, links)
    if got is None:
        return None
    want = build_conversations([t for t in tracks if t.first.proto not in (1, 58)])
    assert [(c.key, [t.id for t in c.tracks], sorted(c.clients)) for c in got] == [
        (c.key, [t.id for t in c.tracks], sorted(c.clients)) for c in want]
    return len(want)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_linked_conversations_are_the_built_conversations(path: Path) -> None:
    _conversations(path)


def test_linked_conversations_compare_some_fixtures() -> None:
    """The comparison above is not empty: several fixtures have conversations that way."""
    assert sum(bool(_conversations(p)) for p in CAPTURES) >= 3


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bounds_of_sightings_seen_once_are_their_mids(path: Path) -> None:
    """Where ``fold_columns`` gives one array for first and last copies (every sighting
    seen once), the clock samples taken from them are those taken from two arrays."""
    tables = [fixture_table(path), fixture_table(path)]
    if not all(column_ready(t, TableRows(t)) and copy_free(t) for t in tables):
        return
    endpoints: dict[tuple[str, int], Endpoint] = {}
    ca, cb = (fold_columns(TableRows(t), endpoints)[1].columns for t in tables)
    assert (ca.last is ca.first) == bool(ca.single.all())
    n = len(ca.first)
    rng = np.random.default_rng(n)
    ia, ib = rng.integers(0, n, n), rng.permutation(n)
    got = _indexed_columns(ca, cb, ia, ib)
    two = [replace(c, last=c.last.copy()) for c in (ca, cb)]
    want = _indexed_columns(two[0], two[1], ia, ib)
    for name in ("side", "causal", "fwd", "rev", "mid"):
        assert getattr(got, name).tolist() == getattr(want, name).tolist(), name
