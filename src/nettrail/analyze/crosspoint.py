"""Cross-point analysis: follow packets between capture points and explain the failure.

Steps: fold each point's copies of one packet into sightings; match sightings between every
pair of points on unambiguous invariants (anchors); estimate the clocks from the anchors; match
again in corrected time (retransmissions, text without seq numbers); join matches into tracks
(one packet, point by point) and tracks into conversations; read NAT translations off the
tracks; run the detectors; write the diagnosis.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import accumulate, chain, combinations
from operator import attrgetter
from typing import TypeGuard

import numpy as np

from nettrail.analyze.anchors import (
    Anchors,
    Ends,
    Links,
    PointColumns,
    anchor_indexes,
    coded_anchors,
    full_links,
    key_counts,
    key_numbers,
    point_columns,
    with_sent_again,
)
from nettrail.analyze.clock import (
    PairEstimate,
    estimate_indexed,
    estimate_pair,
    offset_map,
    offsets,
)
from nettrail.analyze.clockprobe import HostClock, with_probes
from nettrail.analyze.columns import column_ready, copy_free, hashed_groups
from nettrail.analyze.correlate import (
    MATCH_TOLERANCE_NS,
    Form,
    Match,
    Sighting,
    StrongPairs,
    fold_copies,
    match_points,
    strong_index,
    strong_pairs,
)
from nettrail.analyze.diagnose import (
    FLAGS,
    SEQ,
    Context,
    Failure,
    context_from_names,
    diagnose,
    failures,
    stalled,
)
from nettrail.analyze.doubt import absent_at, capture_dropped, doubted, one_way
from nettrail.analyze.findings_host import RESET_INJECTED, host_findings
from nettrail.analyze.findings_loss import lost_between_points, mtu_blackhole
from nettrail.analyze.findings_nat import (
    asymmetric_nat,
    clock_findings,
    clock_unknown,
    multi_interface_copies,
)
from nettrail.analyze.findings_reset import (
    RESET_NOT_FROM_SERVER,
    reset_findings,
    resets_from_their_sender,
)
from nettrail.analyze.flows import FAILED, gc_paused
from nettrail.analyze.focus import InFocus
from nettrail.analyze.fold_rows import FoldedColumns, V4Forms, fold_columns
from nettrail.analyze.linked_convs import linked_conversations
from nettrail.analyze.nat import infer_translations
from nettrail.analyze.one_side import FAILED_BY_SIDE, ONE_WAY_CAPTURE, one_way_capture
from nettrail.analyze.plain import column_spans, split_plain
from nettrail.analyze.row_sightings import LazySightings, build_records
from nettrail.analyze.timing import trusted_times, unknown_clocks
from nettrail.analyze.tracks import (
    Conversation,
    PointSpan,
    Track,
    build_conversations,
    build_tracks,
    hops,
    linked_tracks_firsts,
    spans,
)
from nettrail.model.analysis import ClockCheck, ClockOffset, Diagnosis, NatTranslation, PacketPath
from nettrail.model.arrays import Ints
from nettrail.model.finding import Finding, Severity
from nettrail.model.flow import Connection, Endpoint, Focus, address_of
from nettrail.model.packet import PROTO_ICMP, PROTO_ICMPV6, RST, ICMPHeader, PacketRecord
from nettrail.model.rows import TableRows
from nettrail.model.table import PacketTable

MAX_PATHS = 100_000
_IFNAME = attrgetter("ifname")
_NETNS = attrgetter("netns")
_FIRST_NS = attrgetter("first_ns")
_LAST_NS = attrgetter("last_ns")


@dataclass(frozen=True)
class CrossPointResult:
    """What cross-point analysis found: clocks, translations, packet paths, findings, diagnosis.

    Every time in ``paths`` and in the findings' evidence is in the first point's clock.
    """

    clock: tuple[ClockOffset, ...]
    nat: tuple[NatTranslation, ...]
    paths: tuple[PacketPath, ...]
    findings: tuple[Finding, ...]
    diagnosis: Diagnosis | None
    clock_checks: tuple[ClockCheck, ...] = ()
    in_focus: InFocus | None = None
    """The connections reported, when a focus was given."""


def correlate(points: Mapping[str, Sequence[PacketRecord]], untimed: set[str] | None = None,
              tables: Mapping[str, PacketTable] | None = None,
              ) -> tuple[dict[str, list[Sighting]], tuple[ClockOffset, ...], list[Match]]:
    """Sightings per point, clock offsets against the first point, and all matches.
    ``untimed``: the points with a record whose time is not usable (found when not given);
    ``tables``: the points' packet tables, when their records are the tables' rows."""
    sightings, clock, _checks, matches, _links = _correlate(
        points, untimed, _ready(points, tables), False)
    return {p: list(items) for p, items in sightings.items()}, clock, matches


def _correlate(points: Mapping[str, Sequence[PacketRecord]], untimed: set[str] | None,
               tables: Mapping[str, PacketTable], as_links: bool,
               clocks: Mapping[str, HostClock] | None = None,
               ) -> tuple[dict[str, Sequence[Sighting]], tuple[ClockOffset, ...],
                          tuple[ClockCheck, ...], list[Match], Links | None]:
    """``correlate``, with the checks of ``clocks`` (the points' clocks measured apart from
    the packets) against the packets' clocks: the clocks returned, and those the matching in
    corrected time uses, take them where the packets give none or agree
    (``clockprobe.with_probes``).
    With ``as_links``, when every pair of points matched on strong keys
    with usable times, the matches come as columns (``Links``, numbered as ``build_tracks``
    numbers the sightings: point after point) and the Match list is empty. ``tables``: the
    points whose records are their table's rows and can be read as columns (``_ready``)."""
    names = list(points)
    endpoints: dict[tuple[str, int], Endpoint] = {}
    forms: dict[tuple[str, int, str, int], Form] = {}  # shared by the points, as endpoints
    v4_forms = V4Forms()
    sightings: dict[str, Sequence[Sighting]] = {}
    folded: dict[str, FoldedColumns] = {}
    for p in names:
        sightings[p], as_columns = _folded(points[p], endpoints, tables.get(p), forms,
                                           v4_forms)
        if as_columns is not None:
            folded[p] = as_columns
    del forms, v4_forms
    if untimed is None:
        untimed = _untimed(points)
    estimates: list[PairEstimate] = []
    anchors: dict[tuple[str, str], Anchors] = {}
    every_pair = list(combinations(names, 2))
    coded = _coded(sightings, folded, list(endpoints.values())) if as_links and not untimed \
        else None
    del folded, endpoints
    if coded is not None:  # strong keys only, every time usable: no strong index needed
        columns, keys = coded
        counts = {p: key_counts(columns[p], keys) for p in names}
        pairs: dict[tuple[str, str], StrongPairs] = {}
        for a, b in every_pair:
            got = anchors[(a, b)] = coded_anchors(columns[a], columns[b], keys,
                                                  (counts[a], counts[b]))
            est = estimate_indexed(a, b, columns[a], columns[b],
                                   *with_sent_again(columns[a], columns[b], got))
            if est is not None:
                estimates.append(est)
    else:
        index = {p: strong_index(sightings[p]) for p in names}
        pairs = {(a, b): strong_pairs(index[a], index[b]) for a, b in every_pair}
        del index
        columns = {}
        for a, b in every_pair:
            if not pairs[(a, b)][1] and a not in untimed and b not in untimed:
                # strong keys only, every time usable: the anchors as columns
                for p in (a, b):
                    if p not in columns:
                        columns[p] = point_columns(sightings[p])
                got = anchors[(a, b)] = anchor_indexes(pairs[(a, b)])
                est = estimate_indexed(a, b, columns[a], columns[b],
                                       *with_sent_again(columns[a], columns[b], got))
                if est is not None:
                    estimates.append(est)
                continue
            found = match_points(sightings[a], sightings[b], pairs=pairs[(a, b)])
            if a in untimed or b in untimed:
                found = [m for m in found if _time_ok(m.a) and _time_ok(m.b)]
            est = estimate_pair(a, b, found)
            del found
            if est is not None:
                estimates.append(est)
    clock = offsets(names, estimates)
    checks: tuple[ClockCheck, ...] = ()
    if clocks:
        clock, checks = with_probes(names, clocks, clock)
    off = offset_map(clock)
    unc = {c.point: c.uncertainty_ns for c in clock}
    matches: list[Match] = []
    linked = as_links and len(anchors) == len(every_pair)
    parts: list[Links] = []
    base = dict(zip(names, accumulate((len(sightings[p]) for p in names), initial=0),
                    strict=False))
    for a, b in combinations(names, 2):
        offset_ba = off.get(b, 0.0) - off.get(a, 0.0)
        tol = MATCH_TOLERANCE_NS + unc.get(a, 0.0) + unc.get(b, 0.0)
        if linked:
            link = full_links(columns[a], columns[b], anchors.pop((a, b)), offset_ba, tol)
            parts.append(Links(link.a + base[a], link.b + base[b], link.confidence))
            continue
        matches.extend(match_points(sightings[a], sightings[b], offset_ba, tol,
                                    pairs=pairs.pop((a, b))))
    del anchors, pairs
    if not linked:
        return sightings, clock, checks, matches, None
    known = tuple(columns[p] for p in names if p in columns and columns[p].proto is not None)
    return sightings, clock, checks, matches, Links(
        np.concatenate([x.a for x in parts]) if parts else np.zeros(0, np.int64),
        np.concatenate([x.b for x in parts]) if parts else np.zeros(0, np.int64),
        np.concatenate([x.confidence for x in parts]) if parts else np.zeros(0, np.float64),
        known if len(known) == len(names) else ())


def _folded(records: Sequence[PacketRecord], endpoints: dict[tuple[str, int], Endpoint],
            table: PacketTable | None, forms: dict[tuple[str, int, str, int], Form],
            v4_forms: V4Forms,
            ) -> tuple[Sequence[Sighting], FoldedColumns | None]:
    """``fold_copies`` of one point's records (``table``: its table, when the records are its
    rows readable as columns): a table's rows with no TCP copy among them are read as
    columns, their records built only when asked for (``fold_columns``, whose columns come
    too). ``endpoints``, ``forms`` and ``v4_forms`` are shared by the points."""
    free = table is not None and copy_free(table)
    if free and isinstance(records, TableRows):
        return fold_columns(records, endpoints, forms, v4_forms)
    return fold_copies(records, endpoints, free, forms), None


def _coded(sightings: Mapping[str, Sequence[Sighting]],
           folded: Mapping[str, FoldedColumns] | None = None,
           made: Sequence[Endpoint] = ()) -> tuple[dict[str, PointColumns], int] | None:
    """Every point's columns with their strong key numbers, and how many keys there are; None
    when a sighting lacks a strong key (weak matching is needed). ``folded``: the points'
    columns as ``fold_columns`` read them (used when every point has them); ``made``: the
    endpoints the points' forms were made of (``Ends.of``)."""
    if folded is not None and len(folded) == len(sightings) and len(sightings):
        return _coded_columns([folded[p] for p in sightings], list(sightings), made)
    numbers: dict[tuple[object, ...], int] = {}
    columns = {}
    for p, items in sightings.items():
        key = key_numbers(items, numbers)
        if key is None:
            return None
        columns[p] = point_columns(items, key)
    return columns, len(numbers)


def _coded_columns(folded: Sequence[FoldedColumns], names: Sequence[str],
                   made: Sequence[Endpoint] = ()) -> tuple[dict[str, PointColumns], int] | None:
    """``_coded`` of points folded as columns: the packed keys numbered all at once."""
    keys = [f.key for f in folded]
    if any(k is None for k in keys):
        return None
    parts = key_columns([k for k in keys if k is not None])
    numbers = hashed_groups(*parts)[0]  # any numbering: only equality is read
    cuts = np.cumsum([len(f.columns.first) for f in folded])[:-1]
    ends = Ends.of(list(chain.from_iterable(f.columns.forms for f in folded)), made)  # once
    at = [0, *accumulate(len(f.columns.forms) for f in folded)]
    columns = {p: replace(f.columns, key=key, ends=ends.part(at[i], at[i + 1]))
               for i, (p, f, key) in enumerate(zip(names, folded, np.split(numbers, cuts),
                                                   strict=True))}
    return columns, int(numbers.max()) + 1 if len(numbers) else 0


def key_columns(keys: Sequence[tuple[Ints, Ints, Ints]]) -> list[Ints]:
    """The points' packed keys (protocol and two numbers, ``FoldedColumns.key``) one point
    after the other, as the columns whose rows are equal exactly where the keys are: the
    protocol left out when every key has the same one (TCP, as a rule)."""
    proto = keys[0][0] if keys else np.zeros(0, np.int64)
    same = all(len(k[0]) and int(k[0].min()) == int(k[0].max()) == int(proto[0])
               for k in keys)
    return [np.concatenate([k[j] for k in keys]) for j in ((1, 2) if same else (0, 1, 2))]


def _ready(points: Mapping[str, Sequence[PacketRecord]],
           tables: Mapping[str, PacketTable] | None) -> dict[str, PacketTable]:
    """The tables of the points whose records are the table's rows, readable as columns
    (``columns.column_ready``)."""
    return {p: t for p, t in (tables or {}).items() if p in points
            and column_ready(t, points[p])}


def _untimed(points: Mapping[str, Sequence[PacketRecord]]) -> set[str]:
    """The points with a record whose time is not usable (the others need no check)."""
    return {p for p, recs in points.items()
            if not _binary(recs) and not all(r.time_ok for r in recs)}


def _binary(records: Sequence[PacketRecord]) -> TypeGuard[TableRows]:
    """True when ``records`` are a table's rows (``TableRows``) none of which is from text:
    every time is usable and needs no repair, and the columns tell the interfaces."""
    return isinstance(records, TableRows) and records.binary()


def _time_ok(s: Sighting) -> bool:
    """True when every copy of the sighting has a usable timestamp."""
    return s.record.time_ok if s.single else all(r.time_ok for r in s.records)


def cross_point(points: Mapping[str, Sequence[PacketRecord]],
                connections: Sequence[Connection] = (),
                tables: Mapping[str, PacketTable] | None = None,
                paths: bool = True,
                clocks: Mapping[str, HostClock] | None = None,
                dropped: Mapping[str, int] | None = None,
                focus: Focus | None = None) -> CrossPointResult:
    """Analyze captures from several points; the first point's clock is the reference.

    ``connections`` (per-point single-point results) tell which connections failed, for an
    "inconclusive" diagnosis when the packets cannot show why; the decisions come from the
    packets alone. ``tables``: the points' packet tables, when their records are the tables'
    rows in order (some steps then read columns instead of records). ``paths``: False when
    no packet path is wanted (the result's are then empty; nothing else changes).
    ``clocks``: the points' clocks as measured apart from the packets, by point (a collect
    run's SSH probes, the one kernel of a trace: ``analyze/clockprobe.py``). ``dropped``: the
    points whose captures say they lost packets, with how many. ``focus``: the connections
    to report (``analyze.focus``), followed through NAT; the others are matched all the same
    (for the clocks and the translations) but not reported nor diagnosed.
    """
    with gc_paused():  # millions of small acyclic objects: scanning them costs more than the work
        points = {p: recs if _binary(recs) else trusted_times(list(recs))
                  for p, recs in points.items()}
        untimed = _untimed(points)
        ready = _ready(points, tables)
        sightings, clock, checks, matches, links = _correlate(points, untimed, ready, True,
                                                              clocks)
        unknown = unknown_clocks(list(points), clock, _span_ns(sightings, untimed, links))
        off = offset_map(clock)
        split = None if links is None or paths else split_plain(sightings, links, off)
        tracks: Sequence[Track] = ()
        point_spans = None
        if split is not None:  # no paths wanted: the plain conversations stay columns
            convs, nat = split.convs, split.nat
            assert links is not None
            point_spans = column_spans(links.columns, list(sightings), off)
        else:
            tracks, convs = _tracks(sightings, matches, links, off)
            nat = infer_translations(convs)
        del links, matches
        build_records(_read_by_resets(convs))  # in bulk: a row at a time costs more
        timeless = {p for p in untimed if not any(r.time_ok for r in points[p])}
        blind = _blind(points)
        two_way = split is not None and split.two_way
        findings = detect(sightings, convs, nat, clock, _points_with_copies(connections),
                          unknown, point_spans, dropped, two_way=two_way,
                          unlinked=_unlinked(blind, timeless, len(points)))
        if len(points) > 1 and len(timeless) == len(points):  # tcpdump -t at every point
            findings = [_unordered(f) for f in findings]
        sent = {k for conv in convs for k in resets_from_their_sender(conv)}
        host = _not_repeated([f for p, recs in points.items()
                              for f in host_findings(p, recs, ready.get(p))], findings, sent)
        findings = [f for f in findings if f.root_cause] + host + [
            f for f in findings if not f.root_cause]
        in_focus = None
        if focus is not None:
            in_focus = InFocus(focus, convs, nat)
            findings = in_focus.findings(findings)
            nat = tuple(t for t in nat if in_focus.flow(t.connection))
            connections = [c for c in connections if in_focus.connection(c)]
            tracks = [t for t in tracks if in_focus.flow(t.connection)]
        ctx = _context(points)
        # the failed connections matter only when no finding is a root cause
        failed = () if any(f.root_cause for f in findings) else failures(connections,
                                                                          list(points))
        if failed and not two_way:
            failed, notes = _seen_one_way(failed, convs, findings, connections)
            findings += notes
        del sightings, convs
        kept = _kept(tracks, findings) if paths else ()
        del tracks  # the packets whose paths are not kept go before the paths are built
        reported = tuple(c for c in clock if c.point not in unknown)
        return CrossPointResult(reported, nat, _paths(kept), tuple(findings),
                                diagnose(findings, ctx, failed, blind), checks, in_focus)


def _seen_one_way(failed: Sequence[Failure], convs: Sequence[Conversation],
                  findings: Sequence[Finding], connections: Sequence[Connection],
                  ) -> tuple[list[Failure], list[Finding]]:
    """``failed`` without the handshakes that failed only in the view of a capture proven to
    show one direction (``doubt.one_way``): a SYN unanswered where only the client's packets
    show, a SYN-ACK unacknowledged where only the server's do; and a note for each such
    point not noted among ``findings`` yet, with how many it hid that no other point shows
    going well either (``failed``: of those, whether they were answered is not known)."""
    one_sided = {p: w for p, w in one_way(convs, {f.connection.point for f in failed}).items()
                 if w.proven}
    well = {c.client for c in connections if c.outcome not in FAILED and not stalled(c)}
    kept, hidden = [], Counter[str]()
    used = set()
    for f in failed:
        point = f.connection.point
        if point in one_sided and f.connection.outcome in \
                FAILED_BY_SIDE[one_sided[point].direction]:
            used.add(point)
            hidden[point] += f.connection.client not in well
        else:
            kept.append(f)
    noted = {f.details.get("point") for f in findings if f.kind == ONE_WAY_CAPTURE}
    return kept, [one_way_capture(p, one_sided[p].direction, hidden[p])
                  for p in sorted(used - noted)]


def _tracks(sightings: Mapping[str, Sequence[Sighting]], matches: list[Match],
            links: Links | None, offsets: Mapping[str, float],
            ) -> tuple[list[Track], list[Conversation]]:
    """Every packet's track (from ``links`` when given, else from ``matches``) and the
    conversations of those that are not ICMP."""
    convs = None
    if links is not None:
        tracks, firsts = linked_tracks_firsts(sightings, links, offsets)
        convs = linked_conversations(tracks, firsts, links)
    else:
        tracks = build_tracks(sightings, _drained(matches), offsets)
    if convs is None:
        convs = build_conversations([t for t in tracks if t.first.proto != PROTO_ICMP
                                     and t.first.proto != PROTO_ICMPV6])
    return tracks, convs


def _read_by_resets(convs: Sequence[Conversation]) -> Iterator[Sighting]:
    """The sightings whose records the reset findings read: in each conversation with a
    RST, every sighting of its RSTs and the first of each other packet."""
    for conv in convs:
        if any(t.flags & RST for t in conv.tracks):
            for t in conv.tracks:
                yield from t.sightings if t.flags & RST else (t.first,)


def _blind(points: Mapping[str, Sequence[PacketRecord]]) -> dict[str, tuple[str, ...]]:
    """The TCP fields each point's packets all lack (``FLAGS``: text printed with ``-q``, a
    real capture always has SYNs or ACKs among them, and a binary one has the flags of every
    packet, none set included, as has a text that printed a seq; ``SEQ``: text with its
    sequence numbers stripped, or ``-q``); points that lack none are left out."""
    out = {}
    for p, recs in points.items():
        seen_tcp = flags = seq = False
        for r in recs:  # stops once both are seen: in a real capture, at the first packet
            tcp = r.tcp
            if tcp is not None:
                seen_tcp = True
                # text has none (-q), but printed "Flags [none]" where it has a seq
                flags = flags or bool(tcp.flags) or r.linktype >= 0 or tcp.seq is not None
                seq = seq or tcp.seq is not None
                if flags and seq:
                    break
        lacks = (() if flags else (FLAGS,)) + (() if seq else (SEQ,))
        if seen_tcp and lacks:
            out[p] = lacks
    return out


def _not_repeated(host: list[Finding], findings: Sequence[Finding],
                  sent: set[tuple[str, str, int]]) -> list[Finding]:
    """Host findings, without the injected resets cross-point analysis already traced to the
    device that made them (``reset-not-from-server`` for the same address) or saw leave their
    claimed sender (``sent``: the RST sightings of ``resets_from_their_sender``)."""
    traced = {address_of(f.details.get("address", "")) for f in findings
              if f.kind == RESET_NOT_FROM_SERVER}
    return [f for f in host
            if not (f.kind == RESET_INJECTED and (f.details.get("address") in traced or (
                f.evidence and (f.evidence[-1].point, f.evidence[-1].file,
                                f.evidence[-1].frame) in sent)))]


def _span_ns(sightings: Mapping[str, Sequence[Sighting]], untimed: set[str],
             links: Links | None = None) -> dict[str, int]:
    """How long each point captured (its first to its last packet with a usable time);
    ``untimed``: the points with a record whose time is not usable; ``links``: the matches
    as columns, when they come with every point's columns (read instead of the sightings)."""
    if links is not None and len(links.columns) == len(sightings) and not untimed:
        return {p: int(c.last.max()) - int(c.first.min()) if len(c.first) else 0
                for p, c in zip(sightings, links.columns, strict=True)}
    out = {}
    for p, items in sightings.items():
        timed = [s for s in items if _time_ok(s)] if p in untimed else items
        out[p] = max(map(_LAST_NS, timed)) - min(map(_FIRST_NS, timed)) if timed else 0
    return out


def _drained(matches: list[Match]) -> Iterator[Match]:
    """The matches, each released as soon as it is read (tracks do not depend on their
    order), so they do not outlive their use."""
    while matches:
        yield matches.pop()


def _points_with_copies(connections: Sequence[Connection]) -> set[str]:
    """Points whose single-point analysis already counted (and noted) multi-interface copies."""
    return {c.point for c in connections if c.copies}


def detect(sightings: Mapping[str, Sequence[Sighting]], convs: Sequence[Conversation],
           nat: Sequence[NatTranslation], clock: Sequence[ClockOffset],
           copies_noted: set[str] | frozenset[str] = frozenset(),
           unknown: Mapping[str, str] | None = None,
           point_spans: Mapping[str, PointSpan] | None = None,
           dropped: Mapping[str, int] | None = None, two_way: bool = False,
           unlinked: frozenset[str] = frozenset()) -> list[Finding]:
    """Every cross-point finding: root causes first, then notes (copies are noted once per
    point, unless single-point analysis did it already: ``copies_noted``). ``point_spans``:
    the points' ``spans``, when known; ``dropped``: the points whose captures say they lost
    packets, and how many (``doubt.doubted``); ``two_way``: every point is known to show
    both directions (a conversation ``convs`` leaves out showed them everywhere);
    ``unlinked``: the points whose packets carry no TCP flags (tcpdump -q): a packet seen
    only there is no evidence, and one missing there proves nothing. The
    sightings ``LazySightings`` makes when asked (TCP rows seen once) are neither ICMP nor
    copies, and are not looked at."""
    if point_spans is None:
        point_spans = spans(sightings)
    uncertain = {c.point: c.uncertainty_ns for c in clock}
    frag = [s for items in sightings.values() for s in _made(items)
            if (s.proto == PROTO_ICMP or s.proto == PROTO_ICMPV6)
            and isinstance(s.records[0].l4, ICMPHeader) and s.records[0].l4.is_frag_needed]
    by_conn: dict[object, list[NatTranslation]] = defaultdict(list)
    for t in nat:
        by_conn[t.connection].append(t)
    roots: list[Finding] = []
    if unlinked:  # their packets are no evidence; translations seen there are not judged
        convs = [c for c in (_linked_only(c, unlinked) for c in convs) if c is not None]
        by_conn = {k: [t for t in ts if t.at not in unlinked] for k, ts in by_conn.items()}
    for conv in convs:
        conv_nat = by_conn.get(conv.key, [])
        asym = asymmetric_nat(conv, conv_nat, point_spans) if conv_nat else None
        if asym is not None:
            roots.append(asym)
        roots.extend(reset_findings(conv, conv_nat, point_spans, uncertain))
        blackhole, stuck = mtu_blackhole(conv, point_spans, frag)
        if blackhole is not None:
            roots.append(blackhole)
        # Replies that took another path (asymmetric NAT) are not lost on the request's path.
        directions = ("c2s",) if asym is not None else ("c2s", "s2c")
        roots.extend(lost_between_points(conv, point_spans, stuck, directions))
    unknown = unknown or {}
    notes = clock_findings([c for c in clock if c.point not in unknown])
    absent = {p for f in roots for p in absent_at(f)}
    one_sided = one_way(convs, absent) if absent and not two_way else {}
    if dropped or one_sided or unlinked:
        roots = [doubted(f, dropped or {}, one_sided, unlinked) for f in roots]
        notes += [capture_dropped(p, n) for p, n in (dropped or {}).items()]
        used = {p for f in roots for p in f.details.get("one_way", "").split(", ")}
        notes += [one_way_capture(p, w.direction) for p, w in one_sided.items() if p in used]
    ref = next(iter(sightings), "")
    notes.extend(clock_unknown(p, ref, why) for p, why in unknown.items())
    for point, items in sightings.items():
        if point in copies_noted:
            continue
        copy = multi_interface_copies(point, _made(items))
        if copy is not None:
            notes.append(copy)
    return roots + notes


def _unlinked(blind: Mapping[str, Sequence[str]], timeless: set[str],
              n_points: int) -> frozenset[str]:
    """The points whose packets carry no TCP flags (tcpdump -q) or no usable time at all
    (``timeless``: tcpdump -t), when others carry both: their packets are matched with the
    others' on less (addresses and ports; no time to order them by), a reply there may
    stand apart from the same reply elsewhere, and where it stood first is not known.
    (Where no point has them, all are matched alike.) ``blind``: ``_blind`` of the points,
    ``n_points`` how many there are."""
    found = timeless | {p for p, lacks in blind.items() if FLAGS in lacks}
    return frozenset(found) if len(found) < n_points else frozenset()


def _unordered(f: Finding) -> Finding:
    """``f`` from captures none of which has a usable time: no longer a root cause, since
    which point saw a packet first, and so where it stopped or began, is not known."""
    if not f.root_cause:
        return f
    return replace(f, root_cause=False, severity=Severity.WARNING,
                   summary=f"{f.summary}; but no capture has usable times (tcpdump -t), so "
                           "the order the packets passed the points is not known",
                   details={**f.details, "untimed": "all"})


def _linked_only(conv: Conversation, unlinked: frozenset[str]) -> Conversation | None:
    """``conv`` as the points not ``unlinked`` saw it (None when they saw none of it)."""
    if not any(p in unlinked for t in conv.tracks for p in t.points):
        return conv
    kept = []
    for t in conv.tracks:
        seen = [s for s in t.sightings if s.point not in unlinked]
        if len(seen) == len(t.sightings):
            kept.append(t)
        elif seen:
            track = Track(seen, t.confidence, ordered=True)
            track.id = t.id
            kept.append(track)
    return Conversation(kept) if kept else None


def _made(items: Sequence[Sighting]) -> Iterable[Sighting]:
    """The sightings that can be ICMP or hold several copies: all of them, unless ``items``
    makes them when asked (then those it made at once)."""
    return items.others() if isinstance(items, LazySightings) else items


def _context(points: Mapping[str, Sequence[PacketRecord]]) -> Context:
    names: set[str | None] = set(points)
    for records in points.values():
        if _binary(records):
            names.update(records.names())
            continue
        names.update(map(_IFNAME, records))
        names.update(map(_NETNS, records))
    return context_from_names(n for n in names if n)


def _kept(tracks: Sequence[Track], findings: Sequence[Finding]) -> Sequence[Track]:
    """The tracks whose paths are reported: every one; beyond MAX_PATHS, those of connections
    with findings first, then packets seen at several points, then the rest in time order."""
    if len(tracks) <= MAX_PATHS:
        return tracks
    flagged = {f.connection for f in findings if f.connection is not None}
    # rank: connections with findings first, then packets seen at several points; by id
    # within a rank (tracks are in id order)
    ranks = bytes((t.connection not in flagged) * 2 + (len(t.sightings) < 2) for t in tracks)
    room = MAX_PATHS
    quota = [0, 0, 0, 0]
    for rank in range(4):
        quota[rank] = min(room, ranks.count(rank))
        room -= quota[rank]
    kept = []
    for t, rank in zip(tracks, ranks, strict=True):
        if quota[rank]:
            quota[rank] -= 1
            kept.append(t)
    return kept


def _paths(tracks: Sequence[Track]) -> tuple[PacketPath, ...]:
    """The paths of ``tracks``, in their order."""
    build_records(s for t in tracks for s in t.sightings)
    out = []
    for t in tracks:
        if len(t.sightings) == 1:
            hop_list = hops(t.first)
        else:
            hop_list = [h for s in t.sightings for h in hops(s)]
        out.append(PacketPath(t.id, tuple(hop_list), t.confidence, t.connection))
    return tuple(out)
