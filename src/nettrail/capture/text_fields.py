"""Fields of tcpdump text shared by the line parsers: addresses, ports, the ``-v`` IP header,
TCP flags and options, and the two ways a line is not read (TextError, OtherProtocol)."""

from __future__ import annotations

import re
from typing import NamedTuple

from nettrail.capture.text_names import PORTS
from nettrail.model.cache import remember
from nettrail.model.packet import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG, TCPHeader, TCPOptions

ETH_LEN = 14
DIGITS_LIMIT = 4300
"""Digits int() converts at most (sys.get_int_max_str_digits): a longer text, which may hold
such a number (no tcpdump number has them), is left to the line parser, which names it."""
MOST_PAYLOAD = 0xFFFFFFFF - ETH_LEN - 40 - 60
"""The longest TCP payload the fast paths take: with the longest IP and TCP headers its frame
length still fits 32 bits (a longer one goes to the line parser, which names a frame past it)."""
AE = 0x100
"""TCP flag AE (accurate ECN, formerly NS): the ninth flag bit, printed ``e`` by tcpdump."""


class TextError(ValueError):
    """A packet line nettrail cannot read; the message says what is wrong with it."""


class OtherProtocol(Exception):
    """A packet of a protocol nettrail does not model (LLDP, STP, IGMP...): counted, skipped."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


ADDRS = re.compile(r"(\S+) > (\S+?):(?: |$)")
"""``source > destination:`` of an IP packet line."""
_V4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\Z")
V4_HOST = _V4
"""A host printed as a dotted quad (``split_endpoint``'s address of one without a port)."""
_V6 = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})?\Z")
_FLAG_BITS = {
    "S": SYN, "F": FIN, "R": RST, "P": PSH, "U": URG, ".": ACK, "E": ECE, "W": CWR, "e": AE,
}

def paren_end(text: str, start: int) -> int:
    """Index just past the parenthesis group opening at ``text[start]``."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    raise TextError("an IP header in parentheses that does not end")


class VerboseHeader(NamedTuple):
    """What the ``-v`` IP header says (None where it says nothing)."""

    ttl: int | None
    ip_id: int | None
    length: int | None
    df: bool
    frag_offset: int
    more: bool
    proto: int | None
    tos: int | None = None


_NO_V = VerboseHeader(None, None, None, False, 0, False, None)
_V_FIELDS = re.compile(
    r"(ttl|hlim|id|offset|length|payload length:) (\d+)|flags \[([^\]]*)\]"
    r"|(?:proto|next-header) (\S+) \((\d+)\)|\b(?:tos|class) 0x([0-9a-fA-F]+)"
)
_V_UNREAD = re.compile(r"(?:^|[ ,])(ttl|hlim|id|offset|length) (?!\d)")
"""A field of the ``-v`` IP header whose number is not where tcpdump prints it (a mangled
line: ``id  1499``); none of the 5,771 such headers of tcpdump's suite has one."""


def verbose_header(text: str, version: int) -> tuple[VerboseHeader, str]:
    """The ``-v`` IP header in parentheses at the start of ``text``, and the text after it."""
    if not text.startswith("("):
        return _NO_V, text
    end = paren_end(text, 0)
    ttl = ip_id = length = proto = None
    tos = 0 if version == 6 else None  # tcpdump leaves out an IPv6 traffic class of 0
    df = more = False
    frag = 0
    for name, num, flags, _pname, pnum, tos_hex in _V_FIELDS.findall(text, 1, end - 1):
        if tos_hex:
            tos = fits("tos", int(tos_hex, 16), 0xFF)
        elif name in ("ttl", "hlim"):
            ttl = fits(name, int(num), 0xFF)
        elif name == "id":
            ip_id = fits(name, int(num), 0xFFFF)
        elif name == "offset":
            frag = fits(name, int(num), 0xFFFF)
        elif name == "length":
            length = int(num) or None  # 0: BIG TCP or TSO, the real length is not said
        elif name == "payload length:":
            length = 40 + int(num)
        elif pnum:
            proto = ip_protocol(int(pnum))
        else:
            df, more = "DF" in flags, "+" in flags
    if (bad := _V_UNREAD.search(text, 1, end - 1)) is not None:
        field = re.split(r"[,)]", text[bad.start(1) :], maxsplit=1)[0]
        raise TextError(f"the IP header's {bad.group(1)} is not a number: {field!r}")
    if version == 6:
        ip_id = None
    return VerboseHeader(ttl, ip_id, length, df, frag, more, proto, tos), text[end:].lstrip()


def fits(name: str, value: int, most: int) -> int:
    """``value`` of the IP header field ``name`` when it fits the field (else the line was
    mangled: tcpdump prints the field as it is)."""
    if value > most:
        raise TextError(f"an IP {name} over {most} ({value})")
    return value


def ip_protocol(proto: int) -> int:
    """``proto``, the IP protocol number a line prints, when it fits the 8-bit field."""
    return fits("protocol", proto, 0xFF)


_ENDPOINTS: tuple[dict[str, tuple[str, int | None]], dict[str, tuple[str, int | None]]] = (
    {}, {})
"""What ``split_endpoint`` gave for the tokens of IPv4 lines, and of IPv6 ones."""


def split_endpoint(token: str, version: int) -> tuple[str, int | None]:
    """``198.51.100.1.22``, ``2001:db8::1.ssh`` or ``client.1284`` to (host, port or None).

    A host that is not an address (a resolved name, a placeholder such as ``xxx.xxx.xxx.xxx``
    or ``<POD_IP>``) is kept as an opaque label: it never merges with an address. Kept for
    the next like it (hosts repeat); a token that raises TextError is not.
    """
    cache = _ENDPOINTS[version != 4]
    got = cache.get(token)
    if got is None:
        got = remember(cache, token, _split_endpoint(token, version))
    return got


def _split_endpoint(token: str, version: int) -> tuple[str, int | None]:
    if version == 4:
        parts = token.split(".")
        if len(parts) == 5 and _V4.match(addr := ".".join(parts[:4])) is not None:
            return addr, port_number(parts[4])
        if len(parts) == 4 and _V4.match(token) is not None:
            return token, None
        return host_label(token)
    head, _, last = token.rpartition(":")
    port = None
    dots = last.count(".")
    v6 = token
    if dots == 1 or dots == 4:
        last, _, pname = last.rpartition(".")
        v6 = f"{head}:{last}"
        if _V6.match(v6) is not None:
            port = port_number(pname)
    if _V6.match(v6) is None or ":" not in v6:
        return host_label(token)
    return v6.lower(), port


def host_label(token: str) -> tuple[str, int | None]:
    """A host printed as a name or placeholder, and its port (a number or service name)."""
    head, dot, last = token.rpartition(".")
    if dot and head and ((last.isascii() and last.isdigit()) or last in PORTS):
        port = port_number(last)
        return head, port
    if not token or token[0] in ".:":
        raise TextError(f"{token!r} is not a host")
    return token, None


def port_number(text: str) -> int:
    """A port as printed: a number, or a service name when printed without ``-nn``."""
    if text.isascii() and text.isdigit():  # not '²' or other Unicode digits
        port = int(text) if len(text) <= 5 else 0x10000  # int() refuses 4,301 digits
        if port <= 0xFFFF:
            return port
        raise TextError(f"port {text[:20]}{'...' if len(text) > 20 else ''} is out of range")
    port_n = PORTS.get(text)
    if port_n is None:
        raise TextError(f"unknown service name {text!r} (print with -nn for numbers)")
    return port_n


def tcp_flags(text: str) -> int:
    """Flag bits of tcpdump's ``[S.]`` text; TextError on a letter tcpdump never prints."""
    if text == "none":
        return 0
    bits = 0
    for ch in text:
        bit = _FLAG_BITS.get(ch)
        if bit is None:
            raise TextError(f"unknown TCP flag {ch!r}")
        bits |= bit
    return bits


def parse_options(text: str) -> TCPOptions:
    """TCP options as tcpdump prints them: ``mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7``."""
    mss = wscale = ts_val = ts_ecr = None
    sack_ok = False
    sack: list[tuple[int, int]] = []
    order: list[str] = []
    for item in text.split(","):
        words = item.split()
        if not words:
            continue
        name = words[0]
        try:
            if name == "mss":
                mss = _digits(words[1])
            elif name == "wscale":
                wscale = _digits(words[1])
            elif name == "sackOK":
                sack_ok = True
            elif name == "TS":
                ts_val, ts_ecr = _digits(words[2]), _digits(words[4])
            elif name == "sack":
                sack = [_sack_block(b) for b in item.split("{")[1:]]
            elif name not in ("nop", "eol"):
                name = "opt-" + name
        except (IndexError, ValueError) as exc:
            raise TextError(f"TCP option {item.strip()!r} cannot be read") from exc
        order.append(name)
    return TCPOptions(mss, wscale, sack_ok, tuple(sack), ts_val, ts_ecr, tuple(order))


def _sack_block(text: str) -> tuple[int, int]:
    left, _, right = text.rstrip("} ").partition(":")
    return _digits(left), _digits(right)


def _digits(word: str) -> int:
    """The number of a word of decimal digits (int() would also take -1, +1 or 1_000, and
    refuse 4,301 digits)."""
    if not (word.isascii() and word.isdigit()) or len(word) > 20:
        raise ValueError(f"not a number: {word!r}")
    return int(word)


def check_tcp_numbers(tcp: TCPHeader) -> TCPHeader:
    """``tcp`` when its numbers fit their 32 bits, as tcpdump prints them (else the line was
    mangled)."""
    opts = tcp.options
    for name, value in (("seq", tcp.seq), ("ack", tcp.ack), ("win", tcp.window),
                        ("length", tcp.payload_len), ("TS val", opts.ts_val),
                        ("TS ecr", opts.ts_ecr)):
        if value is not None and value > 0xFFFFFFFF:
            raise TextError(f"a TCP {name} over 32 bits ({value})")
    return tcp
