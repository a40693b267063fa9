"""A pcap-filter subset compiled to the tracer's postfix rule table (see docs/trace.md).

Grammar (keywords as in pcap-filter(7))::

    expr  := term (("or" | "||") term)*
    term  := unary (("and" | "&&") unary)*
    unary := ("not" | "!") unary | "(" expr ")" | prim
    prim  := [src|dst] host ADDR | [src|dst] net CIDR | [proto] [src|dst] port N|NAME
           | [proto] [src|dst] portrange N-M | tcp | udp | icmp | icmp6 | ip | ip6
           | proto N | tcp[tcpflags] & FLAGS (!= 0 | = FLAGS) | tcp[tcpflags] = FLAGS
           | ether (host|src|dst) MAC | vlan [ID] | less N | greater N

Ports may be service names (``ssh``, ``https``, from /etc/services, else a built-in table).
``less N``/``greater N`` compare the packet's length from its link header (``<=``/``>=``).

FLAGS are ``tcp-fin``, ``tcp-syn``, ``tcp-rst``, ``tcp-push``, ``tcp-ack``, ``tcp-urg``,
``tcp-ece``, ``tcp-cwr`` or numbers, joined with ``|``. Anything else is a ``FilterError``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import NamedTuple

from nettrail.errors import FilterError
from nettrail.trace import layout as L

TCP_FLAG_NAMES = {
    "tcp-fin": 0x01,
    "tcp-syn": 0x02,
    "tcp-rst": 0x04,
    "tcp-push": 0x08,
    "tcp-ack": 0x10,
    "tcp-urg": 0x20,
    "tcp-ece": 0x40,
    "tcp-cwr": 0x80,
}
PROTOS = {"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58}
SERVICES = {"ssh": 22, "http": 80, "https": 443, "domain": 53, "dns": 53, "telnet": 23,
            "ftp": 21, "smtp": 25, "ntp": 123, "bgp": 179, "ldap": 389, "mysql": 3306,
            "postgresql": 5432, "vxlan": 4789, "geneve": 6081, "openflow": 6653,
            "ovsdb": 6640}
"""Service names known without /etc/services."""
SUPPORTED = ("host", "net", "port", "portrange", "src", "dst", "ether host|src|dst", "vlan",
             "less", "greater", "tcp", "udp", "icmp", "icmp6", "ip", "ip6", "proto",
             "tcp[tcpflags]")
"""The primitives the filter understands, as named in errors."""
_MAC = re.compile(r"^[0-9A-Fa-f]{1,2}([:.-][0-9A-Fa-f]{1,2}){5}$")
_TOKEN = re.compile(r"\s*(&&|\|\||!=|==|[()\[\]&|=!]|[^\s()\[\]&|=!]+)")


class Rule(NamedTuple):
    """One instruction of the postfix filter program (``struct nt_rule``)."""

    op: int
    field: int = 0
    family: int = 0
    lo: int = 0
    hi: int = 0
    addr: bytes = bytes(16)
    mask: bytes = bytes(16)

    def pack(self) -> bytes:
        """The rule as ``struct nt_rule`` bytes."""
        return L.RULE_STRUCT.pack(self.op, self.field, self.family, 0, self.lo, self.hi,
                                  self.addr, self.mask)


class PacketFields(NamedTuple):
    """What the filter looks at in a packet (family 0 when not IP)."""

    family: int
    proto: int
    src: bytes
    dst: bytes
    sport: int
    dport: int
    tcp_flags: int
    smac: bytes = b""
    dmac: bytes = b""
    vlan: int = 0
    length: int = 0


def _tokens(text: str) -> tuple[list[str], list[int]]:
    """The tokens of ``text`` and the column (1-based) where each starts."""
    out: list[str] = []
    columns: list[int] = []
    pos = 0
    end = len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FilterError(f"filter {text!r}: cannot read {text[pos:].strip()!r} "
                              f"(column {pos + 1 + len(text[pos:]) - len(text[pos:].lstrip())})")
        out.append(m.group(1))
        columns.append(m.start(1) + 1)
        pos = m.end()
    return out, columns


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks, self.columns = _tokens(text)
        self.pos = 0
        self.last = 0
        """Index of the token read last: the one an error is about."""
        self.out: list[Rule] = []

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise FilterError(f"filter {self.text!r}: unexpected end of filter")
        self.last = self.pos
        self.pos += 1
        return tok

    def expect(self, want: str) -> None:
        tok = self.take()
        if tok != want:
            raise self.error(f"expected {want!r}, found {tok!r}")

    def error(self, what: str) -> FilterError:
        return FilterError(f"filter {self.text!r}: {what} (column {self.columns[self.last]})")

    def parse(self) -> list[Rule]:
        if not self.toks:
            return []
        self.expr()
        if self.peek() is not None:
            self.last = self.pos
            raise self.error(f"unexpected {self.peek()!r}")
        return self.out

    def expr(self) -> None:
        self.term()
        while self.peek() in ("or", "||"):
            self.take()
            self.term()
            self.out.append(Rule(L.OP_OR))

    def term(self) -> None:
        self.unary()
        while self.peek() in ("and", "&&"):
            self.take()
            self.unary()
            self.out.append(Rule(L.OP_AND))

    def unary(self) -> None:
        tok = self.peek()
        if tok in ("not", "!"):
            self.take()
            self.unary()
            self.out.append(Rule(L.OP_NOT))
        elif tok == "(":
            self.take()
            self.expr()
            self.expect(")")
        else:
            self.prim()

    def prim(self) -> None:
        tok = self.take()
        if tok in PROTOS:
            if tok == "tcp" and self.peek() == "[":
                self.tcpflags()
                return
            self.out.append(Rule(L.OP_TEST, L.FLD_PROTO, lo=PROTOS[tok]))
            if self.peek() in ("src", "dst", "port", "portrange"):
                self.directed(self.take())
                self.out.append(Rule(L.OP_AND))
            return
        if tok in ("ip", "ip6"):
            self.out.append(Rule(L.OP_TEST, L.FLD_FAMILY, lo=4 if tok == "ip" else 6))
            return
        if tok == "proto":
            self.out.append(Rule(L.OP_TEST, L.FLD_PROTO, lo=self.number(self.take(), 255)))
            return
        if tok == "ether":
            self.ether()
            return
        if tok == "vlan":
            vid = 0
            nxt = self.peek()
            if nxt is not None and nxt[:1].isdigit():
                vid = self.number(self.take(), 4095) + 1
            self.out.append(Rule(L.OP_TEST, L.FLD_VLAN, lo=vid))
            return
        if tok in ("less", "greater"):
            n = self.number(self.take(), 0xFFFFFFFF)
            field = L.FLD_LEN_LE if tok == "less" else L.FLD_LEN_GE
            self.out.append(Rule(L.OP_TEST, field, lo=n & 0xFFFF, hi=n >> 16))
            return
        self.directed(tok)

    def ether(self) -> None:
        tok = self.take()
        if tok not in ("host", "src", "dst"):
            raise self.error(f"expected host, src or dst after ether, found {tok!r}")
        if tok in ("src", "dst") and self.peek() == "host":
            self.take()
        text = self.take()
        if not _MAC.match(text):
            raise self.error(f"not a MAC address: {text!r}")
        mac = bytes(int(x, 16) for x in re.split(r"[:.-]", text))
        field = {"src": L.FLD_ETH_SRC, "dst": L.FLD_ETH_DST, "host": L.FLD_ETH_ANY}[tok]
        self.out.append(Rule(L.OP_TEST, field, addr=mac.ljust(16, b"\0")))

    def directed(self, tok: str) -> None:
        direction = "any"
        if tok in ("src", "dst"):
            direction = tok
            tok = self.take()
        if tok == "host":
            self.addr(direction, self.take(), net=False)
        elif tok == "net":
            self.addr(direction, self.take(), net=True)
        elif tok == "port":
            port = self.service(self.take())
            self.port(direction, port, port)
        elif tok == "portrange":
            lo, _, hi = self.take().partition("-")
            self.port(direction, self.service(lo), self.service(hi))
        else:
            err = self.error(f"unsupported primitive {tok!r}")
            raise FilterError(f"{err}; supported: {', '.join(SUPPORTED)}")

    def service(self, text: str) -> int:
        """A port number, or a service name (``ssh``) looked up like tcpdump does."""
        if text[:1].isdigit():
            return self.number(text, 65535)
        port = service_port(text)
        if port is None:
            raise self.error(f"unknown port name {text!r}")
        return port

    def addr(self, direction: str, text: str, *, net: bool) -> None:
        try:
            network = ipaddress.ip_network(text, strict=False) if net else None
            if network is None:
                ip = ipaddress.ip_address(text)
                network = ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}")
        except ValueError as exc:
            raise self.error(f"not an address: {text!r}") from exc
        field = {"src": L.FLD_SRC_ADDR, "dst": L.FLD_DST_ADDR, "any": L.FLD_ANY_ADDR}[direction]
        addr = network.network_address.packed.ljust(16, b"\0")
        mask = network.netmask.packed.ljust(16, b"\0")
        self.out.append(Rule(L.OP_TEST, field, network.version, addr=addr, mask=mask))

    def port(self, direction: str, lo: int, hi: int) -> None:
        if lo > hi:
            raise self.error(f"empty port range {lo}-{hi}")
        field = {"src": L.FLD_SRC_PORT, "dst": L.FLD_DST_PORT, "any": L.FLD_ANY_PORT}[direction]
        self.out.append(Rule(L.OP_TEST, field, lo=lo, hi=hi))

    def number(self, text: str, limit: int) -> int:
        try:
            value = int(text, 0)
        except ValueError as exc:
            raise self.error(f"not a number: {text!r}") from exc
        if not 0 <= value <= limit:
            raise self.error(f"{value} out of range 0-{limit}")
        return value

    def flags(self) -> int:
        bits = 0
        paren = self.peek() == "("
        if paren:
            self.take()
        while True:
            tok = self.take()
            bits |= TCP_FLAG_NAMES[tok] if tok in TCP_FLAG_NAMES else self.number(tok, 255)
            if self.peek() != "|":
                break
            self.take()
        if paren:
            self.expect(")")
        return bits

    def tcpflags(self) -> None:
        self.expect("[")
        where = self.take()
        if where not in ("tcpflags", "13"):
            raise self.error(f"only tcp[tcpflags] is supported, not tcp[{where}]")
        self.expect("]")
        mask = 0xFF
        if self.peek() == "&":
            self.take()
            mask = self.flags()
        op = self.take()
        if op not in ("!=", "=", "=="):
            raise self.error(f"expected '!=' or '=' after tcp[tcpflags], found {op!r}")
        value = self.flags()
        if op == "!=" and value == 0:
            self.out.append(Rule(L.OP_TEST, L.FLD_TCPFLAGS_ANY, lo=mask))
        elif op in ("=", "=="):
            self.out.append(Rule(L.OP_TEST, L.FLD_TCPFLAGS_EQ, lo=mask, hi=value & mask))
        else:
            self.out.append(Rule(L.OP_TEST, L.FLD_TCPFLAGS_EQ, lo=mask, hi=value & mask))
            self.out.append(Rule(L.OP_NOT))


def service_port(name: str) -> int | None:
    """The port of a service name: /etc/services (tcp, then udp), else :data:`SERVICES`."""
    for proto in ("tcp", "udp"):
        try:
            return socket.getservbyname(name, proto)
        except OSError:
            continue
    return SERVICES.get(name.lower())


def compile_filter(text: str) -> tuple[Rule, ...]:
    """The postfix program of a filter expression; empty for an empty expression."""
    rules = _Parser(text).parse()
    if len(rules) > L.MAX_RULES:
        raise FilterError(
            f"filter {text!r}: {len(rules)} instructions, at most {L.MAX_RULES} fit in the kernel"
        )
    return tuple(rules)


def _test(rule: Rule, p: PacketFields) -> bool:
    ports = p.proto in (6, 17)
    f = rule.field
    if f in (L.FLD_SRC_ADDR, L.FLD_DST_ADDR, L.FLD_ANY_ADDR):
        def hit(a: bytes) -> bool:
            masked = bytes(x & y for x, y in zip(a.ljust(16, b"\0"), rule.mask, strict=True))
            return rule.family == p.family and masked == rule.addr
        return (f != L.FLD_DST_ADDR and hit(p.src)) or (f != L.FLD_SRC_ADDR and hit(p.dst))
    if f in (L.FLD_SRC_PORT, L.FLD_DST_PORT, L.FLD_ANY_PORT):
        def inside(port: int) -> bool:
            return rule.lo <= port <= rule.hi
        return ports and ((f != L.FLD_DST_PORT and inside(p.sport))
                          or (f != L.FLD_SRC_PORT and inside(p.dport)))
    if f == L.FLD_PROTO:
        return p.family != 0 and p.proto == rule.lo
    if f == L.FLD_FAMILY:
        return p.family == rule.lo
    if f == L.FLD_TCPFLAGS_ANY:
        return p.proto == 6 and p.tcp_flags & rule.lo != 0
    if f == L.FLD_TCPFLAGS_EQ:
        return p.proto == 6 and p.tcp_flags & rule.lo == rule.hi
    return _test_link(rule, p)


def _test_link(rule: Rule, p: PacketFields) -> bool:
    f, n = rule.field, rule.lo | rule.hi << 16
    if f in (L.FLD_ETH_SRC, L.FLD_ETH_DST, L.FLD_ETH_ANY):
        want = rule.addr[:6]
        return bool(p.smac) and ((f != L.FLD_ETH_DST and p.smac == want)
                                 or (f != L.FLD_ETH_SRC and p.dmac == want))
    if f == L.FLD_VLAN:
        return p.vlan != 0 and (rule.lo == 0 or p.vlan == rule.lo)
    if f == L.FLD_LEN_LE:
        return p.length <= n
    if f == L.FLD_LEN_GE:
        return p.length >= n
    return False


def evaluate(rules: tuple[Rule, ...], p: PacketFields) -> bool:
    """What the kernel program decides for ``p`` (the same bit-stack machine, in Python)."""
    if not rules:
        return True
    if not p.family:
        return False
    stack: list[bool] = []
    for r in rules:
        if r.op == L.OP_TEST:
            stack.append(_test(r, p))
        elif r.op == L.OP_TRUE:
            stack.append(True)
        elif r.op == L.OP_NOT:
            stack.append(not stack.pop())
        else:
            b, a = stack.pop(), stack.pop()
            stack.append(a and b if r.op == L.OP_AND else a or b)
    return stack[-1]
