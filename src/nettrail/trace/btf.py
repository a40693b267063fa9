"""Just enough of the kernel's BTF: enum values by enum name, and which type names exist.

Used to name drop and reset reasons (``enum skb_drop_reason``, ``enum sk_rst_reason``) and to
check that a tracepoint exists (``btf_trace_<name>``) before loading. Format: the kernel's
Documentation/bpf/btf.rst (header, type section, string section).
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import NamedTuple

from nettrail.errors import CapabilityError

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
BTF_MAGIC = 0xEB9F

KIND_INT = 1
KIND_ARRAY = 3
KIND_STRUCT = 4
KIND_UNION = 5
KIND_ENUM = 6
KIND_FUNC_PROTO = 13
KIND_VAR = 14
KIND_DATASEC = 15
KIND_DECL_TAG = 17
KIND_ENUM64 = 19

_HEADER = struct.Struct("<HBBIIIII")
_TYPE = struct.Struct("<III")


class Btf(NamedTuple):
    """Enums (name -> {value: member name}) and the set of all named types."""

    enums: dict[str, dict[int, str]]
    names: frozenset[str]


def _extra(kind: int, vlen: int) -> int:
    """Bytes following the 12-byte type record for a type of this kind."""
    if kind in (KIND_INT, KIND_VAR, KIND_DECL_TAG):
        return 4
    if kind == KIND_ARRAY:
        return 12
    if kind in (KIND_STRUCT, KIND_UNION, KIND_DATASEC, KIND_ENUM64):
        return 12 * vlen
    if kind in (KIND_ENUM, KIND_FUNC_PROTO):
        return 8 * vlen
    return 0


def parse(raw: bytes) -> Btf:
    """Parse raw BTF bytes (as in /sys/kernel/btf/vmlinux)."""
    magic, _ver, _flags, hdr_len, type_off, type_len, str_off, str_len = _HEADER.unpack_from(raw)
    if magic != BTF_MAGIC:
        raise ValueError("not BTF (bad magic)")
    types = hdr_len + type_off
    strings = raw[hdr_len + str_off : hdr_len + str_off + str_len]

    def name(off: int) -> str:
        end = strings.index(b"\0", off)
        return strings[off:end].decode()

    enums: dict[str, dict[int, str]] = {}
    names: set[str] = set()
    pos, end = types, types + type_len
    unpack = _TYPE.unpack_from
    while pos < end:
        name_off, info, _size = unpack(raw, pos)
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        pos += 12
        if name_off:
            tname = name(name_off)
            names.add(tname)
            if kind == KIND_ENUM:
                enums[tname] = {
                    struct.unpack_from("<i", raw, pos + 8 * i + 4)[0]:
                        name(struct.unpack_from("<I", raw, pos + 8 * i)[0])
                    for i in range(vlen)
                }
        pos += _extra(kind, vlen)
    return Btf(enums, frozenset(names))


@lru_cache(maxsize=1)
def kernel() -> Btf:
    """The running kernel's BTF; ``CapabilityError`` when the kernel has none."""
    try:
        with open(VMLINUX_BTF, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise CapabilityError(f"kernel BTF missing ({VMLINUX_BTF}): "
                              "needs CONFIG_DEBUG_INFO_BTF") from exc
    try:
        return parse(raw)
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise CapabilityError(f"kernel BTF unreadable ({VMLINUX_BTF}): {exc}") from exc


def enum_names(enum: str, prefix: str) -> dict[int, str]:
    """Values of a kernel enum to member names with ``prefix`` removed.

    Empty when the kernel has no such enum or no BTF: names are enrichment, numbers remain.
    """
    try:
        enums = kernel().enums
    except CapabilityError:
        return {}
    return {v: n.removeprefix(prefix) for v, n in enums.get(enum, {}).items()}
