"""Address rewrites out of ``tc -j filter show``: the ``nat`` and ``pedit`` actions."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from nettrail.model.topology import NatRule

# IPv4 header offsets pedit writes: source at 12, destination at 16.
_PEDIT_FIELD = {12: "snat", 16: "dnat"}


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
            out.extend(_action(act, namespace, f"{device} {hook}"))
    return out


def _action(act: dict[str, Any], namespace: str, where: str) -> list[NatRule]:
    kind = act.get("kind")
    if kind == "nat":
        old, new = str(act.get("old_addr", "")), str(act.get("new_addr", ""))
        nat = "snat" if act.get("direction") == "egress" else "dnat"
        text = f"action nat {act.get('direction')} {old} {new}"
        return [NatRule(namespace, "tc", where, nat, (old,) if old else (), (new,) if new else (),
                        False, text)]
    if kind == "pedit":
        out = []
        for key in act.get("keys") or []:
            off = key.get("offset")
            if key.get("htype") in ("network", "ipv4") and off in _PEDIT_FIELD:
                addr = _hex_address(str(key.get("val", "")))
                if addr:
                    out.append(NatRule(namespace, "tc", where, _PEDIT_FIELD[off], (), (addr,),
                                       False, f"action pedit ex munge ip "
                                       f"{'src' if off == 12 else 'dst'} set {addr}"))
        return out
    return []


def _hex_address(val: str) -> str:
    try:
        return str(ipaddress.IPv4Address(int(val, 16)))
    except ValueError:
        return ""
