"""NAT owners: for each address, every place that translates to or from it.

An address translated in two places (two namespaces, or a namespace and an OVS bridge) has
two owners: replies can be rewritten where the requests were not, and conntrack in either
place sees only half of the connection. That is the ``multiple-nat-owners`` finding, made
from the rules alone, before any traffic.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from nettrail.model.finding import Finding, Severity
from nettrail.model.topology import NatOwner, NatRule, Topology

MULTIPLE_NAT_OWNERS = "multiple-nat-owners"


def place_of(rule: NatRule) -> str:
    """Where a rule translates: its namespace, or its namespace and OVS bridge."""
    if rule.source == "openflow":
        return f"{rule.namespace} bridge {rule.where.split()[0]}"
    return rule.namespace


def host_address(text: str) -> str | None:
    """``198.51.100.4`` for ``198.51.100.4`` or ``198.51.100.4/32``; None for a wider prefix."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if net.num_addresses != 1 or net.network_address.is_unspecified:
        return None
    return str(net.network_address)


def owners(rules: Iterable[NatRule]) -> dict[str, list[NatOwner]]:
    """Address -> every (place, direction, rule) translating to or from it, in rule order."""
    out: dict[str, list[NatOwner]] = {}
    for rule in rules:
        place = place_of(rule)
        for direction, addrs in (("to", rule.after), ("from", rule.before)):
            for text in addrs:
                addr = host_address(text)
                if addr is not None:
                    out.setdefault(addr, []).append(NatOwner(addr, place, direction, rule))
    return dict(sorted(out.items(), key=lambda kv: _sort_key(kv[0])))


def topology_rules(topos: Iterable[Topology]) -> list[NatRule]:
    """Every NAT rule of the snapshots, namespace by namespace."""
    return [r for t in topos for ns in t.namespaces for r in ns.nat]


def findings(rules: Sequence[NatRule]) -> list[Finding]:
    """One ``multiple-nat-owners`` error per group of addresses translated in 2+ places."""
    groups: dict[tuple[NatRule, ...], list[str]] = {}
    for addr, entries in owners(rules).items():
        places = {e.place for e in entries}
        if len(places) > 1:
            key = tuple(dict.fromkeys(e.rule for e in entries))
            groups.setdefault(key, []).append(addr)
    return [_finding(addrs, list(key)) for key, addrs in groups.items()]


def _finding(addrs: list[str], rules: list[NatRule]) -> Finding:
    places = list(dict.fromkeys(place_of(r) for r in rules))
    named = " and ".join(addrs)
    summary = (f"{named} {'is' if len(addrs) == 1 else 'are'} translated in "
               f"{len(places)} places: " + "; ".join(
                   f"{p} ({_mechanisms(rules, p)})" for p in places))
    quoted = "\n".join(f"{place_of(r)}\t{r.source} {r.where}\t{r.text}" for r in rules)
    return Finding(MULTIPLE_NAT_OWNERS, Severity.ERROR, summary, root_cause=True,
                   details={"addresses": " ".join(addrs), "places": "\n".join(places),
                            "rules": quoted})


def _mechanisms(rules: list[NatRule], place: str) -> str:
    parts = dict.fromkeys(f"{r.source} {'stateful' if r.stateful else 'stateless'} {r.kind}"
                          for r in rules if place_of(r) == place)
    return ", ".join(parts)


def _sort_key(addr: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(addr)
    return ip.version, int(ip)
