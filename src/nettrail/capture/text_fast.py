"""The fast path for the most common tcpdump line: a TCP segment with a time of day.

``08:10:55.545140 [eth0 In  ]IP[6] A.p > B.q: Flags [P.], seq 1:41, ack 1, win 63, options
[...], length 40`` is matched by one pattern and built directly; anything else (and any line
the pattern does not cover entirely) takes the general path in ``text_parse``.
"""

from __future__ import annotations

import re
from typing import Any

from nettrail.capture.text_fields import (
    ETH_LEN,
    TextError,
    parse_options,
    split_endpoint,
    tcp_flags,
    tcp_header_len,
)
from nettrail.capture.text_seq import SeqTracker
from nettrail.capture.text_time import NS, Clock
from nettrail.model.packet import (
    ACK,
    NO_OPTIONS,
    PROTO_TCP,
    SYN,
    Headers,
    IPHeader,
    PacketRecord,
    TCPHeader,
    TCPOptions,
)

_LINE = re.compile(
    r"(\d\d:\d\d:\d\d)\.(\d{6}) (?:([^\s>]+) +(In|Out|M|B|P) +)?IP(6?) "
    r"(\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([SFRPU.EWe]+|none)\]"
    r"(?:, seq (\d+)(?::\d+)?)?(?:, ack (\d+))?(?:, win (\d+))?"
    r"(?:, options \[(?:nop,nop,TS val (\d+) ecr (\d+)|([^\]]*))\])?"
    r", length (\d+)(?:: [^\r\n]*)?\r?\n?\Z"
)
_DIRECTIONS = {"In": "in", "Out": "out", "M": "in", "B": "in", "P": "in", None: None}
_NOP_NOP_TS = ("nop", "nop", "TS")
_SYN_OPTS = re.compile(r"mss (\d+),sackOK,TS val (\d+) ecr (\d+),nop,wscale (\d+)\Z")
_SYN_ORDER = ("mss", "sackOK", "TS", "nop", "wscale")
# Records are built with tuple.__new__ (what NamedTuple.__new__ does, minus a Python-level call):
# the fields after the ones given take their declared defaults.
_new: Any = tuple.__new__


def _tail(cls: Any, given: int) -> tuple[Any, ...]:
    """Defaults of the fields of the NamedTuple ``cls`` after the first ``given``."""
    return tuple(cls._field_defaults[f] for f in cls._fields[given:])


_RECORD_TAIL = _tail(PacketRecord, 8)
_HEADERS_TAIL = _tail(Headers, 3)
_TCP_TAIL = _tail(TCPHeader, 9)
_OPTIONS_TAIL = _tail(TCPOptions, 7)


class FastLine:
    """Matches and builds common TCP lines of one file, caching addresses and flags."""

    def __init__(self, path: str, point: str) -> None:
        self.path = path
        self.point = point
        self.match = _LINE.match
        self.addrs: dict[str, str | None] = {}
        self.ips: dict[tuple[str, str, str], IPHeader] = {}
        self.seconds: dict[str, int] = {}
        self.flags: dict[str, int] = {}

    def build(self, m: re.Match[str], lineno: int, clock: Clock, seqs: SeqTracker
              ) -> PacketRecord | None:
        """The record of a matched line, or None if a field is out of range (the general
        path then says what is wrong)."""
        (hms, us, ifname, direction, v6, src, sport, dst, dport, flags_s, seq_s, ack_s,
         win_s, ts_val, ts_ecr, opts_s, len_s) = m.groups()
        ip = self.ips.get((src, dst, v6))
        if ip is None:
            ip = self._ip(src, dst, v6)
        second = self.seconds.get(hms)
        if second is None:
            second = self._second(hms)
        sp, dp = int(sport), int(dport)
        flags = self.flags.get(flags_s)
        if flags is None:
            flags = self.flags[flags_s] = tcp_flags(flags_s)
        if ip is None or second < 0 or sp > 0xFFFF or dp > 0xFFFF:
            return None
        if ts_val is not None:
            options = _new(TCPOptions, (None, None, False, (), int(ts_val), int(ts_ecr),
                                        _NOP_NOP_TS, *_OPTIONS_TAIL))
            hdr = 32
        elif opts_s is None:
            options, hdr = NO_OPTIONS, 20
        else:
            syn = _SYN_OPTS.match(opts_s)
            if syn is not None:
                mss, tsv, tse, ws = syn.groups()
                options = _new(TCPOptions, (int(mss), int(ws), True, (), int(tsv), int(tse),
                                            _SYN_ORDER, *_OPTIONS_TAIL))
                hdr = 40
            else:
                try:
                    options = parse_options(opts_s)
                except TextError:
                    return None
                hdr = tcp_header_len(options)
        seq = int(seq_s) if seq_s is not None else None
        relative = False
        if ack_s is None:
            ack = None
        elif flags & ACK and seqs.relative is not False:
            ack = int(ack_s)
            base = seqs.bases.get((ip.src, sp, ip.dst, dp)) if seqs.relative else None
            if base is not None and not flags & SYN:
                seq_base, ack_base = base
            else:
                seq_base = ack_base = None
            if ack_base is not None and (seq is None or seq_base is not None):
                # SeqTracker.numbers' common case, inline: relative numbers of a known
                # conversation back to absolute ones
                ack = (ack + ack_base) & 0xFFFFFFFF
                if seq is not None and seq_base is not None:
                    seq = (seq + seq_base) & 0xFFFFFFFF
            else:
                seq, ack, relative = seqs.numbers(ip.src, sp, ip.dst, dp, flags, seq, ack)
        else:
            ack = int(ack_s)
        if flags & SYN and not flags & ACK and seq is not None:
            seqs.syn(ip.src, sp, ip.dst, dp, seq)
        payload = int(len_s)
        tcp = _new(TCPHeader, (sp, dp, flags, seq, ack, int(win_s) if win_s is not None else None,
                               payload, options, relative, *_TCP_TAIL))
        rec: PacketRecord = _new(PacketRecord, (
            self.point, clock.time_of_day(second + int(us) * 1000), self.path, lineno, ifname,
            _DIRECTIONS[direction], ETH_LEN + (40 if v6 else 20) + hdr + payload,
            _new(Headers, (None, ip, tcp, *_HEADERS_TAIL)), *_RECORD_TAIL))
        return rec

    def _second(self, hms: str) -> int:
        """ns since midnight of ``HH:MM:SS`` (-1 if out of range), cached."""
        h, mi, s = (int(x) for x in hms.split(":"))
        ns = (h * 3600 + mi * 60 + s) * NS if h < 24 and mi < 60 and s < 61 else -1
        if len(self.seconds) >= 86_400:
            self.seconds.clear()
        self.seconds[hms] = ns
        return ns

    def _ip(self, src: str, dst: str, v6: str) -> IPHeader | None:
        """The IP header of a pair of printed addresses (None if one is not an address)."""
        version = 6 if v6 else 4
        src_a = self._addr(src, version)
        dst_a = self._addr(dst, version)
        if src_a is None or dst_a is None:
            return None
        ip = IPHeader(version, src_a, dst_a, PROTO_TCP, None, None, None, False, 0, False)
        if len(self.ips) >= 65536:
            self.ips.clear()
        self.ips[(src, dst, v6)] = ip
        return ip

    def _addr(self, text: str, version: int) -> str | None:
        addr = self.addrs.get(text, "")
        if addr == "":
            try:
                addr, port = split_endpoint(text, version)
            except TextError:
                addr = None
            else:
                addr = None if port is not None else addr
            if len(self.addrs) >= 65536:
                self.addrs.clear()
            self.addrs[text] = addr
        return addr
