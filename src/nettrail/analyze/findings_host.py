"""What one point's packets say about the host itself: packets dropped inside it after the
capture saw them arrive (a SYN-ACK or data its receiver acts as if it never got, a SYN its
server never answers), and resets whose IP fields betray a device that injected them.

Copies of one packet at a point (``tcpdump -i any``: every interface it crosses) are grouped;
a packet whose first copy goes *out* was sent by this host, one whose last copy comes *in*
ended here (delivered to this host's stack, or dropped on the way to it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple, TypeVar

import numpy as np

from nettrail.analyze.flows import COPY_WINDOW_NS, copy_gap, evidence
from nettrail.analyze.host_scope import HostScope, Part, parts_suspects, scope_of
from nettrail.analyze.icmp_tie import about, named_flows
from nettrail.analyze.suspects import FIRST_TTLS
from nettrail.model.finding import Evidence, Finding, Severity
from nettrail.model.flow import Endpoint, FlowKey
from nettrail.model.packet import (
    ACK,
    RST,
    SYN,
    ICMPHeader,
    IPHeader,
    PacketRecord,
    TCPHeader,
)
from nettrail.model.table import PacketTable

RESET_INJECTED = "reset-injected"
DROPPED_AFTER_CAPTURE = "dropped-after-capture"
REJECTED = "rejected"


class Packet(NamedTuple):
    """One packet at one point: its copies in time order, and its TCP header."""

    copies: tuple[PacketRecord, ...]
    tcp: TCPHeader
    arrived: bool = False
    left: bool = False

    @property
    def first(self) -> PacketRecord:
        """The first copy."""
        return self.copies[0]

    @property
    def sent_here(self) -> bool:
        """True when the packet's first copy leaves and no copy of it in another form (before
        a NAT here) came in first: this host sent it."""
        return self.copies[0].direction == "out" and not self.arrived

    @property
    def made_here(self) -> bool:
        """True when this host sent it (``sent_here``) with a TTL (hop limit) senders start
        with, where the capture shows one: a packet forwarded by a router, seen leaving by a
        capture of its outgoing interface alone, is one hop older."""
        ip = self.copies[0].ip
        return self.sent_here and (ip is None or _first_ttl(ip.ttl))

    @property
    def ended_here(self) -> bool:
        """True when the packet's last copy arrives and no copy of it in another form (after a
        NAT here) left: it went no further than this host."""
        return self.copies[-1].direction == "in" and not self.left


# a group's last copy: (flags, seq, ack, payload length, source, source port), IP ID, time,
# (interface, direction)
_Last = tuple[tuple[object, ...], int | None, int, tuple[str | None, str | None]]
_T = TypeVar("_T")
_Held = tuple[list[list[PacketRecord]], list[_Last],
              list[tuple[TCPHeader, int | None, tuple[object, ...] | None]]]


def _packets(records: Iterable[PacketRecord], tunnelled: Iterable[PacketRecord] = (),
             ) -> dict[FlowKey, list[Packet]]:
    """TCP packets by connection, each packet's copies grouped; ``tunnelled``: the point's
    records of TCP packets inside a tunnel (VXLAN, GRE, ...), the same packets in another
    form where the point is a tunnel's end (a packet that came in encapsulated and left
    bare was not sent by this host)."""
    # per address/port quadruple: its connection's groups, and each group's last copy's
    # (flags, seq, ack, payload length, source, source port), IP ID and time
    # and each group's first copy's TCP header, IP ID and invariant (None: not keyed)
    by_key: dict[FlowKey, _Held] = {}
    # the same packet in another form (NAT at this point): same TCP fields, moments apart
    seen: dict[tuple[object, ...], list[PacketRecord]] = defaultdict(list)
    for r, ip, tcp, held in _by_connection(records, by_key, lambda: ([], [], [])):
        groups, sigs, heads = held
        sig = (tcp.flags, tcp.seq, tcp.ack, tcp.payload_len, ip.src, tcp.sport)
        ip_id, ts, where = ip.ip_id, r.ts_ns, (r.ifname, r.direction)
        inv = None
        if tcp.seq is not None or ip_id:  # fields that tell one packet from another
            inv = (tcp.flags, tcp.seq, tcp.ack, tcp.payload_len, ip_id)
            seen[inv].append(r)
        n = len(groups)
        for j in range(n - 1, max(n - 8, 0) - 1, -1):
            o_sig, o_ip_id, o_ts, o_where = sigs[j]
            if (copy_gap(ts - o_ts, ip_id) and o_sig == sig
                    and (ip_id is None or o_ip_id == ip_id) and o_where != where):
                groups[j].append(r)
                sigs[j] = (sig, ip_id, ts, where)
                break
        else:
            groups.append([r])
            sigs.append((sig, ip_id, ts, where))
            heads.append((tcp, ip_id, inv))
    for r in tunnelled:
        if r.inner is None:
            continue
        inner_ip, inner = r.inner.ip, r.inner.l4
        if inner_ip is not None and isinstance(inner, TCPHeader) and (
                inner.seq is not None or inner_ip.ip_id):
            seen[(inner.flags, inner.seq, inner.ack, inner.payload_len,
                  inner_ip.ip_id)].append(r)
    return {key: [_packet(g, seen[inv] if inv is not None else [], tcp, ip_id)
                  for g, (tcp, ip_id, inv) in zip(groups, heads, strict=True)]
            for key, (groups, _sigs, heads) in by_key.items()}


def _single_packets(records: Iterable[PacketRecord], tunnelled: Iterable[PacketRecord] = (),
                    ) -> dict[FlowKey, list[Packet]]:
    """``_packets`` of TCP records all captured in one place (one interface, no direction):
    no record is a copy of another and none arrived or left, so each is a packet alone (and
    ``tunnelled`` tells nothing)."""
    del tunnelled
    by_key: dict[FlowKey, list[Packet]] = {}
    for r, _ip, tcp, held in _by_connection(records, by_key, list):
        held.append(Packet((r,), tcp))
    return by_key


def _by_connection(records: Iterable[PacketRecord], by_key: dict[FlowKey, _T],
                   new: Callable[[], _T]) -> Iterator[tuple[PacketRecord, IPHeader, TCPHeader, _T]]:
    """The TCP records (outer headers) in time order, each with what ``by_key`` holds for its
    connection (``new()`` for a connection's first record)."""
    by_quad: dict[tuple[str, int, str, int], _T] = {}
    for r in sorted(records, key=_ts_of):
        h = r.headers
        ip, tcp = h.ip, h.l4
        if r.inner is not None or ip is None or not isinstance(tcp, TCPHeader):
            continue
        quad = (ip.src, tcp.sport, ip.dst, tcp.dport)
        held = by_quad.get(quad)
        if held is None:
            key = FlowKey.of(6, Endpoint(ip.src, tcp.sport), Endpoint(ip.dst, tcp.dport))
            held = by_key.get(key)
            if held is None:
                held = by_key[key] = new()
            by_quad[quad] = held
        yield r, ip, tcp, held


def _ts_of(r: PacketRecord) -> int:
    return r.ts_ns


def _packet(g: list[PacketRecord], same: list[PacketRecord], tcp: TCPHeader,
            ip_id: int | None) -> Packet:
    """One packet (``tcp`` and ``ip_id``: its first copy's), noting copies of it in other
    forms that came in before or left after."""
    first, last = g[0].ts_ns, g[-1].ts_ns
    mine = {id(r) for r in g}
    others = [r for r in same if id(r) not in mine and copy_gap(abs(r.ts_ns - first), ip_id)]
    arrived = any(r.direction == "in" and r.ts_ns <= first for r in others)
    left = any(r.direction == "out" and r.ts_ns >= last for r in others)
    return Packet(tuple(g), tcp, arrived, left)


def _suspects(records: Sequence[PacketRecord], icmp: Sequence[PacketRecord],
              own: set[str]) -> list[PacketRecord]:
    """The TCP records of connections worth a closer look (one cheap pass): those with a RST
    that may be found injected (``_may_be_injected``), with a SYN or data segment to or from
    an address of the host (``own``) sent again later than a copy would be, or named by an
    ICMP error (by its quote, or by its addresses when it quotes no ports); and the same
    packets in another form (translated at this point)."""
    first: dict[tuple[object, ...], int] = {}
    flows, unquoted = named_flows(icmp)  # unquoted: (offending packet's source, destination)
    reset: set[tuple[str, int, str, int]] = set()
    tcp_header = TCPHeader
    for r in records:
        h = r.headers
        l4, ip = h.l4, h.ip
        if type(l4) is not tcp_header or ip is None or r.inner is not None:
            continue
        flags = l4.flags
        if flags & RST or (ip.src, ip.dst) in unquoted:
            (flows if (ip.src, ip.dst) in unquoted else reset).add(
                (ip.src, l4.sport, ip.dst, l4.dport))
        elif (flags & SYN or l4.payload_len) and (ip.src in own or ip.dst in own):
            k = (ip.src, l4.sport, l4.seq, flags, l4.payload_len)
            t = first.setdefault(k, r.ts_ns)
            if r.ts_ns - t > COPY_WINDOW_NS:
                flows.add((ip.src, l4.sport, ip.dst, l4.dport))
    del first
    if not flows and not reset:
        return []
    every = flows | reset
    ends = {(a, p) for a, p, _b, _q in every} | {(b, q) for _a, _p, b, q in every}
    pairs = {((a, p), (b, q)) for a, p, b, q in every} | {((b, q), (a, p))
                                                          for a, p, b, q in every}
    named = {frozenset(((a, p), (b, q))) for a, p, b, q in flows}
    by_conn: dict[frozenset[tuple[str, int]], list[tuple[int, PacketRecord]]] = {}
    for i, r in enumerate(records):
        l4, ip = r.headers.l4, r.headers.ip
        if type(l4) is tcp_header and ip is not None and r.inner is None:
            src = (ip.src, l4.sport)
            if src in ends and (src, (ip.dst, l4.dport)) in pairs:
                by_conn.setdefault(frozenset((src, (ip.dst, l4.dport))), []).append((i, r))
    chosen = sorted((x for conn, rows in by_conn.items() if conn in named
                     or _may_be_injected([r for _i, r in rows]) for x in rows),
                    key=lambda x: x[0])
    out = [r for _i, r in chosen]
    # the chosen ones by place, not by identity: a table's rows are built anew at each pass
    mine = {i for i, _r in chosen}
    # (flags, seq, ack, payload length, IP ID) of those with a seq or IP ID: the same packet in
    # another form has them too
    wanted = {(r.l4.flags, r.l4.seq, r.l4.ack, r.l4.payload_len, r.headers.ip.ip_id)
              for r in out if isinstance(r.l4, TCPHeader) and r.headers.ip is not None
              and (r.l4.seq is not None or r.headers.ip.ip_id)}
    seqs = {k[1] for k in wanted}
    for i, r in enumerate(records):
        l4, ip = r.headers.l4, r.headers.ip
        if (type(l4) is tcp_header and l4.seq in seqs and r.inner is None and ip is not None
                and i not in mine
                and (l4.flags, l4.seq, l4.ack, l4.payload_len, ip.ip_id) in wanted):
            out.append(r)
    return out


def _may_be_injected(recs: Sequence[PacketRecord]) -> bool:
    """Whether one of the RSTs among a connection's TCP records ``recs`` could be judged
    injected (``_injected_reset``): its TTL (when known) none of the known ones of its
    sender's other packets seen the same way (interface and direction), its DSCP none of
    theirs, its window above four times the largest its sender announced after the
    handshake, or its IP ID 1 to 3 past one of the other side's. Every other RST fits all
    four checks (``suspects._may_be_injected`` judges so from columns)."""
    for r in recs:
        ip, l4 = r.headers.ip, r.headers.l4
        if ip is None or not isinstance(l4, TCPHeader) or not l4.flags & RST:
            continue
        theirs = [p.headers.ip.ip_id for p in recs if p.headers.ip is not None
                  and p.headers.ip.src == ip.dst != ip.src and p.headers.ip.ip_id]
        mine = [p for p in recs if p.headers.ip is not None and p.headers.ip.src == ip.src
                and isinstance(p.headers.l4, TCPHeader) and not p.headers.l4.flags & RST]
        wins = [t.window for p in mine if isinstance(t := p.headers.l4, TCPHeader)
                and not t.flags & SYN and t.window is not None]
        way = [m for p in mine if (m := p.headers.ip) is not None
               and (p.ifname, p.direction) == (r.ifname, r.direction)]
        ttls = {m.ttl for m in way if m.ttl is not None}
        if ((ip.ttl is not None and ttls and ip.ttl not in ttls)
                or (way and (ip.tos or 0) >> 2 not in {(m.tos or 0) >> 2 for m in way})
                or (l4.window and wins and l4.window > 4 * max(wins))
                or (ip.ip_id and any(1 <= ip.ip_id - i <= 3 for i in theirs))):
            return True
    return False


def host_findings(point: str, records: Sequence[PacketRecord],
                  table: PacketTable | None = None) -> list[Finding]:
    """Resets injected by a device in between and packets dropped inside this host.
    ``table``: the point's packet table, when ``records`` are its rows: suspects are then
    picked from its columns (``host_scope``), else from the records."""
    if table is not None:
        return parts_findings(point, lambda: [(table, np.arange(len(table)))], scope_of(table),
                              table.addr_text)
    icmp = [r for r in records
            if type(r.headers.l4) is ICMPHeader and r.headers.l4.is_unreachable]
    own = own_addresses(records)
    tunnelled = [r for r in records if r.inner is not None and type(r.inner.l4) is TCPHeader]
    return _checks(point, _suspects(records, icmp, own), tunnelled, icmp, own, _packets)


def parts_findings(point: str, parts: Callable[[], Iterable[Part]], scope: HostScope,
                   addr_text: Callable[[int, int], str]) -> list[Finding]:
    """``host_findings`` of a point read in partitions (``parts`` gives them, with each row's
    number in the whole table; ``scope``: the point's, ``host_scope.joined``; ``addr_text``:
    the point's table's), the same as of its whole table."""
    return host_checks(point, parts_suspects(parts, scope), scope, addr_text)


def host_checks(point: str, suspects: Sequence[PacketRecord], scope: HostScope,
                addr_text: Callable[[int, int], str]) -> list[Finding]:
    """The findings of ``suspects`` (the records of the connections worth a look, picked from
    a table's columns) at a point of ``scope``."""
    if not suspects:
        return []
    if scope.single:
        return _checks(point, suspects, scope.tunnelled, scope.icmp, set(), _single_packets)
    own = {addr_text(e >> 32, e & 0xFFFFFFFF) for e in scope.own.tolist()}
    return _checks(point, suspects, scope.tunnelled, scope.icmp, own, _packets)


def _checks(point: str, suspects: Sequence[PacketRecord], tunnelled: Sequence[PacketRecord],
            icmp: Sequence[PacketRecord], own: set[str],
            packets: Callable[[Iterable[PacketRecord], Iterable[PacketRecord]],
                              dict[FlowKey, list[Packet]]]) -> list[Finding]:
    """Each suspect connection's injected reset and packet dropped here, if any."""
    out: list[Finding] = []
    for key, pkts in packets(suspects, tunnelled).items():
        found = _injected_reset(point, key, pkts)
        if found is not None:
            out.append(found)
        dropped = (_synack_ignored(point, key, pkts, icmp, own)
                   or _data_ignored(point, key, pkts, own)
                   or _syn_ignored(point, key, pkts, icmp, own)
                   or _syn_rejected(point, key, pkts, icmp))
        if dropped is not None:
            out.append(dropped)
    return out


def own_addresses(records: Iterable[PacketRecord]) -> set[str]:
    """The addresses that live on this point's host, as its packets show: packets from them
    leave it, with a TTL (hop limit) a sender starts with (64, 128, 255) where the capture
    shows one, and none arrive at it and none leave with another TTL. A router's packets from
    elsewhere arrive, then leave, one hop older (a capture of its outgoing interface alone,
    with directions, shows only the leaving: the TTL tells); a host with a container or a VM
    behind a bridge sees their packets arrive on the way. (``suspects.own_parts`` reads the
    same from a table's columns.)"""
    mine_ips: set[str] = set()
    other_ips: set[str] = set()
    for r in records:
        ip = r.headers.ip
        if ip is not None and r.direction in ("in", "out"):
            own = r.direction == "out" and _first_ttl(ip.ttl)
            (mine_ips if own else other_ips).add(ip.src)
    return mine_ips - other_ips


def _first_ttl(ttl: int | None) -> bool:
    """Whether a packet leaving with ``ttl`` may have been sent by this host: a TTL senders
    start with, or none shown (text without ``-v``)."""
    return ttl is None or ttl in FIRST_TTLS


def _src(p: Packet) -> str:
    ip = p.first.ip
    return ip.src if ip is not None else ""


def _injected_reset(point: str, key: FlowKey, pkts: Sequence[Packet]) -> Finding | None:
    """A RST whose TTL, IP ID, TOS or window does not fit its claimed sender's other packets
    here."""
    for i, rst in enumerate(pkts):
        if not rst.tcp.flags & RST:
            continue
        sender = _src(rst)
        mine = [p for p in pkts if _src(p) == sender and not p.tcp.flags & RST]
        peer = [p for p in pkts[:i] if _src(p) != sender]
        fields = [f for f in (_ttl_misfit(rst, mine, sender), _ip_id_misfit(rst, mine, peer,
                                                                            sender),
                              _tos_misfit(rst, mine, peer, sender),
                              _window_misfit(rst, mine, sender)) if f]
        if fields:
            before = [p for p in pkts[:i] if _src(p) == sender and not p.tcp.flags & RST]
            return _injected(point, key, rst, before, fields)
    return None


def _same_way(rst_copy: PacketRecord, pkts: Sequence[Packet]) -> list[PacketRecord]:
    """The copies of ``pkts`` seen on the interface and in the direction of ``rst_copy``."""
    here = (rst_copy.ifname, rst_copy.direction)
    return [c for p in pkts for c in p.copies if (c.ifname, c.direction) == here]


def _own_values(rst: Packet, mine: Sequence[Packet], field: str) -> Iterator[tuple[int, set[int]]]:
    """For each copy of the RST that has IP header ``field``: its value, and the values the
    sender's packets arriving the same way had (copies with none of those are skipped)."""
    for copy in rst.copies:
        value = getattr(copy.ip, field) if copy.ip is not None else None
        if value is None:
            continue
        same = {getattr(c.ip, field) for c in _same_way(copy, mine) if c.ip is not None}
        same.discard(None)
        if same:
            yield value, same


def _ttl_misfit(rst: Packet, mine: Sequence[Packet], sender: str) -> str | None:
    """The RST's TTL, when the sender's packets arriving the same way all had others."""
    for ttl, same in _own_values(rst, mine, "ttl"):
        if ttl not in same:
            ttls = "/".join(map(str, sorted(same)))
            return f"TTL {ttl} where {sender}'s other packets here have {ttls}"
    return None


def _ip_id_misfit(rst: Packet, mine: Sequence[Packet], peer: Sequence[Packet],
                  sender: str) -> str | None:
    """The RST's IP ID, when it continues the other side's IP IDs, far from the sender's."""
    rid = rst.first.ip.ip_id if rst.first.ip is not None else None
    theirs = [p.first.ip.ip_id for p in peer if p.first.ip is not None and p.first.ip.ip_id]
    own = [p.first.ip.ip_id for p in mine if p.first.ip is not None and p.first.ip.ip_id]
    if rid and theirs and own and 0 < rid - theirs[-1] <= 3 and min(
            abs(rid - o) for o in own) > 16:
        return f"IP ID {rid} continuing the other side's ({theirs[-1]}), not {sender}'s"
    return None


def _tos_misfit(rst: Packet, mine: Sequence[Packet], peer: Sequence[Packet],
                sender: str) -> str | None:
    """The RST's TOS (its DSCP; the ECN bits differ between data and control packets), when
    the sender's packets arriving the same way never had it and neither did the other side's:
    a stack resets with its socket's TOS, or, without a socket, with the TOS of the packet it
    answers. Not judged once the sender was sent a RST here: its socket is gone, so its RST
    answers a later packet, which may have taken a path this point does not see; nor when no
    packet of the other side was seen here before it (the replies take another path: the
    packet it answers is not here either)."""
    if not peer or any(p.tcp.flags & RST for p in peer):
        return None
    answered = {c.ip.tos >> 2 for p in peer for c in p.copies if c.ip is not None
                and c.ip.tos is not None}
    for tos, same in _own_values(rst, mine, "tos"):
        if tos >> 2 not in {t >> 2 for t in same} | answered:
            known = "/".join(f"{t:#04x}" for t in sorted(same))
            return f"TOS {tos:#04x} where {sender}'s other packets here have {known}"
    return None


WINDOW_SLACK = 4
"""How far beyond the largest window its sender announced a RST's window may go (the window
grows as the receiver reads; a RST carries the last one, or 0)."""


def _window_misfit(rst: Packet, mine: Sequence[Packet], sender: str) -> str | None:
    """The RST's window, when it is far larger than any its sender announced after the
    handshake (stacks send 0, or the connection's current window)."""
    win = rst.tcp.window
    wins = [p.tcp.window for p in mine if not p.tcp.flags & SYN and p.tcp.window is not None]
    if not win or not wins or win <= WINDOW_SLACK * max(wins):
        return None
    return f"window {win} where {sender}'s other packets here announce at most {max(wins)}"


def _injected(point: str, key: FlowKey, rst: Packet, before: Sequence[Packet],
              fields: Sequence[str]) -> Finding:
    """The finding of a RST whose ``fields`` misfit its sender's other packets (``before``:
    those that came before it here, the last of which is shown)."""
    sender = rst.first.ip.src if rst.first.ip is not None else "?"
    ev = [evidence(before[-1].first, f"{sender}'s last packet before it")] if before else []
    ev.append(evidence(rst.first, "RST: " + "; ".join(fields)))
    by = f"made by {point} itself (it leaves {point} first)" if rst.sent_here else \
        "injected by a device in between"
    summary = (f"{point}: the RST from {sender} was {by}, not sent by the device that sent "
               f"{sender}'s other packets: " + "; ".join(fields))
    details = {"point": point, "address": sender, "fields": "; ".join(fields)}
    if rst.sent_here:
        details["origin"] = point
    return Finding(RESET_INJECTED, Severity.ERROR, summary, tuple(ev), root_cause=True,
                   connection=key, details=details)


def _synack_ignored(point: str, key: FlowKey, pkts: Sequence[Packet],
                    icmp: Sequence[PacketRecord], own: set[str]) -> Finding | None:
    """A SYN-ACK seen arriving at the client's own host (``own``: the addresses that live
    there), which then sends its SYN again or answers with an ICMP unreachable, as if it
    never got it."""
    for i, synack in enumerate(pkts):
        if synack.tcp.flags & (SYN | ACK) != SYN | ACK or not synack.ended_here:
            continue
        client = synack.first.ip.dst if synack.first.ip is not None else ""
        if client not in own:
            continue
        again = next((p for p in pkts[i + 1:] if p.tcp.flags & (SYN | ACK) == SYN
                      and _src(p) == client and p.made_here), None)
        unreach = next((r for r in icmp if r.ts_ns >= synack.first.ts_ns and r.ip is not None
                        and r.ip.src == client and _about(r, synack)), None)
        if again is None and unreach is None:
            continue
        how = ("sends its SYN again" if again is not None
               else "answers it with an ICMP unreachable")
        ev: list[Evidence] = [evidence(synack.copies[-1], "SYN-ACK arrives at this host")]
        if again is not None:
            ev.append(evidence(again.first, "the client sends its SYN again"))
        if unreach is not None:
            ev.append(evidence(unreach, "ICMP unreachable from the client's host"))
        return _dropped_after_capture(
            point, key, "SYN-ACK", client, ev,
            f"the SYN-ACK reached {point} but {client} {how}, as if it never got it",
            " (a firewall rule, conntrack INVALID, a bad checksum, or a port taken by "
            "something else)")
    return None


def _syn_ignored(point: str, key: FlowKey, pkts: Sequence[Packet],
                 icmp: Sequence[PacketRecord], own: set[str]) -> Finding | None:
    """A client's SYN seen arriving at its server's own host (``own``: the addresses that
    live there), every sending of it, at least two (no answer reached the client), and
    nothing from the server in the connection here, no SYN-ACK, RST or ICMP error: the host
    never answered it."""
    syns = [p for p in pkts if p.tcp.flags & (SYN | ACK | RST) == SYN]
    ip = syns[0].first.ip if syns else None
    if len(syns) < 2 or ip is None or not all(p.ended_here for p in syns):
        return None
    server = ip.dst
    if any(_src(p) == server for p in pkts) or any(
            r.ip is not None and r.ip.src == server and _about(r, syns[0]) for r in icmp):
        return None
    if server not in own:
        return None  # the server may live beyond this point: it may have been lost there
    n = len(syns)
    ev = [evidence(syns[0].copies[-1], "SYN arrives at this host"),
          evidence(syns[-1].copies[-1], f"the client's SYN again ({n} in all), never answered")]
    return _dropped_after_capture(
        point, key, "SYN", server, ev,
        f"the client's SYN reached {point}, where {server} lives, {n} times, and it never "
        f"answered",
        " (a full listen queue: the server application does not accept connections; a "
        "firewall rule that drops it; SYN flood protection)")


_PORT_REJECT = ("a firewall's REJECT rule (a TCP stack answers a closed port with RST, never "
                "with ICMP)")
REJECT_WORDS = {
    (4, 3): ("port unreachable", _PORT_REJECT),
    (4, 9): ("network administratively prohibited", "a firewall rule"),
    (4, 10): ("host administratively prohibited", "a firewall rule"),
    (4, 13): ("communication administratively prohibited", "a firewall rule"),
    (4, 0): ("network unreachable", "no route to the server's network"),
    (4, 1): ("host unreachable", "no route to the server, or no ARP answer from it"),
    (6, 4): ("port unreachable", _PORT_REJECT),
    (6, 1): ("communication administratively prohibited", "a firewall rule"),
    (6, 5): ("source address failed policy", "a firewall or policy rule"),
    (6, 6): ("reject route", "a reject route to the server's network"),
    (6, 0): ("no route", "no route to the server's network"),
    (6, 3): ("address unreachable",
             "no route to the server, or no neighbour discovery answer from it"),
}
"""ICMP and ICMPv6 destination-unreachable codes a SYN is answered with, by IP version: what
the ICMP says, and what makes it."""


def _syn_rejected(point: str, key: FlowKey, pkts: Sequence[Packet],
                  icmp: Sequence[PacketRecord]) -> Finding | None:
    """A client's SYN answered with an ICMP destination unreachable that this point's host
    made: it leaves here, with a TTL senders start with where shown, and no copy of it came
    in first. The host that refused the connection is this one (the server's host or a
    router on the way)."""
    for syn in pkts:
        if syn.tcp.flags & (SYN | ACK | RST) != SYN:
            continue
        for r in icmp:
            l4, ip = r.headers.l4, r.headers.ip
            if (type(l4) is not ICMPHeader or ip is None
                    or (l4.version, l4.code) not in REJECT_WORDS
                    or r.ts_ns < syn.first.ts_ns or not _about(r, syn)
                    or not _icmp_made_here(r, icmp)):
                continue
            what, made_by = REJECT_WORDS[l4.version, l4.code]
            what = f"{l4.name} {what}"
            to = Endpoint(syn.first.ip.dst if syn.first.ip is not None else "?", syn.tcp.dport)
            ev = [evidence(syn.copies[-1], "SYN"), evidence(r, f"{what}, made here")]
            summary = (f"{point}: the SYN to {to} was answered with {what} from {ip.src}, "
                       f"which {point} made: {made_by}")
            return Finding(REJECTED, Severity.ERROR, summary, tuple(ev), root_cause=True,
                           connection=key, details={"point": point, "host": ip.src,
                                                    "code": str(l4.code), "packet": "SYN"})
    return None


def _icmp_made_here(r: PacketRecord, icmp: Sequence[PacketRecord]) -> bool:
    """Whether ICMP error ``r`` was made by this point's host: it leaves, with a TTL senders
    start with where shown, and no copy of it (the same source and quote) came in before."""
    ip = r.headers.ip
    if ip is None or r.direction != "out" or not _first_ttl(ip.ttl):
        return False
    quote = r.l4.quoted if isinstance(r.l4, ICMPHeader) else None
    return not any(c.direction == "in" and c.headers.ip is not None
                   and c.headers.ip.src == ip.src and isinstance(c.l4, ICMPHeader)
                   and c.l4.quoted == quote and 0 <= r.ts_ns - c.ts_ns <= COPY_WINDOW_NS
                   for c in icmp)


def _dropped_after_capture(point: str, key: FlowKey, packet: str, host: str,
                           ev: Sequence[Evidence], seen: str, causes: str = "") -> Finding:
    """The finding of a ``packet`` to ``host`` that ``point`` captured but its host dropped:
    ``seen`` says what the packets show, ``causes`` (with its leading space) what may do it."""
    summary = (f"{point}: {seen}: it was dropped inside {point} after the capture saw "
               f"it{causes}, not lost in the network")
    return Finding(DROPPED_AFTER_CAPTURE, Severity.ERROR, summary, tuple(ev), root_cause=True,
                   connection=key, details={"point": point, "packet": packet, "host": host})


def _about(r: PacketRecord, p: Packet) -> bool:
    """True when ICMP error ``r`` is about packet ``p``: by the header it quotes, or by its
    addresses and timing when it quotes none."""
    ip, tcp = p.first.ip, p.tcp
    if ip is None:
        return False
    t = p.first.ts_ns
    return about(r, r.ts_ns, Endpoint(ip.src, tcp.sport), Endpoint(ip.dst, tcp.dport), t, t)


def _data_ignored(point: str, key: FlowKey, pkts: Sequence[Packet],
                  own: set[str]) -> Finding | None:
    """A data segment seen arriving at its receiver's own host (``own``: the addresses that
    live there), never acknowledged by the ACKs that host sends after it, and sent again by
    the peer: the host never got it."""
    for i, seg in enumerate(pkts):
        tcp, ip = seg.tcp, seg.first.ip
        if not tcp.payload_len or tcp.seq is None or tcp.seq_relative or not seg.ended_here:
            continue
        if ip is None or ip.dst not in own:
            continue
        end = (tcp.seq + tcp.payload_len) & 0xFFFFFFFF
        again = next((p for p in pkts[i + 1:] if p.tcp.seq == tcp.seq and _src(p) == ip.src
                      and p.tcp.payload_len), None)
        theirs = [p for p in pkts if _src(p) == ip.dst]
        if again is None or not theirs or not all(
                p.made_here and all(c.direction == "out" for c in p.copies) for p in theirs):
            continue  # the receiver does not live on this host: all its packets start here
        if _paws_discards(tcp, seg.first.ts_ns, theirs):
            continue  # older than what its receiver took: TCP itself discards it (PAWS)
        acks = [p for p in pkts[i + 1:] if _src(p) == ip.dst and p.sent_here
                and p.tcp.flags & ACK and p.tcp.ack is not None
                and p.first.ts_ns <= again.first.ts_ns]
        if any(_reaches(p.tcp.ack, end) for p in acks if p.tcp.ack is not None):
            continue
        if any(_covers(p.tcp.options.sack, tcp.seq, end) for p in acks):
            continue  # acknowledged selectively (SACK): it got it, with a hole before it
        if not any(p.tcp.options.sack for p in acks) and not any(
                _reaches(p.tcp.ack, tcp.seq) for p in acks if p.tcp.ack is not None):
            continue  # a hole before it, and no SACK: its ACKs cannot tell
        ev = [evidence(seg.copies[-1], f"{tcp.payload_len}-byte segment arrives at this host"),
              evidence(again.first, "the peer sends it again")]
        return _dropped_after_capture(
            point, key, "data segment", ip.dst, ev,
            f"a {tcp.payload_len}-byte segment reached {point} but {ip.dst} never acknowledged "
            f"it ({len(acks)} ACK{'' if len(acks) == 1 else 's'} sent after it fall short) "
            f"and {ip.src} sent it again")
    return None


def _paws_discards(tcp: TCPHeader, ts_ns: int, theirs: Sequence[Packet]) -> bool:
    """True when the receiver's TCP discards segment ``tcp`` (arriving at ``ts_ns``) by design:
    its TS value is older than one the receiver had already taken (the TS echo of a packet it
    sent before), the PAWS check of RFC 7323 (a segment delayed behind later ones, or an old
    copy). The packets then show why it was dropped: no firewall or checksum took it."""
    val = tcp.options.ts_val
    if val is None:
        return False
    echoed = [p.tcp.options.ts_ecr for p in theirs if p.first.ts_ns < ts_ns]
    return any(e is not None and 1 < (e - val) & 0xFFFFFFFF < 0x80000000 for e in echoed)


def _covers(blocks: Sequence[tuple[int, int]], first: int, end: int) -> bool:
    """True when one of SACK ``blocks`` covers the bytes from ``first`` to ``end``."""
    return any(_reaches(first, left) and _reaches(right, end) for left, right in blocks)


def _reaches(a: int, b: int) -> bool:
    """True when sequence number ``a`` is ``b`` or past it (modulo 2^32)."""
    return (a - b) & 0xFFFFFFFF < 0x80000000
