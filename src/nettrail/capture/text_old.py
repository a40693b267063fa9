"""TCP as tcpdump 3.x printed it (and as old mailing-list posts still show it).

``client.1284 > server.22: S 2549095564:2549095564(0) win 32120 <mss 1460,sackOK,timestamp
649398 0,nop,wscale 0> (DF) [tos 0x10]  (ttl 46, id 18387, len 60)``: the flags as letters
(``.`` alone for a pure ACK; the ACK flag is implied by ``ack N``), then ``first:last(length)``,
``ack``, ``win``, ``urg``, options in angle brackets (``timestamp A B`` for TS), and after
them the IP details 3.x put at the end of the line: ``(DF)``, ``[tos 0x10]``, ``(ttl 46, id
18387, len 60)``.
"""

from __future__ import annotations

import re

from nettrail.capture.text_fields import (
    TextError,
    VerboseHeader,
    check_tcp_numbers,
    fits,
    parse_options,
    tcp_flags,
)
from nettrail.model.packet import ACK, NO_OPTIONS, TCPHeader, tcp_header_len

_TCP3 = re.compile(
    r"([SFRPUEWe]+|\.)(?: (\d+):(\d+)\((\d+)\))?(?: ack (\d+))?(?: win (\d+))?(?: urg \d+)?"
    r"(?: <([^>]*)>)?(?=\s|$)"
)
_TIMESTAMP = re.compile(r"timestamp (\d+) (\d+)")
_TTL = re.compile(r"\(ttl (\d+), id (\d+)(?:, len (\d+))?")
_TOS = re.compile(r"\[tos 0x([0-9a-fA-F]+)\]")


def is_old_tcp(rest: str) -> bool:
    """Whether ``rest`` (after ``a.1 > b.2: ``) reads as a 3.x TCP segment."""
    m = _TCP3.match(rest)
    return m is not None and (m.group(2) is not None or m.group(5) is not None
                              or m.group(6) is not None)


def old_ip_details(rest: str, vh: VerboseHeader) -> VerboseHeader:
    """``vh`` completed with the IP details 3.x prints at the end of the line (``[tos ..]``
    only when it is not 0: with the TTL details printed, no ``[tos]`` says 0)."""
    m = _TTL.search(rest)
    t = _TOS.search(rest)
    if m is None and t is None and "(DF)" not in rest:
        return vh
    ttl, ip_id, length, tos = vh.ttl, vh.ip_id, vh.length, vh.tos
    if m is not None:
        ttl, ip_id = fits("ttl", int(m.group(1)), 0xFF), fits("id", int(m.group(2)), 0xFFFF)
        length = int(m.group(3)) if m.group(3) else length
        tos = 0
    if t is not None:
        tos = fits("tos", int(t.group(1), 16), 0xFF)
    return vh._replace(ttl=ttl, ip_id=ip_id, length=length, df=vh.df or "(DF)" in rest,
                       tos=tos)


def old_tcp(rest: str, sport: int, dport: int) -> TCPHeader:
    """The TCP header of a 3.x segment (``is_old_tcp(rest)`` holds)."""
    m = _TCP3.match(rest)
    if m is None:
        raise TextError("a tcpdump 3.x TCP segment that cannot be read")
    letters, first, _last, length, ack_s, win_s, opts = m.groups()
    flags = tcp_flags(letters) if letters != "." else ACK
    if ack_s is not None:
        flags |= ACK
    options = NO_OPTIONS
    if opts:
        opts = _TIMESTAMP.sub(r"TS val \1 ecr \2", opts.replace("[|tcp]", ""))
        try:
            options = parse_options(opts)
        except TextError:
            options = NO_OPTIONS
    return check_tcp_numbers(TCPHeader(
        sport, dport, flags, int(first) if first is not None else None,
        int(ack_s) if ack_s is not None else None, int(win_s) if win_s is not None else None,
        int(length) if length is not None else 0, options,
    ))


def old_tcp_len(tcp: TCPHeader) -> int:
    """TCP header and payload length of a 3.x segment, as an estimate."""
    return tcp_header_len(tcp.options) + tcp.payload_len
