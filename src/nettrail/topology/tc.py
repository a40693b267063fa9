"""Address rewrites out of ``tc -j filter show``: the ``nat`` and ``pedit`` actions.

The JSON is iproute2's: a ``nat`` action names itself under ``type`` (every other action under
``kind``) and prints ``old_addr`` with its prefix length (``198.51.100.4/32``); a ``pedit``
action lists 32-bit ``keys`` (``htype``, ``offset``, ``cmd``, hex ``val`` and ``mask``, the
bits kept), ``htype`` ``ipv4``/``ipv6`` for ``ex munge ip``/``ip6``, ``network`` otherwise.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from nettrail.model.topology import NatRule

# Header offsets pedit writes: IPv4 source at 12, destination at 16; IPv6 at 8 and 24 (16
# bytes each, four keys).
_PEDIT_V4 = {12: ("snat", "src"), 16: ("dnat", "dst")}
_PEDIT_V6 = {8: ("snat", "src"), 24: ("dnat", "dst")}


def parse(text: str, namespace: str, device: str, hook: str) -> list[NatRule]:
    """The address rewrites of the filters on ``device``'s ``hook`` (ingress, egress)."""
    try:
        filters = json.loads(text) if text.strip() else []
    except ValueError:
        return []
    out: list[NatRule] = []
    for flt in filters if isinstance(filters, list) else []:
        opts = flt.get("options") if isinstance(flt, dict) else None
        if not isinstance(opts, dict):
            continue
        for act in opts.get("actions") or []:
            if isinstance(act, dict):
                out.extend(_action(act, namespace, f"{device} {hook}"))
    return out


def _action(act: dict[str, Any], namespace: str, where: str) -> list[NatRule]:
    kind = act.get("kind") or act.get("type")
    if kind == "nat":
        old, new = str(act.get("old_addr", "")), str(act.get("new_addr", ""))
        length = old.partition("/")[2]
        # a prefix keeps the host part: 198.51.100.0/24 -> 203.0.113.0 writes 203.0.113.0/24
        after = f"{new}/{length}" if new and length not in ("", "32") else new
        nat = "snat" if act.get("direction") == "egress" else "dnat"
        text = f"action nat {act.get('direction')} {old} {new}"
        return [NatRule(namespace, "tc", where, nat, (old,) if old else (),
                        (after,) if after else (), False, text)]
    if kind == "pedit":
        return [NatRule(namespace, "tc", where, nat, (), (addr,), False,
                        f"action pedit ex munge {proto} {field} set {addr}")
                for nat, proto, field, addr in _pedit_sets(act.get("keys") or [])]
    return []


def _pedit_sets(keys: list[Any]) -> list[tuple[str, str, str, str]]:
    """(kind, ``ip``/``ip6``, ``src``/``dst``, address) of each whole address a pedit action's
    keys set: an IPv4 one in one key, an IPv6 one in four consecutive keys, none kept bits."""
    words: dict[tuple[str, int], int] = {}
    for key in keys:
        if not isinstance(key, dict) or key.get("cmd", "set") != "set":
            continue
        try:
            val, mask = int(str(key.get("val")), 16), int(str(key.get("mask", "0")), 16)
        except ValueError:
            continue
        if mask == 0 and isinstance(key.get("offset"), int):
            words[(str(key.get("htype")), key["offset"])] = val
    out = []
    for (htype, off), val in words.items():
        if htype in ("network", "ipv4") and off in _PEDIT_V4:
            nat, field = _PEDIT_V4[off]
            out.append((nat, "ip", field, str(ipaddress.IPv4Address(val))))
        elif htype == "ipv6" and off in _PEDIT_V6 and all(
                (htype, off + 4 * i) in words for i in range(1, 4)):
            nat, field = _PEDIT_V6[off]
            whole = 0
            for i in range(4):
                whole = (whole << 32) | words[(htype, off + 4 * i)]
            out.append((nat, "ip6", field, str(ipaddress.IPv6Address(whole))))
    return out
