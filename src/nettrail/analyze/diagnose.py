"""The diagnosis: the root cause first, in words an engineer can act on, then the evidence.

Which finding leads is decided by the packets (the findings); the words switch to OpenStack's
when the interface or namespace names seen in the captures are OpenStack's (``qrouter-``,
``qr-``, ``qg-``, ``br-int``, ``br-tun``, ``br-ex``, ``tap``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from nettrail.analyze.doubt import CAPTURE_DROPPED, absent_at
from nettrail.analyze.findings_host import (
    DROPPED_AFTER_CAPTURE,
    REJECT_WORDS,
    REJECTED,
    RESET_INJECTED,
)
from nettrail.analyze.findings_loss import LOST_BETWEEN_POINTS, MTU_BLACKHOLE
from nettrail.analyze.findings_nat import ASYMMETRIC_NAT
from nettrail.analyze.findings_reset import (
    RESET_FROM_SERVER,
    RESET_NOT_FROM_SERVER,
    RESET_ORIGIN_UNKNOWN,
)
from nettrail.analyze.flows import FAILED
from nettrail.analyze.one_side import ONE_WAY_CAPTURE, towards
from nettrail.model.analysis import Diagnosis
from nettrail.model.finding import Evidence, Finding
from nettrail.model.flow import Connection, Endpoint, Outcome, address_of, count_text

INCONCLUSIVE = "inconclusive"
FLAGS = "flags"
"""A point's packets carry no TCP flags (see ``diagnose``'s ``blind``)."""
SEQ = "seq"
"""A point's packets carry no TCP sequence numbers."""
STALLED_RETRANSMISSIONS = 3
"""Retransmissions at one point from which a connection still open at the end of the capture
counts as stalled: one or two are the ordinary cost of a lossy path; more say data is stuck
somewhere. (Copies of a packet on several interfaces of a point are never counted.)"""
PRIORITY = (ASYMMETRIC_NAT, RESET_NOT_FROM_SERVER, RESET_INJECTED, MTU_BLACKHOLE,
            LOST_BETWEEN_POINTS, DROPPED_AFTER_CAPTURE, REJECTED, RESET_FROM_SERVER)
OPENSTACK_PREFIXES = ("qrouter-", "qr-", "qg-", "br-int", "br-tun", "br-ex", "tap", "snat-",
                      "qdhcp-", "fg-", "fip-")


@dataclass(frozen=True, slots=True)
class Context:
    """Names seen in the captures that change the wording (never the decision)."""

    openstack: bool = False
    routers: tuple[str, ...] = ()


def context_from_names(names: Iterable[str]) -> Context:
    """Context from interface, namespace (and namespace-like point) names."""
    seen = {n for n in names if n}
    openstack = any(n.startswith(OPENSTACK_PREFIXES) for n in seen)
    routers = tuple(sorted(n for n in seen if n.startswith("qrouter-")))
    return Context(openstack, routers)


def _rank(f: Finding) -> int:
    return PRIORITY.index(f.kind) if f.kind in PRIORITY else len(PRIORITY)


class Failure(NamedTuple):
    """A connection that failed at some point (its outcome there), and the points that have
    no packet of it at all (by its client endpoint, or its server and client port)."""

    connection: Connection
    unseen: tuple[str, ...]


def failures(connections: Sequence[Connection], points: Sequence[str]) -> list[Failure]:
    """The connections that failed as some point saw them (a failed outcome, or stalled: data
    re-sent again and again), first failure first."""
    failed = sorted((c for c in connections if c.outcome in FAILED or stalled(c)),
                    key=lambda c: c.first_ns)
    if not failed:
        return []
    by_client: dict[Endpoint, set[str]] = defaultdict(set)
    by_server: dict[tuple[Endpoint, int], set[str]] = defaultdict(set)
    for o in connections:
        by_client[o.client].add(o.point)
        by_server[(o.server, o.client.port)].add(o.point)
    out = []
    for c in failed:
        seen = by_client[c.client] | by_server[(c.server, c.client.port)]
        out.append(Failure(c, tuple(p for p in points if p not in seen)))
    return out


def stalled(c: Connection) -> bool:
    """True when the connection re-sent data again and again and never closed (at its point):
    data stuck somewhere, even though no handshake or reset failed."""
    return c.retransmissions >= STALLED_RETRANSMISSIONS and c.outcome is not Outcome.CLOSED


def diagnose(findings: Sequence[Finding], ctx: Context = Context(),
             failed: Sequence[Failure] = (),
             blind: Mapping[str, Sequence[str]] | None = None) -> Diagnosis | None:
    """The diagnosis of the root-cause findings, most fundamental first; "inconclusive"
    when a connection failed but no finding explains it, or when points show TCP without its
    flags, so that a failure there could not be seen; None when healthy. ``blind`` names the
    TCP fields (``FLAGS``, ``SEQ``) each point's packets all lack; an inconclusive diagnosis
    says which are missing where."""
    blind = blind or {}
    roots = sorted((f for f in findings if f.root_cause), key=_rank)
    if not roots:
        doubt = next((f for f in findings if _DOUBTS & f.details.keys() and (
            not failed or any(_same_client(f, x.connection) for x in failed))), None)
        if doubt is not None:
            return _doubted(doubt)
        if failed:
            return inconclusive(failed, findings, blind)
        one_way = next((f for f in findings if f.kind == ONE_WAY_CAPTURE
                        and f.details.get("failed")), None)
        if one_way is not None:
            return _one_way_only(one_way)
        flagless = [p for p, lacks in blind.items() if FLAGS in lacks]
        return without_flags(flagless, blind) if flagless else None
    top = roots[0]
    related = [f for f in roots if f.connection == top.connection]
    headline, action = _words(top, related, ctx)
    explanation = " ".join(dict.fromkeys(_sentence(f.summary) for f in related))  # once each
    others = {f.connection for f in roots if f.connection != top.connection}
    if others:
        n = len(others)
        explanation += f" ({n} other connection{'' if n == 1 else 's'} also failed.)"
    kinds = tuple(dict.fromkeys(f.kind for f in roots))
    return Diagnosis(headline, explanation, action, _chain(related), kinds)


_REJECTED_BY = {
    4: ("ICMP", ("0", "1"), "ip", "host unreachable, whether the server answers ARP/NDP",
        "the firewall rule that rejects it (iptables -S, nft list ruleset: a REJECT in INPUT or "
        "FORWARD, with its counters)"),
    6: ("ICMP6", ("0", "3"), "ip -6", "address unreachable, whether the server answers NDP",
        "the rule that rejects it (ip6tables -S, nft list ruleset: a REJECT in INPUT or "
        "FORWARD, with its counters; ip -6 route for a prohibit route)"),
}
"""A refusal's words by IP version: the ICMP's name, the codes that say the server cannot be
reached (``REJECT_WORDS``), the ``ip`` command, the neighbour it asks of, the rule to look for."""


def _sentence(text: str) -> str:
    if not _NAMED.match(text):  # a point's name first (``edge: …``) stays as it is written
        text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


_NAMED = re.compile(r"[^\s:]+: ")
"""A summary that starts with a point's name (the findings of one point, and of its host)."""


def _chain(findings: Sequence[Finding]) -> tuple[Evidence, ...]:
    seen: dict[tuple[str, str, int, str], Evidence] = {}
    for f in findings:
        for e in f.evidence:
            seen.setdefault((e.point, e.file, e.frame, e.ifname or ""), e)
    return tuple(sorted(seen.values(), key=lambda e: (e.time_ns, e.point)))


def _detail(findings: Sequence[Finding], kind: str, key: str, default: str = "?") -> str:
    for f in findings:
        if f.kind == kind and key in f.details:
            return f.details[key]
    return default


def _words(top: Finding, related: Sequence[Finding], ctx: Context) -> tuple[str, str]:
    d = top.details
    if top.kind == ASYMMETRIC_NAT:
        return _asymmetric_words(d, related, ctx)
    if top.kind == RESET_NOT_FROM_SERVER:
        origin, addr = d.get("origin", "?"), d.get("address", "?")
        if d.get("owner") != "stack":  # first seen there; made there or past it, unseen
            return (f"the connection was reset by a device at or beyond {origin} (toward the "
                    f"server), not by the server",
                    f"Find the device at or beyond {origin} that answers for {addr} without "
                    f"state for this connection (with {origin}'s NAT and routes): replies that "
                    f"bypass it (asymmetric routing or NAT), a restarted NAT device or an "
                    f"expired conntrack entry.")
        return (f"the connection was reset by {origin}, not by the server",
                f"Find out why {origin} answers for {addr} without state for this connection: "
                f"replies that bypass it (asymmetric routing or NAT), a restarted NAT device or "
                f"an expired conntrack entry.")
    if top.kind == RESET_INJECTED:
        point, addr = d.get("point", "?"), d.get("address", "?")
        origin = f" ({d['origin']} made it)" if "origin" in d else ""
        return (f"the connection was reset by a device between the endpoints, posing as {addr}"
                f"{origin} (seen at {point}: {d.get('fields', '')})",
                f"Find the device on the path to {point} that sends TCP resets (a firewall's "
                f"REJECT with tcp-reset, an IPS, a load balancer) and why it rejects this "
                f"connection.")
    if top.kind == DROPPED_AFTER_CAPTURE:
        point, host = d.get("point", "?"), d.get("host", "?")
        if d.get("packet") == "SYN":
            return (f"the client's SYN reached {point} and {host} never answered it: it was "
                    f"dropped inside {point}",
                    f"Look in {point}: whether the application accepts connections (ss -ltn: a "
                    f"Recv-Q at its backlog; nstat TcpExtListenOverflows, TcpExtListenDrops), "
                    f"INPUT rules that drop (iptables/nft counters), SYN flood protection "
                    f"(net.ipv4.tcp_syncookies).")
        return (f"the {d.get('packet', 'packet')} reached {point} and was dropped inside it "
                f"before {host}'s TCP stack got it",
                f"Look in {point} for what drops it after capture: INPUT/PREROUTING rules "
                f"(iptables/nft counters), conntrack INVALID, bad checksums (offloads), a "
                f"port taken by another program.")
    if top.kind == REJECTED:
        point, host, code = d.get("point", "?"), d.get("host", "?"), d.get("code", "")
        version = 6 if ":" in host else 4  # the code is ICMPv6's
        icmp, no_route, ip, neighbour, rule = _REJECTED_BY[version]
        what = REJECT_WORDS.get((version, int(code) if code.isdigit() else -1),
                                ("unreachable",))[0]
        if code in no_route:
            return (f"{point} ({host}) cannot reach the server: it answered the SYN with {icmp} "
                    f"{what}",
                    f"Look in {point} at its route to the server ({ip} route get) and, for "
                    f"{neighbour} there ({ip} neigh).")
        if version == 4 and code != "3":
            what = "administratively prohibited"  # its codes 9, 10 and 13, said as one
        return (f"{point} ({host}) rejected the connection: it answered the SYN with {icmp} "
                f"{what}", f"Look in {point} for {rule}.")
    if top.kind == MTU_BLACKHOLE:
        return (f"MTU black hole between {d.get('last_seen')} and {d.get('missing')}: packets of "
                f"{d.get('size')} bytes are dropped silently",
                "Make the MTU consistent along the path (or clamp the TCP MSS), and let ICMP "
                "'fragmentation needed' (type 3 code 4, ICMPv6 packet too big) reach the sender.")
    if top.kind == LOST_BETWEEN_POINTS:
        a, b = d.get("last_seen"), d.get("missing")
        if "dropped_in" in d:
            return (f"packets are dropped inside {a} (on their way to {b})",
                    f"Look in {a} for what drops them: firewall rules (iptables/nft counters, "
                    f"conntrack state), routes, reverse-path filtering.")
        return (f"packets are dropped between {a} and {b}",
                f"Look between {a} and {b} for what drops them: firewall rules (iptables/nft "
                f"counters, security groups), routes, reverse-path filtering.")
    if top.kind == RESET_FROM_SERVER:
        if d.get("how") == "refused":
            return ("the server refused the connection (RST in answer to the SYN)",
                    "Check that the service listens on the server (ss -ltn) and that no local "
                    "firewall rejects it.")
        if d.get("roles") == "unknown":
            addr = d.get("address", "?")
            return (f"{addr} reset the connection (the handshake was not captured, so which "
                    f"side is the server is not known)",
                    f"Look at the logs of the application at {addr} for why it aborted the "
                    f"connection.")
        return ("the server reset the connection",
                "Look at the server application's logs for why it aborted the connection.")
    if top.kind == Outcome.REFUSED:  # one point's: the RST claims the server's address
        return ("the connection was refused: the SYN was answered with RST from the server's "
                "address",
                "Check that the service listens on the server (ss -ltn) and that no firewall on "
                "the way rejects the connection with a TCP reset (REJECT --reject-with "
                "tcp-reset): a capture nearer the server tells the two apart.")
    return (top.summary, "See the evidence below.")


def _asymmetric_words(d: dict[str, str], related: Sequence[Finding],
                      ctx: Context) -> tuple[str, str]:
    addr = address_of(d.get("address", "?"))
    req_at, reply_at = d.get("request_at", "?"), d.get("reply_at", "?")
    reset_at = _detail(related, RESET_NOT_FROM_SERVER, "origin", "")
    reset = f"; {reset_at} then resets the connection" if reset_at else ""
    if reset_at and _detail(related, RESET_NOT_FROM_SERVER, "owner", "") != "stack":
        reset = f"; a device at or beyond {reset_at} then resets the connection"
    req_words = req_at if req_at.startswith("between ") else f"at {req_at}"
    if ctx.openstack:
        if req_at.startswith("between "):
            router = f"router ({req_at})"
        elif not ctx.routers or ctx.routers[0] == req_at:
            router = f"router {req_at}"
        else:
            router = f"router {ctx.routers[0]} (at {req_at})"
        headline = (f"floating IP {addr} is served by two L3 implementations at once: the "
                    f"Neutron L3 agent's {router} DNATs the request, and "
                    f"another L3 on the compute node (e.g. an SDN controller's) translates the "
                    f"reply {reply_at}{reset}")
        action = (f"Keep one L3 implementation for floating IP {addr}: either the Neutron L3 "
                  f"agent's {router} or the SDN controller's L3, not both.")
    else:
        headline = (f"{addr} has two NAT owners: the request is translated {req_words}, the "
                    f"reply {reply_at}{reset}")
        back = (f"send the replies to {req_at} untranslated" if "reply_carried_by" in d
                else f"route the replies back through the request's translator ({req_at})"
                if req_at.startswith("between ") else f"route the replies back through {req_at}")
        action = (f"Make one device own the translation of {addr}: remove the second NAT, or "
                  f"{back}.")
    return headline, action


def missing_fields(blind: Mapping[str, Sequence[str]]) -> list[str]:
    """What the captures' text left out, in words: ``no TCP flags in the capture text of
    points a, b``, ``no sequence numbers at point a``."""
    out = []
    for field, words in ((FLAGS, "no TCP flags in the capture text of"),
                         (SEQ, "no sequence numbers at")):
        where = [p for p, lacks in blind.items() if field in lacks]
        if where:
            out.append(f"{words} point{'s' if len(where) > 1 else ''} {', '.join(where)}")
    return out


def inconclusive(failed: Sequence[Failure], findings: Sequence[Finding],
                 blind: Mapping[str, Sequence[str]] | None = None) -> Diagnosis:
    """The first of the failures the captures cannot explain, naming the evidence that is
    missing: points without packets of it, fields the captures lack (``blind``), clocks that
    are unknown; and how many others failed at its point (counted there: NAT elsewhere may
    show a client in another form)."""
    failure = failed[0]
    c = failure.connection
    others = len({x.connection.client for x in failed if x.connection.point == c.point}) - 1
    missing = [f"packets of it at {p}" for p in failure.unseen]
    missing.extend(missing_fields(blind or {}))
    missing.extend(f"{f.details.get('point')}'s clock ({f.details.get('reason')})"
                   for f in findings if f.kind == "clock-unknown")
    missing.extend(f.details["missing"] for f in findings
                   if f.kind == RESET_ORIGIN_UNKNOWN and f.connection == c.key)
    missing.extend(f"a capture at {f.details['point']} that drops no packets (it dropped "
                   f"{f.details['dropped']})" for f in findings if f.kind == CAPTURE_DROPPED)
    missing.extend(f"a capture at {f.details['point']} of both directions" for f in findings
                   if f.kind == ONE_WAY_CAPTURE)
    if not missing:
        missing.append("a capture point on each side of where its packets stop")
    ev = tuple(e for f in findings if f.connection == c.key for e in f.evidence[:3])
    how = (f"{c.outcome} at {c.point}" if c.outcome in FAILED
           else f"stalled: {c.retransmissions} retransmissions at {c.point}")
    headline = (f"inconclusive: {c.client} > {c.server} failed ({how}), "
                f"but the captures do not show where or why")
    explanation = "Missing: " + "; ".join(missing) + "."
    if others:
        explanation += (f" ({count_text(others, 'other connection')} also failed at "
                        f"{c.point}.)")
    action = ("Capture at the points named, with seq numbers (pcap, or tcpdump -S) and clocks "
              "in sync, and analyze again.")
    return Diagnosis(headline, explanation, action, ev, (INCONCLUSIVE,))


_DOUBTS = {"capture_dropped", "one_way", "unmatched", "untimed"}
"""The details of a finding ``doubt.doubted`` took off the root causes."""


def _same_client(f: Finding, c: Connection) -> bool:
    """Whether ``f`` is about connection ``c`` (seen at one point, maybe in another form: the
    client's endpoint is the same at every point, as NAT at the server's side leaves it)."""
    return f.connection is not None and c.client in (f.connection.a, f.connection.b)


def _doubted(f: Finding) -> Diagnosis:
    """A cause the packets suggest, resting on packets missing only at points whose captures
    may not show them (they dropped packets, show the other direction only, or were printed
    without the flags that match them), or on captures without times: it may be the
    captures', so no cause is concluded."""
    if "untimed" in f.details:
        return _untimed(f)
    points = absent_at(f)
    one_sided = [p for p in f.details.get("one_way", "").split(", ") if p]
    unmatched = [p for p in f.details.get("unmatched", "").split(", ") if p]
    lossy = [p for p in points if p not in one_sided and p not in unmatched]
    counts = dict(zip(lossy, f.details.get("capture_dropped", "").split(", "), strict=False))
    seems = _seems(f, points)
    one = "packets of one direction only"
    why = [f"{p}'s capture dropped {count_text(int(n), 'packet')} "
           f"{'itself' if len(points) == 1 else 'themselves'}" for p, n in counts.items()]
    why += [f"{p}'s capture shows {one}" for p in one_sided]
    why += [f"{p}'s packets carry no TCP flags" for p in unmatched]
    needed = [f"a capture at {p} that drops no packets (it dropped {n})"
              for p, n in counts.items()]
    needed += [f"a capture at {p} of both directions (it shows {one})" for p in one_sided]
    needed += [f"tcpdump's text at {p} with the TCP flags (without -q), or its pcap"
               for p in unmatched]
    steps = [f"at {' and '.join(lossy)} so that it drops nothing (a larger buffer: tcpdump "
             "-B 16384; a narrower filter; -w to a file)"] if lossy else []
    steps += [f"at {' and '.join(one_sided)} without a direction or one-way filter (no -Q; "
              "'host A and host B', not 'dst host B')"] if one_sided else []
    steps += [f"at {' and '.join(unmatched)} printed without -q (or as pcap: tcpdump -w)"
              ] if unmatched else []
    headline = f"inconclusive: {seems}, but {' and '.join(why)}"
    explanation = f"{_sentence(f.summary)} Missing: {'; '.join(needed)}."
    action = f"Capture again {', and '.join(steps)}, and analyze again."
    return Diagnosis(headline, explanation, action, tuple(f.evidence), (INCONCLUSIVE,))


def _seems(f: Finding, points: Sequence[str]) -> str:
    """What a doubted finding suggests, in a few words."""
    if f.kind == ASYMMETRIC_NAT:
        return f"the reply seems to bypass {f.details.get('request_at')}'s translation"
    if f.kind == RESET_NOT_FROM_SERVER:
        return "the RST seems not to come from the server"
    if "last_seen" in f.details:
        return f"packets seem lost between {f.details['last_seen']} and {' and '.join(points)}"
    # a point's own finding of one of its connections (a point given alone)
    return (f"{f.details.get('point', '?')} sees a connection fail "
            f"({f.details.get('outcome', f.kind)})")


def _untimed(f: Finding) -> Diagnosis:
    """A cause the packets suggest, from captures none of which has a usable time."""
    return Diagnosis(
        "inconclusive: no capture has usable times (tcpdump -t), so the order the packets "
        "passed the points, and where one stopped or began, cannot be told",
        f"{_sentence(f.summary)} Missing: times in the captures (pcap files, or tcpdump text "
        "printed without -t).",
        "Capture again with times (tcpdump -w to a file, or text without -t), and analyze "
        "again.", tuple(f.evidence), (INCONCLUSIVE,))


def _one_way_only(f: Finding) -> Diagnosis:
    """Handshakes that look failed only at a point whose capture shows one direction: not
    failures, and not known to be healthy either."""
    point, n = f.details["point"], int(f.details["failed"])
    return Diagnosis(
        f"inconclusive: {point}'s capture shows packets {towards(f.details['direction'])} "
        "only, so whether "
        f"{'its handshake was' if n == 1 else f'its {n} handshakes were'} answered cannot be "
        "told",
        f"{count_text(n, 'handshake')} {'looks' if n == 1 else 'look'} failed at {point} "
        "(a SYN unanswered, a SYN-ACK "
        f"unacknowledged) only because the other direction is not in its capture (its own "
        f"packets show the other side's reached their sender: an ACK past a handshake), and "
        f"no other point shows {'it' if n == 1 else 'them'}. Missing: a capture at {point} "
        "of both directions.",
        f"Capture at {point} again without a direction or one-way filter (no -Q; 'host A and "
        "host B', not 'dst host B'), and analyze again.", (), (INCONCLUSIVE,))


def without_flags(points: Sequence[str],
                  blind: Mapping[str, Sequence[str]] | None = None) -> Diagnosis:
    """Captures whose TCP packets carry no flags (tcpdump ``-q`` text): no handshake, reset or
    loss can be told from them, so neither a failure nor health is concluded. ``blind`` names
    the fields missing at each point (the flags at ``points`` at least)."""
    where = ", ".join(points)
    headline = (f"inconclusive: the TCP packets at {where} carry no flags, so handshakes, "
                f"resets and losses cannot be seen there")
    missing = missing_fields(blind or {p: (FLAGS,) for p in points})
    explanation = f"Missing: {'; '.join(missing)}; the text looks printed with tcpdump -q."
    action = "Capture again without -q (pcap, or tcpdump -n -S text), and analyze again."
    return Diagnosis(headline, explanation, action, (), (INCONCLUSIVE,))
