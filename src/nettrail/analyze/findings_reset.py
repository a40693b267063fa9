"""Where a RST came from: the server, the client, or a device in between.

A RST is first seen at some point (its *origin*, in corrected time). If the server's own point
(the deepest point the client's packets reach) was capturing and never saw it, or it carries a
translated public address at the very point that translates that address, the server did not
send it: the device owning that address did, answering a client packet that never reached the
server. The server's point is known to have been capturing only from its first packet to its
last: when the RST lies outside that, its origin is not known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from nettrail.analyze.correlate import Sighting
from nettrail.analyze.nat import translated_endpoints
from nettrail.analyze.tracks import Conversation, PointSpan, Track, evidence, ttl_orders
from nettrail.model.analysis import NatTranslation
from nettrail.model.finding import Evidence, Finding, Severity
from nettrail.model.packet import ACK, FIN, RST, SYN

RESET_NOT_FROM_SERVER = "reset-not-from-server"
RESET_FROM_SERVER = "reset-from-server"
RESET_FROM_CLIENT = "reset-from-client"
RESET_ORIGIN_UNKNOWN = "reset-origin-unknown"


def packet_name(track: Track) -> str:
    """A short name for a packet: ``SYN``, ``SYN-ACK``, ``ACK``, ``200-byte data segment``."""
    f = track.flags
    if f & SYN:
        return "SYN-ACK" if f & ACK else "SYN"
    if f & RST:
        return "RST"
    if f & FIN:
        return "FIN"
    if track.plen:
        return f"{track.plen}-byte data segment"
    return "ACK" if f & ACK else "packet"


def _trigger(conv: Conversation, point: str | None, before: int) -> Track | None:
    """The last client packet seen at ``point`` (None: first seen anywhere) before time
    ``before``."""
    found = None
    for t in conv.tracks:
        if t.direction != "c2s" or t.flags & RST:
            continue
        s = t.at(point) if point is not None else t.first
        if s is not None and s.t <= before:
            found = t
    return found


def reset_findings(conv: Conversation, nat: Sequence[NatTranslation],
                   spans: Mapping[str, PointSpan],
                   uncertain: Mapping[str, float] | None = None) -> list[Finding]:
    """The origin of the first RST of a connection, as a finding (none when there is no RST).
    ``uncertain``: each point's clock uncertainty (ns), by which a point's own packets must
    lie past the RST to show it was still capturing then."""
    rst = next((t for t in conv.tracks if t.flags & RST), None)
    if rst is None:
        return []
    if rst.direction == "c2s":
        route = conv.route("c2s")
        if route and rst.first.point == route[0]:
            return [_from_client(conv, rst)]
        return []
    return [_server_side(conv, rst, nat, spans, uncertain or {})]


def _server_side(conv: Conversation, rst: Track, nat: Sequence[NatTranslation],
                 spans: Mapping[str, PointSpan], uncertain: Mapping[str, float]) -> Finding:
    origin = rst.first
    src = origin.forms[0][0]
    route = conv.route("c2s")
    others = [p for p in spans if p != origin.point]
    if others and all(s.point == origin.point for t in conv.tracks for s in t.sightings):
        return _origin_unknown(  # one point's view only: as a single capture tells it
            conv, rst, origin.point, f"no packet of the other points ({', '.join(others)}) "
            "is one of this connection's (they are not on its path, its packets never reached "
            "them, or a translation there hides them)",
            f"a capture nearer the server ({src}) at the time of the RST")
    downstream = route[route.index(origin.point) + 1:] if origin.point in route else []
    missed = [p for p in downstream
              if rst.at(p) is None and p in spans and spans[p].covers(rst.t)]
    public = translated_endpoints(nat, conv)
    owns = any(t.at == origin.point and t.before == src for t in nat
               if t.connection == conv.key and t.leg == "request" and t.kind == "dnat")
    tied = [s.point for s in rst.sightings[1:]
            if s.point != origin.point and s.t == origin.t and not ttl_orders(s, origin)]
    if src in public and owns and not tied:  # a point that saw it as soon may have made it
        return _not_from_server(conv, rst, owns, downstream, missed)
    if tied or (len(route) > 1 and conv.route_tied("c2s")):
        why = (f"{origin.point} and {tied[0]} saw it at the same time" if tied else
               "the points saw the client's packets at the same times (their order along "
               "the path is not known)")
        if tied and _alike(conv, origin.point, tied[0]):
            why += (" (every packet of this connection alike, at the same times: one capture "
                    "given twice?)")
        return _origin_unknown(conv, rst, route[-1] if route else origin.point, why,
                               "captures whose times tell the points' order apart")
    if route and origin.point not in route and route[-1] not in rst.points:
        # first seen where none of the client's packets were (a capture of one direction,
        # or the replies' own path): the server's point decides, if it was capturing
        server = route[-1]
        if server in missed or (server in spans and spans[server].covers(rst.t)):
            return _not_from_server(conv, rst, owns, [server], [server])
        downstream = [server]
    if downstream and downstream[-1] not in rst.points:
        server = downstream[-1]
        span = spans.get(server)
        margin = uncertain.get(server, 0.0) + uncertain.get(origin.point, 0.0)
        if span is None or not span.first <= rst.t < span.seen_until - margin:
            return _origin_unknown(
                conv, rst, server, f"{server}, the server's point, shows nothing from before "
                "it to after it (its capture may have ended or begun later)",
                f"{server}'s capture at the time of the RST")
    if downstream and downstream[-1] in missed:
        return _not_from_server(conv, rst, owns, downstream, missed)
    return _from_server(conv, rst)


def _alike(conv: Conversation, a: str, b: str) -> bool:
    """Whether points ``a`` and ``b`` saw every packet of ``conv`` that either saw, each
    first at the same corrected time (what one capture read twice shows)."""
    for t in conv.tracks:
        sa, sb = t.at(a), t.at(b)
        if sa is None or sb is None:
            if sa is not sb:
                return False
        elif sa.first_ns - sa.offset != sb.first_ns - sb.offset:
            return False
    return True


def _origin_unknown(conv: Conversation, rst: Track, server: str, why: str,
                    missing: str) -> Finding:
    """A RST whose maker the captures cannot tell: the server's point did not see it while
    nothing shows that point was capturing then (it saw nothing after it: a capture stopped
    early, or read up to a fault), or the points' order is not known (``why``)."""
    origin = rst.first
    src = origin.forms[0][0]
    ev = tuple(evidence(s, "RST first seen here" if s is origin else "RST")
               for s in rst.sightings)
    summary = (f"the RST from {src} was first seen at {origin.point}; {why}, so whether the "
               f"server sent it is not known")
    return Finding(RESET_ORIGIN_UNKNOWN, Severity.WARNING, summary, ev, connection=conv.key,
                   details={"origin": origin.point, "point": server, "missing": missing})


def _not_from_server(conv: Conversation, rst: Track, owns: bool,
                     downstream: list[str], missed: list[str]) -> Finding:
    """The RST made before the server: ``missed``, the points past its first one that were
    capturing and did not see it (``details["missing"]``)."""
    origin = rst.first
    src = origin.forms[0][0]
    server_point = downstream[-1] if downstream else None
    where = f"{origin.point}" + (f" ({origin.records[0].ifname})"
                                 if origin.records[0].ifname else "")
    if owns:
        maker = (f"by the TCP stack at {where}, which owns {src.addr} and has no connection "
                 f"for it")
    else:
        maker = f"by a device at or beyond {where} using the address {src.addr}"
    trigger = _trigger(conv, origin.point, origin.t)
    ev: list[Evidence] = []
    answered = ""
    if trigger is not None:
        missing = [p for p in downstream if trigger.at(p) is None]
        ev.extend(_trigger_evidence(trigger, origin.point, missing))
        if missing:
            answered = (f"; it answers the client's {packet_name(trigger)}, which never reached "
                        f"{missing[-1]}")
    ev.extend(evidence(s, "RST first seen here" if s is origin else "RST") for s in rst.sightings)
    not_server = f", not by the server (nothing of it at {server_point})" if server_point else \
        ", not by the server"
    summary = f"the RST from {src} was made {maker}{not_server}{answered}"
    details = {"origin": origin.point, "address": str(src), "owner": "stack" if owns else "device"}
    if missed:
        details["missing"] = ", ".join(missed)
    return Finding(RESET_NOT_FROM_SERVER, Severity.ERROR, summary, tuple(ev), root_cause=True,
                   connection=conv.key, details=details)


def _trigger_evidence(trigger: Track, upto: str, missing: list[str]) -> list[Evidence]:
    out = []
    for s in trigger.sightings:
        note = f"client {packet_name(trigger)}"
        if s.point == upto and missing:
            note += f"; never seen at {', '.join(missing)}"
        out.append(evidence(s, note))
        if s.point == upto:
            break
    return out


def _from_server(conv: Conversation, rst: Track) -> Finding:
    origin = rst.first
    src = origin.forms[0][0]
    trigger = _trigger(conv, origin.point, origin.t)
    ev: list[Evidence] = []
    if trigger is not None:
        s = trigger.at(origin.point)
        if s is not None:
            ev.append(evidence(s, f"client {packet_name(trigger)} reaches the server side"))
    ev.extend(evidence(s, ("RST from the server" if conv.has_handshake else f"RST from {src}")
                       if s is origin else "RST") for s in rst.sightings)
    details = {"origin": origin.point, "how": "reset"}
    if trigger is None:  # its point began capturing after the client's last packet passed
        trigger = _trigger(conv, None, origin.t)
    if trigger is not None and trigger.flags & SYN:
        summary = (f"the server {src} refused the connection: it answered the SYN with RST "
                   f"(nothing listens on port {src.port}, or a firewall rejects it)")
        details["how"] = "refused"
    elif not conv.has_handshake:  # the server is only the side guessed: as _from_client
        summary = f"{src} reset the connection (RST first seen at {origin.point}){UNKNOWN_ROLES}"
        details.update(roles="unknown", address=str(src))
        return Finding(RESET_FROM_SERVER, Severity.INFO, summary, tuple(ev),
                       connection=conv.key, details=details)
    else:
        summary = f"the server {src} reset the connection (RST first seen at {origin.point})"
    return Finding(RESET_FROM_SERVER, Severity.ERROR, summary, tuple(ev), root_cause=True,
                   connection=conv.key, details=details)


UNKNOWN_ROLES = "; the handshake was not captured, so which side is the client is not known"
"""Said wherever "client" or "server" would only be the side seen first."""


def _from_client(conv: Conversation, rst: Track) -> Finding:
    origin: Sighting = rst.first
    src = origin.forms[0][0]
    if conv.has_handshake:
        summary = f"the client {src} reset the connection (RST first seen at {origin.point})"
        note = "RST from the client"
    else:
        summary = f"{src} reset the connection (RST first seen at {origin.point}){UNKNOWN_ROLES}"
        note = f"RST from {src}"
    ev = tuple(evidence(s, note) for s in rst.sightings)
    return Finding(RESET_FROM_CLIENT, Severity.INFO, summary, ev, connection=conv.key,
                   details={"origin": origin.point})


UNFORWARDED_TTLS = frozenset((64, 128, 255))
"""The TTLs stacks start with: a packet seen with one has not been routed yet."""


def resets_from_their_sender(conv: Conversation) -> set[tuple[str, str, int]]:
    """(point, file, frame) of every sighting of the conversation's RSTs that left from where
    their sender's other packets come from: first seen at the point where all of that side's
    other packets are first seen, its first copy there unrouted (a starting TTL) and with a
    TTL the other packets' first copies have there. A device in between cannot have made
    such a RST, whatever its fields say at a later point."""
    out: set[tuple[str, str, int]] = set()
    for t in conv.tracks:
        if not t.flags & RST or len(t.points) < 2:
            continue
        own = [u for u in conv.tracks if u.direction == t.direction and not u.flags & RST]
        origin = t.points[0]
        if not own or any(u.points[0] != origin for u in own):
            continue
        ip = t.first.record.ip  # its first copy there (later ones may be past a router)
        theirs = {u.first.record.ip.ttl for u in own if u.first.record.ip is not None}
        if ip is not None and ip.ttl in theirs and ip.ttl in UNFORWARDED_TTLS:
            out.update((s.point, r.file, r.frame) for s in t.sightings for r in s.records)
    return out
