"""The fast path for the most common tcpdump line: a TCP segment with a time of day.

``08:10:55.545140 [eth0 In  ]IP[6] A.p > B.q: Flags [P.], seq 1:41, ack 1, win 63, options
[...], length 40`` is matched by one pattern and built directly; anything else (and any line
the pattern does not cover entirely) takes the general path in ``text_parse``.
"""

from __future__ import annotations

import re

from nettrail.capture.text_parse import (
    ETH_LEN,
    TextError,
    parse_options,
    split_endpoint,
    tcp_flags,
    tcp_header_len,
)
from nettrail.capture.text_time import NS, Stamp
from nettrail.model.packet import NO_OPTIONS, PROTO_TCP, Headers, IPHeader, PacketRecord, TCPHeader

_LINE = re.compile(
    r"(\d\d):(\d\d):(\d\d)\.(\d{6}) (?:([^\s>]+) +(In|Out|M|B|P) +)?IP(6?) "
    r"([0-9a-f.:]+)\.(\d+) > ([0-9a-f.:]+)\.(\d+): Flags \[([SFRPU.EW]+|none)\]"
    r"(?:, seq (\d+)(?::(\d+))?)?(?:, ack (\d+))?(?:, win (\d+))?(?:, options \[([^\]]*)\])?"
    r", length (\d+)(?:: .*)?\Z"
)
_TS_OPTS = re.compile(r"nop,nop,TS val (\d+) ecr (\d+)\Z")
_DIRECTIONS = {"In": "in", "Out": "out", "M": "in", "B": "in", "P": "in"}
_IP_HDR = {"": 20, "6": 40}


class FastLine:
    """Matches and builds common TCP lines of one file, caching addresses and flags."""

    def __init__(self, path: str, point: str) -> None:
        self.path = path
        self.point = point
        self.addrs: dict[str, str | None] = {}
        self.flags: dict[str, int] = {}

    def match(self, line: str, lineno: int) -> tuple[PacketRecord, Stamp, int] | None:
        """(record with ts 0, its stamp, where its body starts) if ``line`` is a common one."""
        m = _LINE.match(line)
        if m is None:
            return None
        (hh, mm, ss, us, ifname, direction, v6, src, sport, dst, dport, flags_s, seq_s,
         _seqend, ack_s, win_s, opts_s, len_s) = m.groups()
        h, mi, s = int(hh), int(mm), int(ss)
        if h > 23 or mi > 59 or s > 60:
            return None
        version = 6 if v6 else 4
        src_a = self._addr(src, version)
        dst_a = self._addr(dst, version)
        if src_a is None or dst_a is None or len(sport) > 5 or len(dport) > 5:
            return None
        sp, dp = int(sport), int(dport)
        if sp > 0xFFFF or dp > 0xFFFF:
            return None
        flags = self.flags.get(flags_s)
        if flags is None:
            flags = self.flags[flags_s] = tcp_flags(flags_s)
        payload = int(len_s)
        if opts_s is None:
            options = NO_OPTIONS
        else:
            t = _TS_OPTS.match(opts_s)
            if t is not None:
                options = NO_OPTIONS._replace(ts_val=int(t.group(1)), ts_ecr=int(t.group(2)),
                                              order=("nop", "nop", "TS"))
            else:
                try:
                    options = parse_options(opts_s)
                except TextError:
                    return None
        tcp = TCPHeader(
            sp, dp, flags, int(seq_s) if seq_s is not None else None,
            int(ack_s) if ack_s is not None else None,
            int(win_s) if win_s is not None else None, payload, options,
        )
        iphdr = _IP_HDR[v6]
        ip = IPHeader(version, src_a, dst_a, PROTO_TCP, None, None, None, False, 0, False)
        stamp = Stamp("tod", (h * 3600 + mi * 60 + s) * NS + int(us) * 1000, False, False)
        wire = ETH_LEN + iphdr + tcp_header_len(options) + payload
        rec = PacketRecord(
            self.point, 0, self.path, lineno, ifname,
            _DIRECTIONS[direction] if direction is not None else None, wire,
            Headers(None, ip, tcp),
        )
        return rec, stamp, m.start(5) if ifname is not None else m.end(4) + 1

    def _addr(self, text: str, version: int) -> str | None:
        addr = self.addrs.get(text, "")
        if addr == "":
            try:
                addr, port = split_endpoint(text, version)
            except TextError:
                addr = None
            else:
                addr = None if port is not None else addr
            self.addrs[text] = addr
        return addr
