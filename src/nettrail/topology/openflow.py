"""Address rewrites out of ``ovs-ofctl dump-flows``: ``ct(nat)``, ``set_field``, ``mod_nw_*``."""

from __future__ import annotations

import re

from nettrail.model.topology import NatRule
from nettrail.topology.iptables import to_addresses

_STATS = re.compile(r"\b(duration|n_packets|n_bytes|idle_age|hard_age)=[^,\s]*,?\s*")
_NAT = re.compile(r"nat(?:\((src|dst)(?:=([^,)]+))?[^)]*\))?")
_SET = re.compile(r"(?:mod_nw_(src|dst):([\d.]+)|set_field:([\d.]+)->(?:nw|ip)_(src|dst))")
_MATCH = re.compile(r"\b(?:nw|ip)_(src|dst)=([\d./]+)")
_KIND = {"src": "snat", "dst": "dnat"}


def flow_text(line: str) -> str:
    """A dumped flow without its counters (what a person would write with add-flow)."""
    return _STATS.sub("", line.strip()).strip().rstrip(",")


def parse(dump: str, namespace: str, bridge: str) -> tuple[list[NatRule], int]:
    """(address rewrites, number of flows) of one bridge's ``dump-flows`` output."""
    nat: list[NatRule] = []
    count = 0
    for line in dump.splitlines():
        if "actions=" not in line:
            continue
        count += 1
        nat.extend(flow_nat(flow_text(line), namespace, bridge))
    return nat, count


def flow_nat(text: str, namespace: str, bridge: str) -> list[NatRule]:
    """The rewrites one flow makes: ct NAT (stateful) and field rewrites (stateless)."""
    match, _, actions = text.partition("actions=")
    before: dict[str, tuple[str, ...]] = {}
    for side, addr in _MATCH.findall(match):
        before[_KIND[side]] = (*before.get(_KIND[side], ()), addr)
    where = f"{bridge} table={_table(match)}"
    out: list[NatRule] = []
    if "ct(" in actions:
        for m in _NAT.finditer(actions[actions.index("ct("):]):
            side, value = m.group(1), m.group(2)
            if side:
                kind = _KIND[side]
                out.append(NatRule(namespace, "openflow", where, kind, before.get(kind, ()),
                                   to_addresses(value) if value else (), True, text))
            else:
                addrs = tuple(a for v in before.values() for a in v)
                out.append(NatRule(namespace, "openflow", where, "nat", addrs, (), True, text))
    for m in _SET.finditer(actions):
        side = m.group(1) or m.group(4)
        addr = m.group(2) or m.group(3)
        kind = _KIND[side]
        out.append(NatRule(namespace, "openflow", where, kind, before.get(kind, ()), (addr,),
                           False, text))
    return out


def _table(match: str) -> str:
    m = re.search(r"\btable=(\d+)", match)
    return m.group(1) if m else "0"
