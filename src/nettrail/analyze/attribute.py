"""Tie each translation seen in the packets to the rule or flow that made it.

Given the NAT rules of each host's snapshot (``nettrail lab run`` and ``nettrail collect``
write one per host), a translation ``before -> after`` seen at a point is explained by a rule
of the same kind that matches ``before`` and writes ``after``, or, on the other leg, by a
stateful rule translating the other way (conntrack undoes it on the replies). Rules of the
host that translated (or the points either side of it) are the only ones quoted when one of
them fits; other hosts' rules only when none does; nothing is claimed when no rule fits.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import replace

from nettrail.analyze.owners import findings as owner_findings
from nettrail.model.analysis import Analysis, Diagnosis, NatTranslation
from nettrail.model.topology import NatRule

_OTHER = {"dnat": "snat", "snat": "dnat"}


def covers(prefixes: Sequence[str], addr: str) -> bool:
    """Whether ``addr`` is one of ``prefixes`` (addresses, CIDR prefixes or ``a-b`` ends)."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    for p in prefixes:
        try:
            if ip in ipaddress.ip_network(p, strict=False):
                return True
        except ValueError:
            continue
    return False


Match = tuple[str, NatRule, bool]  # host, rule, whether conntrack applies it in reverse
_LOCAL_HOOKS = {"output", "input"}
"""Hooks only packets the namespace makes or takes in pass: a packet its translator saw in
both forms went through it (tcpdump never sees a packet a namespace makes before its OUTPUT
rules, nor one it takes in after its INPUT rules), so a rule reached from these alone did
not translate it, nor (reversed by conntrack) its reply."""


def rules_for(t: NatTranslation, rules: Mapping[str, Sequence[NatRule]],
              seen: Sequence[NatTranslation] = ()) -> list[Match]:
    """(host, rule, reversed) that explain translation ``t``, best first; conntrack entries
    last. A reply translated where its request was translated the other way (``seen``) is
    conntrack undoing the request's rule, not a rule of the reply's own direction."""
    near = [h for h in dict.fromkeys((t.at, t.to_point, t.from_point))
            if h is not None and h in rules]
    found = _matches(t, near, rules, seen)
    if not found:  # the translator is a host no point names: any host's rule that fits
        found = _matches(t, [h for h in rules if h not in near], rules, seen)
    return sorted(found, key=lambda m: m[1].source == "conntrack")


def _matches(t: NatTranslation, hosts: Sequence[str], rules: Mapping[str, Sequence[NatRule]],
             seen: Sequence[NatTranslation]) -> list[Match]:
    """The rules of ``hosts`` that explain ``t``, directly or as conntrack's reversal."""
    before, after = t.before.addr, t.after.addr
    direct: list[Match] = []
    reverse: list[Match] = []
    routed = t.at is not None
    for host in hosts:
        for r in rules[host]:
            if routed and r.hooks and set(r.hooks) <= _LOCAL_HOOKS:
                continue
            if r.kind in (t.kind, "nat") and _fits(r, before, after):
                direct.append((host, r, False))
            elif r.stateful and r.kind == _OTHER.get(t.kind) and _fits(r, after, before):
                reverse.append((host, r, True))
    return reverse if reverse and _undone(t, seen) else direct or reverse


def _undone(t: NatTranslation, seen: Sequence[NatTranslation]) -> bool:
    """Whether ``t`` is a reply translated at the point that translated its request back."""
    return t.leg == "reply" and t.at is not None and any(
        s.leg == "request" and s.at == t.at and s.kind == _OTHER.get(t.kind)
        and s.before.addr == t.after.addr and s.after.addr == t.before.addr for s in seen)


def _fits(r: NatRule, before: str, after: str) -> bool:
    """A rule that matches ``before`` (or matches nothing on that side) and writes ``after``."""
    if r.before and not covers(r.before, before):
        return False
    if r.after:
        return covers(r.after, after) or after in r.after
    return bool(r.before)


def quote(host: str, r: NatRule, reverse: bool = False) -> str:
    """```-A PREROUTING … -j DNAT …`` (iptables-nft nat/PREROUTING) in qrouter-…``, or
    ``conntrack reversing `…` …`` for a reply undone by conntrack."""
    text = f"`{r.text}` ({r.source} {r.where}) in {host}"
    return f"conntrack reversing {text}" if reverse else text


def attribute(analysis: Analysis, rules: Mapping[str, Sequence[NatRule]]) -> Analysis:
    """``analysis`` with each translation's rules, the snapshots' ``multiple-nat-owners``
    findings, and the diagnosis quoting the rules behind the translations it names."""
    nat = []
    lines = []
    for t in analysis.nat:
        found = rules_for(t, rules, analysis.nat)
        quoted = tuple(quote(*m) for m in found if m[1].source != "conntrack")
        quoted = quoted or tuple(quote(*m) for m in found)
        nat.append(replace(t, rules=quoted[:3]))
        if quoted:
            verb = "DNAT" if t.kind == "dnat" else "SNAT"
            what = "the request" if t.leg == "request" else "the reply"
            lines.append(f"{what} {t.before.addr} -> {t.after.addr}: {verb} by {quoted[0]}")
    all_rules = [r for rs in rules.values() for r in rs]
    extra = tuple(owner_findings(all_rules))
    diagnosis = analysis.diagnosis
    if diagnosis is not None and lines:
        diagnosis = _quote_rules(diagnosis, lines)
    return replace(analysis, nat=tuple(nat), findings=analysis.findings + extra,
                   diagnosis=diagnosis)


def _quote_rules(d: Diagnosis, lines: list[str]) -> Diagnosis:
    text = "Rules behind the translations (from the hosts' snapshots): " + "; ".join(
        dict.fromkeys(lines)) + "."
    return replace(d, explanation=f"{d.explanation}\n{text}")
