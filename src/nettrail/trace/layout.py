"""Python mirrors of the structs in ``bpf/trace.h`` (checked against the object's BTF by a test).

Each struct is a list of ``(field, struct format)`` in declaration order, nested structs
flattened as ``outer.inner``; the packed little-endian format of the whole struct follows.
"""

from __future__ import annotations

import struct

PKT_BYTES = 128
IFNAMSIZ = 16
MAX_RULES = 32
MAX_GLOBS = 8
MAX_NETNS = 8
STACK_DEPTH = 32
STACK_BYTES = STACK_DEPTH * 8

KIND_XMIT = 1
KIND_RECV = 2
KIND_DROP = 3
KIND_RESET = 4
KIND_SYNACK_RETRANS = 5
KIND_NAMES = {
    KIND_XMIT: "xmit",
    KIND_RECV: "recv",
    KIND_DROP: "drop",
    KIND_RESET: "reset",
    KIND_SYNACK_RETRANS: "synack-retransmit",
}

EV_PKT = 0x01
EV_CT = 0x02
EV_SK = 0x04
EV_TRACKED = 0x08
EV_STACK = 0x10
EV_SOCK = 0x20
EV_DEV = 0x40
EV_CONN = 0x80

DEV_PACKET_SOCKET = 0x01

LINK_NONE = 0
LINK_ETH = 1
LINK_RAW = 2

CFG_FILTER = 0x01
CFG_FOLLOW = 0x02
CFG_STACK = 0x04
CFG_CT = 0x08
CFG_CONNS = 0x10

OP_TEST = 1
OP_AND = 2
OP_OR = 3
OP_NOT = 4
OP_TRUE = 5

FLD_SRC_ADDR = 1
FLD_DST_ADDR = 2
FLD_ANY_ADDR = 3
FLD_SRC_PORT = 4
FLD_DST_PORT = 5
FLD_ANY_PORT = 6
FLD_PROTO = 7
FLD_FAMILY = 8
FLD_TCPFLAGS_ANY = 9
FLD_TCPFLAGS_EQ = 10
FLD_ETH_SRC = 11
FLD_ETH_DST = 12
FLD_ETH_ANY = 13
FLD_VLAN = 14
FLD_LEN_LE = 15
FLD_LEN_GE = 16

STAT_LOST = 0
STAT_EMITTED = 1
STAT_TRACKED = 2
STAT_CONNS = 3
STAT_STACK_LOST = 4
STAT_SLOTS = 5

Fields = list[tuple[str, str]]

TUPLE: Fields = [
    ("src", "16s"),
    ("dst", "16s"),
    ("sport", "H"),
    ("dport", "H"),
    ("proto", "B"),
    ("family", "B"),
    ("pad", "H"),
]


def _nest(prefix: str, fields: Fields) -> Fields:
    return [(f"{prefix}.{name}", fmt) for name, fmt in fields]


EVENT: Fields = [
    ("ts_ns", "Q"),
    ("skb", "Q"),
    ("first_ns", "Q"),
    ("netns", "I"),
    ("ifindex", "I"),
    ("reason", "I"),
    ("ct_status", "I"),
    ("stack_len", "i"),
    ("pkt_len", "I"),
    ("cpu", "H"),
    ("kind", "B"),
    ("flags", "B"),
    ("cap_len", "H"),
    ("link", "B"),
    ("ct_info", "B"),
    ("sk_state", "I"),
    ("dev_flags", "I"),
    ("ifname", f"{IFNAMSIZ}s"),
    *_nest("ct_orig", TUPLE),
    *_nest("ct_reply", TUPLE),
    *_nest("sock", TUPLE),
    ("data", f"{PKT_BYTES}s"),
]

RULE: Fields = [
    ("op", "B"),
    ("field", "B"),
    ("family", "B"),
    ("pad", "B"),
    ("lo", "H"),
    ("hi", "H"),
    ("addr", "16s"),
    ("mask", "16s"),
]

GLOB: Fields = [
    ("text", f"{IFNAMSIZ}s"),
    ("len", "B"),
    ("prefix", "B"),
    ("pad", "2s"),
]

CONFIG_HEAD: Fields = [
    ("flags", "I"),
    ("n_rules", "I"),
    ("n_globs", "I"),
    ("n_netns", "I"),
    ("wakeup_bytes", "I"),
    ("follow_ttl_ms", "I"),
    ("netns", f"{MAX_NETNS}I"),
]


def fmt_of(fields: Fields) -> str:
    """The little-endian, unpadded struct format of a field list."""
    return "<" + "".join(fmt for _, fmt in fields)


def offsets(fields: Fields) -> dict[str, tuple[int, int]]:
    """Field name -> (byte offset, byte size), as C lays them out given explicit padding."""
    out: dict[str, tuple[int, int]] = {}
    pos = 0
    for name, fmt in fields:
        size = struct.calcsize("<" + fmt)
        out[name] = (pos, size)
        pos += size
    return out


EVENT_STRUCT = struct.Struct(fmt_of(EVENT))
EVENT_SIZE = EVENT_STRUCT.size
EVENT_INDEX = {name: i for i, (name, _) in enumerate(EVENT)}
RULE_STRUCT = struct.Struct(fmt_of(RULE))
GLOB_STRUCT = struct.Struct(fmt_of(GLOB))
CONFIG_HEAD_STRUCT = struct.Struct("<6I" + f"{MAX_NETNS}I")
CONFIG_SIZE = CONFIG_HEAD_STRUCT.size + MAX_GLOBS * GLOB_STRUCT.size + MAX_RULES * RULE_STRUCT.size


# What the reader unpacks per ring buffer record: the 8-byte ring header, the event's scalar
# fields, and everything from ``ifname`` on as one blob (sliced only when decoded).
TAIL_START = offsets(EVENT)["ifname"][0]
RING_HEADER: Fields = [("rb.len", "I"), ("rb.pg_off", "I")]
RECORD: Fields = [
    *RING_HEADER,
    *[(n, f) for n, f in EVENT if offsets(EVENT)[n][0] < TAIL_START],
    ("tail", f"{EVENT_SIZE - TAIL_START}s"),
]
RECORD_STRUCT = struct.Struct(fmt_of(RECORD))
RECORD_INDEX = {name: i for i, (name, _) in enumerate(RECORD)}

# A trace with stacks reserves ``struct nt_stack_event``: the same record, then the stack's
# return addresses as one blob (a raw tuple's last item). Without stacks, records stay small.
STACK_EVENT: Fields = [*_nest("ev", EVENT), ("stack", f"{STACK_BYTES}s")]
STACK_RECORD: Fields = [*RECORD, ("stack", f"{STACK_BYTES}s")]
STACK_RECORD_STRUCT = struct.Struct(fmt_of(STACK_RECORD))
STACK = len(RECORD)
"""Index of the stack blob in a raw tuple of ``STACK_RECORD_STRUCT``."""


def record_struct(stack: bool) -> struct.Struct:
    """The ring record of a trace with (``STACK_RECORD_STRUCT``) or without kernel stacks."""
    return STACK_RECORD_STRUCT if stack else RECORD_STRUCT


def tail_slice(name: str) -> slice:
    """Where field ``name`` lies inside the record's tail blob."""
    off, size = offsets(EVENT)[name]
    return slice(off - TAIL_START, off - TAIL_START + size)


def config_fields() -> Fields:
    """The ``struct nt_config`` fields, arrays of structs flattened as ``globs[i].text``."""
    fields = list(CONFIG_HEAD)
    for i in range(MAX_GLOBS):
        fields += _nest(f"globs[{i}]", GLOB)
    for i in range(MAX_RULES):
        fields += _nest(f"rules[{i}]", RULE)
    return fields
