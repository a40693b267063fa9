"""Findings about translation and observation: asymmetric NAT, copies on interfaces, clocks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress
from operator import attrgetter

from nettrail.analyze.clock import describe_offset
from nettrail.analyze.correlate import Sighting
from nettrail.analyze.nat import track_translations
from nettrail.analyze.tracks import Conversation, PointSpan, Track, evidence
from nettrail.model.analysis import ClockOffset, NatTranslation
from nettrail.model.finding import Evidence, Finding, Severity
from nettrail.model.flow import Endpoint
from nettrail.model.packet import FIN, SYN

ASYMMETRIC_NAT = "asymmetric-nat"
MULTI_INTERFACE_COPY = "multi-interface-copy"
CLOCK_OFFSET = "clock-offset"
CLOCK_UNKNOWN = "clock-unknown"

CLOCK_REPORT_NS = 1_000_000

_REPLY_KIND = {"dnat": "snat", "snat": "dnat"}
_MORE = attrgetter("_more")  # None for a sighting seen once (``Sighting.single``)


def _reply_role(kind: str) -> int:
    """Which endpoint of a reply carries the address a request translation rewrote."""
    return 0 if kind == "dnat" else 1


def _translated_reply(track: Track, kind: str, public: Endpoint) -> bool:
    role = _reply_role(kind)
    return any(f[role] == public for s in track.sightings for f in s.forms)


def carried_translated(track: Track, point: str, role: int, private: Endpoint) -> bool:
    """True when ``point`` only carried the packet already translated: it never saw the
    ``private`` form (at ``role``), which another point saw earlier in corrected time.

    A point that saw a packet only in its translated form, after another point had seen its
    untranslated form, did not translate it (its capture would show the packet arriving
    untranslated); the translation happened before the packet reached it.
    """
    here = track.at(point)
    if here is None or any(f[role] == private for f in here.forms):
        return False
    return any(s.point != point and s.corrected(r) < here.t and f[role] == private
               for s in track.sightings for r, f in zip(s.records, s.copy_forms, strict=True))


def _reply_where(conv: Conversation, track: Track, kind: str, private: Endpoint,
                 public: Endpoint) -> str:
    for rk, before, after, p0, p1, at in track_translations(track, conv.rewrites):
        if rk == _REPLY_KIND[kind] and before == private and after == public:
            return f"at {at}" if at else f"between {p0} and {p1}"
    return f"before it reached {track.first.point}"


def _request_evidence(conv: Conversation, t: NatTranslation) -> list[Evidence]:
    for track in conv.tracks:
        if track.direction != "c2s":
            continue
        for kind, before, after, _p0, p1, at in track_translations(track, conv.rewrites):
            if (kind, before, after, at) == (t.kind, t.before, t.after, t.at):
                s = track.at(at or p1)
                out = [evidence(track.first, "request sent")]
                if s is not None:
                    idx = next((i for i, r in enumerate(s.records)
                                if _has_form(s, i, t.after, t.kind)), 0)
                    if idx > 0 and s is not track.first:
                        out.append(evidence(s, f"request arrives at {t.at}", idx - 1))
                    where = f"at {t.at}" if t.at else f"before {t.to_point}"
                    out.append(evidence(s, f"request {t.kind.upper()}ed {t.before} -> {t.after} "
                                           f"{where}", idx))
                return out
    return []


def _has_form(s: Sighting, index: int, ep: Endpoint, kind: str) -> bool:
    form = s.copy_forms[index]
    return form[1] == ep if kind == "dnat" else form[0] == ep


def asymmetric_nat(conv: Conversation, nat: Sequence[NatTranslation],
                   spans: Mapping[str, PointSpan]) -> Finding | None:
    """A request translated at one point and its reply translated back somewhere else.

    The reply either never passed the request's translator, or passed it only already
    translated (see ``carried_translated``): in both cases that point did not translate it.
    """
    for t in nat:
        if t.connection != conv.key or t.leg != "request":
            continue
        if t.at is None:
            found = _between_owners(conv, t)
            if found is not None:
                return found
            continue
        span = spans.get(t.at)
        role = _reply_role(t.kind)
        if _translates_replies(conv, t, role):
            continue
        for track in conv.tracks:
            if track.direction != "s2c":
                continue
            carried = t.at in track.points
            if carried and not carried_translated(track, t.at, role, t.after):
                continue
            if not _translated_reply(track, t.kind, t.before):
                continue
            if span is None or not (span.covers(track.t) or answers_a_request_seen_at(
                    conv, track, t.at)):
                continue
            where = _reply_where(conv, track, t.kind, t.after, t.before)
            return _asymmetric_finding(conv, t, track, where, carried)
    return None


def answers_a_request_seen_at(conv: Conversation, reply: Track, point: str) -> bool:
    """Whether ``reply`` was sent after ``point`` saw a request, whatever the clocks say: it
    acknowledges a request segment (a SYN, a FIN or data) the client sent once (no other
    track of the connection has its sequence number) and that passed ``point``. The server
    answered that segment after it passed ``point``, so ``point`` was capturing before the
    reply; in corrected time the reply may still seem to come first, by as much as the
    clocks' uncertainty (a one-sided estimate from a packet each way is ± 1 ms; a reply
    comes some 0.2 ms after its request passed the router)."""
    ack = reply.first.ack
    if ack is None:
        return False
    requests = [k for k in conv.tracks if k.direction == "c2s" and k.first.seq is not None]
    sent = Counter(k.first.seq for k in requests)
    return any(point in k.points and sent[k.first.seq] == 1 and _answered(k, ack)
               for k in requests)


def _answered(request: Track, ack: int) -> bool:
    """Whether acknowledgement number ``ack`` covers ``request``'s first byte, SYN or FIN."""
    seq = request.first.seq
    if seq is None or not (request.plen > 0 or request.flags & (SYN | FIN)):
        return False
    return 0 < (ack - seq) % (1 << 32) <= _RECENT


_RECENT = 1 << 20
"""How far past a segment an acknowledgement that answers it may be (1 MiB of the sequence
space: a reply acknowledges what came shortly before it, not data of long ago)."""


def _translates_replies(conv: Conversation, t: NatTranslation, role: int) -> bool:
    """Whether the request's translator was seen translating replies of this connection back
    (a reply there in its private form that reached the client in its public one): then one
    reply missing there is a gap in that point's capture, not a second owner."""
    for k in conv.tracks:
        here = k.at(t.at) if k.direction == "s2c" and t.at is not None else None
        if here is not None and any(f[role] == t.after for f in here.forms) and \
                _translated_reply(k, t.kind, t.before):
            return True
    return False


def _request_translated_at(conv: Conversation, t: NatTranslation, point: str) -> bool:
    """Whether ``point`` saw a request of the connection in both of ``t``'s forms: a host's
    capture holding the request's translator (its router namespace) shows both directions'
    translations, so a reply translated back there may be the translator's own work."""
    role = 1 - _reply_role(t.kind)
    for k in conv.tracks:
        here = k.at(point) if k.direction == "c2s" else None
        if here is not None and any(f[role] == t.before for f in here.forms) and \
                any(f[role] == t.after for f in here.forms):
            return True
    return False


def _between_owners(conv: Conversation, t: NatTranslation) -> Finding | None:
    """A request translated between two points, and its reply translated back *at* the
    second one (both forms seen there), which the request reached only translated: the
    translations have two owners, though no capture shows the first one inside."""
    for track in conv.tracks:
        if track.direction != "s2c":
            continue
        for rk, before, after, _p0, _p1, at in track_translations(track, conv.rewrites):
            if (rk == _REPLY_KIND[t.kind] and before == t.after and after == t.before
                    and at == t.to_point):
                where = f"between {t.from_point} and {t.to_point}"
                return _asymmetric_finding(conv, t, track, f"at {at}", False, where)
    return None


def _asymmetric_finding(conv: Conversation, t: NatTranslation, reply: Track,
                        where: str, carried: bool, request_at: str = "") -> Finding:
    ev = _request_evidence(conv, t)
    request_at = request_at or f"at {t.at}"
    seen_only = (f" ({t.to_point} saw it only translated)" if t.at is None else "")
    role = _reply_role(t.kind)
    for s in reply.sightings:
        if t.at is None:
            note = "reply"
        elif not carried:
            note = f"reply, never through {t.at}"
        elif s.point == t.at:
            note = f"reply passes {t.at} already translated; {t.at} did not translate it"
        else:
            note = f"reply, not translated at {t.at}"
        ev.append(evidence(s, note))
        done = next((i for i, f in enumerate(s.copy_forms) if f[role] == t.before), None)
        if done is not None and done > 0:
            ev.append(evidence(s, f"reply translated to {t.before} here", done))
    if t.at is None:
        passed = "not where the request was"
    else:
        passed = (f"reached {t.at} already translated" if carried else f"never passed {t.at}")
    summary = (f"{t.before} is translated in two places: the request was {t.kind.upper()}ed "
               f"to {t.after} {request_at}{seen_only}, but the reply was translated back "
               f"{where} and {passed}")
    details = {"address": str(t.before), "private": str(t.after),
               "request_at": str(t.at) if t.at else request_at, "reply_at": where}
    if carried:
        details["reply_carried_by"] = str(t.at)
    elif t.at is not None and (not where.startswith("at ")
                               or _request_translated_at(conv, t, where[3:])):
        # No point shows a second translator (none shows the reply's translation, or the one
        # that does saw the request translated too, as a host's capture holding t.at's
        # does): the finding rests on the replies' absence at t.at, of those seen in both
        # forms elsewhere.
        details["missing"] = str(t.at)
        details["replies_missing"] = str(sum(
            1 for k in conv.tracks if k.direction == "s2c" and t.at not in k.points
            and _translated_reply(k, t.kind, t.before)
            and _translated_reply(k, t.kind, t.after)))
    return Finding(ASYMMETRIC_NAT, Severity.ERROR, summary, tuple(ev), root_cause=True,
                   connection=conv.key, details=details)


def multi_interface_copies(point: str, sightings: Iterable[Sighting]) -> Finding | None:
    """One note per point whose packets were seen on several interfaces (``-i any``)."""
    items = list(sightings)
    copies = list(compress(items, map(_MORE, items)))  # held only by a packet seen twice
    if not copies:
        return None
    names = sorted({r.ifname for s in copies for r in s.records if r.ifname})
    on = f" ({', '.join(names[:6])}{', ...' if len(names) > 6 else ''})" if names else ""
    first = copies[0]
    ev = tuple(evidence(first, f"copy {i + 1} of {first.copies}", i)
               for i in range(min(first.copies, 4)))
    if len(copies) == 1:
        summary = (f"{point}: 1 packet was seen on several interfaces{on}; "
                   f"it is one packet, not a duplicate or a retransmission")
    else:
        summary = (f"{point}: {len(copies)} packets were each seen on several interfaces{on}; "
                   f"each is one packet, not a duplicate or a retransmission")
    return Finding(MULTI_INTERFACE_COPY, Severity.INFO, summary, ev,
                   details={"point": point, "packets": str(len(copies))})


def clock_findings(clock: Iterable[ClockOffset]) -> list[Finding]:
    """A note for each point whose clock is measurably off the reference's."""
    out = []
    for c in clock:
        if c.point == c.reference or abs(c.offset_ns) < max(CLOCK_REPORT_NS, c.uncertainty_ns):
            continue
        out.append(Finding(CLOCK_OFFSET, Severity.INFO,
                           f"{describe_offset(c)}; times are shown in {c.reference}'s clock",
                           details={"point": c.point, "offset_ms": f"{c.offset_ns / 1e6:.3f}",
                                    "uncertainty_ms": f"{c.uncertainty_ns / 1e6:.3f}"}))
    return out


def clock_unknown(point: str, reference: str, why: str) -> Finding:
    """A note that ``point``'s clock against ``reference`` is unknown (``why``): its times are
    its own (not moved to the reference clock)."""
    return Finding(CLOCK_UNKNOWN, Severity.INFO,
                   f"{point}'s clock against {reference} is unknown: {why}; times at {point} "
                   f"are its own",
                   details={"point": point, "reason": why})
