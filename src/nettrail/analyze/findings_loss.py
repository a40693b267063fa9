"""Where packets stop: loss between two points, and MTU black holes.

A connection's packets in one direction pass a known sequence of points (its *route*, learned
from the packet that reached the most points, or the reverse of the other direction's). A packet
seen at the first few points of that route and never at the next one, while the next one was
capturing, stopped between them. When every transmission of it stopped there, it is lost for
good. When the packets that stop are exactly the full-size ones, retransmitted, no ICMP
"fragmentation needed" reached the sender and smaller packets pass, it is an MTU black hole.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence

from nettrail.analyze.correlate import Sighting
from nettrail.analyze.findings_reset import packet_name
from nettrail.analyze.icmp_tie import about
from nettrail.analyze.tracks import Conversation, PointSpan, Track, evidence
from nettrail.model.finding import Evidence, Finding, Severity
from nettrail.model.packet import ACK, FIN, RST, SYN, tcp_header_len

LOST_BETWEEN_POINTS = "lost-between-points"
MTU_BLACKHOLE = "mtu-blackhole"

RESET_ANSWER_NS = 1_000_000_000
BIG_MIN_PAYLOAD = 500
BIG_FRACTION = 0.9
MIN_STUCK = 2
MIN_TRANSMISSIONS = 2
_MASK = 0xFFFFFFFF
_HALF = 0x80000000


def _stop_index(track: Track, route: Sequence[str]) -> int | None:
    """Index in ``route`` of the last point a packet reached, when it stopped short of the end."""
    pts = track.points
    k = len(pts)
    if k >= len(route) or tuple(route[:k]) != pts:
        return None
    return k - 1


def _waiting(track: Track, route: Sequence[str], spans: Mapping[str, PointSpan]) -> int | None:
    """Like ``_stop_index``, but only when the next point was capturing well past the packet."""
    k = _stop_index(track, route)
    if k is None:
        return None
    span = spans.get(route[k + 1])
    if span is None or not span.covers(track.t):
        return None
    return k


def _answered_by_reset(conv: Conversation, track: Track, points: Sequence[str]) -> bool:
    """True when a RST was first seen at one of ``points`` (the route up to where this packet
    stopped) right after this packet: it was consumed, not lost. A RST first seen before the
    stop was made there or where the packet stopped, whose capture then missed it (tcpdump
    drops packets on a busy host)."""
    for t in conv.tracks:
        if t.flags & RST and t.direction != track.direction and t.first.point in points \
                and 0 <= t.t - track.t <= RESET_ANSWER_NS:
            return True
    return False


def _acknowledged(conv: Conversation, track: Track) -> bool:
    """True when the other side acknowledged this segment's data: it arrived after all, e.g.
    resent in smaller pieces after an ICMP "fragmentation needed"."""
    seq = track.first.seq
    if seq is None:
        return False
    end = (seq + track.plen + (1 if track.flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
    for t in conv.tracks:
        ack = t.first.ack
        if t.direction != track.direction and ack is not None and t.flags & ACK \
                and (ack - end) & 0xFFFFFFFF < 0x80000000:
            return True
    return False


def _seen_later(conv: Conversation, point: str, after: int) -> bool:
    """True when ``point`` saw a packet of this connection after time ``after``."""
    return any(s.point == point and s.t > after for t in conv.tracks for s in t.sightings)


def _segment(track: Track) -> tuple[object, ...]:
    return (track.flags, track.first.seq, track.plen)


def lost_between_points(conv: Conversation, spans: Mapping[str, PointSpan],
                        skip: set[int], directions: Sequence[str] = ("c2s", "s2c"),
                        ) -> list[Finding]:
    """Packets whose every transmission stopped between two points (one finding per direction)."""
    out = []
    for direction in directions:
        route = conv.route(direction)
        n = len(route)
        if n < 2 or conv.route_tied(direction) or all(
                len(t.points) >= n for t in conv.tracks if t.direction == direction):
            continue  # every packet reached the end of the route: nothing stopped short
        groups: dict[tuple[object, ...], list[Track]] = defaultdict(list)
        for t in conv.tracks:
            if t.direction == direction:
                groups[_segment(t)].append(t)
        for tracks in groups.values():
            finding = _lost_group(conv, tracks, route, spans, skip)
            if finding is not None:
                out.append(finding)
                break
    return out


def _lost_group(conv: Conversation, tracks: list[Track], route: Sequence[str],
                spans: Mapping[str, PointSpan], skip: set[int]) -> Finding | None:
    stops = []
    for t in tracks:
        if t.id in skip:
            return None
        k = _waiting(t, route, spans)
        if k is None:
            return None
        if _answered_by_reset(conv, t, route[:k + 1]):
            return None
        stops.append((t, k))
    k = stops[0][1]
    if any(kk != k for _, kk in stops) or _acknowledged(conv, tracks[0]):
        return None
    first = tracks[0]
    last_seen, missing = route[k], route[k + 1]
    if len(tracks) < MIN_TRANSMISSIONS and (
            not conv.route_observed(first.direction)
            or not _seen_later(conv, missing, tracks[-1].t)):
        return None  # one transmission proves nothing at a capture's end or off a known route
    stop = first.at(last_seen)
    assert stop is not None
    where = f" ({stop.records[-1].ifname})" if stop.records[-1].ifname else ""
    ev: list[Evidence] = [evidence(s, "seen") for s in first.sightings]
    ev[-1] = evidence(stop, f"last seen here; never at {missing}", stop.copies - 1)
    ev.extend(evidence(t.at(last_seen) or t.first, "retransmission, also never at " + missing)
              for t in tracks[1:4])
    n = len(tracks)
    inside = all(r.direction == "in" for r in stop.records)
    how = (f"it entered {last_seen}{where} and never left it, so it was dropped inside "
           f"{last_seen}" if inside else f"last seen at {last_seen}{where}")
    summary = (f"the {packet_name(first)} from {first.first.src} to {first.first.dst} was lost "
               f"between {last_seen} and {missing}: {how}, never at {missing} "
               f"({n} transmission{'s' if n > 1 else ''})")
    details = {"last_seen": last_seen, "missing": missing, "transmissions": str(n),
               "direction": first.direction}
    if inside:
        details["dropped_in"] = last_seen
    return Finding(LOST_BETWEEN_POINTS, Severity.ERROR, summary, tuple(ev), root_cause=True,
                   connection=conv.key, details=details)


def mtu_blackhole(conv: Conversation, spans: Mapping[str, PointSpan],
                  frag_needed: Sequence[Sighting]) -> tuple[Finding | None, set[int]]:
    """Full-size segments that never pass a point while small ones do, and no ICMP came back.

    Returns the finding and the ids of the stuck tracks (not to be reported again as losses).
    """
    for direction in ("c2s", "s2c"):
        route = conv.route(direction)
        if len(route) < 2 or conv.route_tied(direction):
            continue
        data = [t for t in conv.tracks if t.direction == direction and t.plen > 0]
        if all(len(t.points) >= len(route) for t in data):
            continue  # no data (or every segment reached the end of the route)
        big_len = max(BIG_MIN_PAYLOAD, BIG_FRACTION * max(t.plen for t in data))
        found = _stuck_big(conv, direction, route, spans, data, big_len, frag_needed)
        if found is not None:
            return found
    return None, set()


def _through_in_pieces(conv: Conversation, direction: str) -> Callable[[Track], bool]:
    """Whether a segment of ``direction`` that no later point saw got there all the same, in
    smaller pieces: the receiver acknowledged its data, and the point that saw it never saw
    it (nor any segment from its first byte) sent again, or a smaller segment from its first
    byte carries its TCP timestamp (its first piece: a segment sent again after a timeout
    carries a later one). That is what a sender's capture shows with segmentation offload
    (TSO/GSO: one segment of many MSS, cut up after tcpdump saw it; the next point sees the
    pieces, the first of them from the same byte), not a black hole, whose packets are sent
    again and stay whole. Built once per direction: every question is
    then a lookup (a bulk transfer has many full-size segments)."""
    sent: Counter[tuple[int, str]] = Counter()
    # (first byte, TCP timestamp): the fewest bytes a segment from that byte with that
    # timestamp carried (a piece of a segment carries its timestamp)
    fewest: dict[tuple[int, int], int] = {}
    start: int | None = None  # numbers are read from here: a quarter of the space back
    for t in conv.tracks:
        seq = t.first.seq
        if t.direction == direction and t.plen > 0 and seq is not None:
            if start is None:
                start = (seq - _HALF // 2) & _MASK
            sent.update((seq, p) for p in t.points)
            ts_val = t.first.ts_val
            if ts_val is not None:
                key = (seq, ts_val)
                fewest[key] = min(fewest.get(key, t.plen), t.plen)
    acks = [t.first.ack for t in conv.tracks if t.direction != direction
            and t.flags & ACK and t.first.ack is not None]
    if start is None or not acks:
        return lambda _track: False
    top = max((a - start) & _MASK for a in acks)  # the furthest any ACK reached

    def through(track: Track) -> bool:
        seq, ts_val = track.first.seq, track.first.ts_val
        if seq is None:
            return False
        cut = ts_val is not None and fewest.get((seq, ts_val), track.plen) < track.plen
        if sent[(seq, track.first.point)] > 1 and not cut:
            return False
        end = seq + track.plen + (1 if track.flags & (SYN | FIN) else 0)
        return (end - start) & _MASK <= top

    return through


def _stuck_big(conv: Conversation, direction: str, route: Sequence[str],
               spans: Mapping[str, PointSpan], data: Sequence[Track], big_len: float,
               frag_needed: Sequence[Sighting]) -> tuple[Finding, set[int]] | None:
    pieces = _through_in_pieces(conv, direction)
    big = [t for t in data if t.plen >= big_len and not pieces(t)]
    stuck = [(t, _waiting(t, route, spans)) for t in big]
    ks = {k for _, k in stuck if k is not None}
    if len(ks) != 1:
        return None
    k = ks.pop()
    nxt = route[k + 1]
    if any(nxt in t.points for t in big):
        return None
    stuck_tracks = [t for t, kk in stuck if kk == k]
    passed = [t for t in conv.tracks if t.direction == direction and nxt in t.points]
    if len(stuck_tracks) < MIN_STUCK or not passed:
        return None
    icmp_home, icmp_elsewhere = _frag_needed_for(conv, route[0], frag_needed)
    if icmp_home:
        return None
    return _blackhole_finding(conv, route, k, stuck_tracks, passed, icmp_elsewhere), {
        t.id for t in stuck_tracks}


def _frag_needed_for(conv: Conversation, sender_point: str,
                     frag_needed: Sequence[Sighting]) -> tuple[list[Sighting], list[Sighting]]:
    """The ICMP frag-needed messages about this connection, at the sender's point and
    elsewhere: tied by the header they quote (ports too when quoted), or, when none is quoted
    (a short snaplen), by being addressed to one of its endpoints while it was running."""
    forms = {f for t in conv.tracks for s in t.sightings for f in s.forms}
    start = min(t.t for t in conv.tracks) if conv.tracks else 0
    end = max(t.t for t in conv.tracks) if conv.tracks else 0
    home: list[Sighting] = []
    elsewhere: list[Sighting] = []
    for s in frag_needed:
        rec = s.records[0]
        if any(about(rec, s.t, src, dst, start, end) for src, dst in forms):
            (home if s.point == sender_point else elsewhere).append(s)
    return home, elsewhere


def _ip_len(t: Track) -> int:
    """The packet's IP length; where the capture did not give it (tcpdump text without -v),
    its payload and headers, the TCP header's from the options printed."""
    s = t.first
    if s.ip_len is not None:
        return s.ip_len
    rec = s.records[0]
    ip_header = 40 if rec.ip is not None and rec.ip.version == 6 else 20
    tcp = rec.tcp
    return s.plen + ip_header + (tcp_header_len(tcp.options) if tcp is not None else 20)


def _blackhole_finding(conv: Conversation, route: Sequence[str], k: int,
                       stuck: Sequence[Track], passed: Sequence[Track],
                       icmp_elsewhere: Sequence[Sighting]) -> Finding:
    last_seen, nxt = route[k], route[k + 1]
    size = max(_ip_len(t) for t in stuck)
    small = max(_ip_len(t) for t in passed)
    ip = stuck[0].first.records[0].ip
    df_text = " with DF set" if ip is not None and ip.df else ""
    icmp = ("no ICMP 'fragmentation needed' came back to " + route[0] if not icmp_elsewhere
            else f"an ICMP 'fragmentation needed' was seen at {icmp_elsewhere[0].point} but never "
                 f"reached {route[0]}")
    summary = (f"MTU black hole between {last_seen} and {nxt}: {len(stuck)} full-size packets "
               f"({size} bytes{df_text}) from {stuck[0].first.src} never got past {last_seen} "
               f"and {icmp}, while smaller packets (up to {small} bytes) passed")
    ev: list[Evidence] = []
    for t in stuck[:3]:
        s = t.at(last_seen)
        if s is not None:
            ev.append(evidence(s, f"full-size, never seen at {nxt}", s.copies - 1))
    ok = max(passed, key=_ip_len)
    s_ok = ok.at(nxt)
    if s_ok is not None:
        ev.append(evidence(s_ok, f"a {_ip_len(ok)}-byte packet passes"))
    ev.extend(evidence(s, "ICMP frag-needed, not delivered to the sender")
              for s in icmp_elsewhere[:1])
    return Finding(MTU_BLACKHOLE, Severity.ERROR, summary, tuple(ev), root_cause=True,
                   connection=conv.key,
                   details={"last_seen": last_seen, "missing": nxt, "direction": stuck[0].direction,
                            "size": str(size),
                            "largest_passing": str(small), "stuck": str(len(stuck))})
