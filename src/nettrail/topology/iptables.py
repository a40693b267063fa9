"""NAT rules out of ``iptables-save`` and ``ip6tables-save`` text (nft and legacy back ends
print the same form; IPv6 addresses with a port are bracketed: ``[2001:db8::1]:80``)."""

from __future__ import annotations

import shlex

from nettrail.model.topology import NatRule
from nettrail.topology.chains import Chain, chain_hooks, with_hooks

_DNAT = {"DNAT": "dnat", "REDIRECT": "dnat", "SNAT": "snat", "MASQUERADE": "snat",
         "NETMAP": ""}
_TO = ("--to-destination", "--to-source", "--to")
# IPv6 stateless prefix translation (mangle table): --src-pfx is rewritten to --dst-pfx
_NPT = {"SNPT": "snat", "DNPT": "dnat"}


def parse(text: str, namespace: str, source: str) -> tuple[list[NatRule], int, set[str]]:
    """(NAT rules, number of rules, tables seen) in ``iptables-save`` output; each rule with
    the hooks of its chain (the built-in chains that jump to it, ``chains``)."""
    table = ""
    nat: list[tuple[Chain, NatRule]] = []
    count = 0
    tables: set[str] = set()
    base: dict[Chain, str] = {}
    jumps: list[tuple[Chain, Chain]] = []
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            tables.add(table)
        elif line.startswith(":"):  # ":PREROUTING ACCEPT [0:0]"; a chain of its own: "-"
            name, _, rest = line[1:].partition(" ")
            if rest and not rest.startswith("-"):
                base[(table, name)] = name.lower()
        elif line.startswith("-A "):
            count += 1
            words = _split(line)
            opts = _options(words)
            goes = opts.get("-j") or opts.get("-g")
            if goes is not None:
                jumps.append(((table, words[1]), (table, goes)))
            rule = _nat_rule(line, words, opts, table, namespace, source)
            if rule is not None:
                nat.append(((table, words[1]), rule))
    return with_hooks(nat, chain_hooks(base, jumps)), count, tables


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line) if '"' in line or "'" in line else line.split()
    except ValueError:
        return line.split()


def _nat_rule(line: str, words: list[str], opts: dict[str, str], table: str, namespace: str,
              source: str) -> NatRule | None:
    target = opts.get("-j", "")
    if target in _NPT:
        return NatRule(namespace, source, f"{table}/{words[1]}", _NPT[target],
                       _words(opts.get("--src-pfx")), _words(opts.get("--dst-pfx")), False,
                       line)
    if target not in _DNAT:
        return None
    kind = _DNAT[target] or ("dnat" if "PREROUTING" in words[1] or "OUTPUT" in words[1]
                             else "snat")
    before = _words(opts.get("-d" if kind == "dnat" else "-s"))
    after: tuple[str, ...] = ()
    for key in _TO:
        if key in opts:
            after = to_addresses(opts[key])
    return NatRule(namespace, source, f"{table}/{words[1]}", kind, before, after, True, line)


def _options(words: list[str]) -> dict[str, str]:
    """Option -> value, long forms folded to short ones, negated matches left out."""
    alias = {"--source": "-s", "--destination": "-d", "--jump": "-j", "--goto": "-g",
             "--src": "-s", "--dst": "-d"}
    opts: dict[str, str] = {}
    negate = False
    for i, w in enumerate(words):
        if w == "!":
            negate = True
            continue
        if w.startswith("-") and i + 1 < len(words):
            key = alias.get(w, w)
            if not negate:
                opts.setdefault(key, words[i + 1])
        negate = False
    return opts


def _words(value: str | None) -> tuple[str, ...]:
    return (value,) if value else ()


def to_addresses(value: str) -> tuple[str, ...]:
    """Addresses of a NAT target's ``--to`` value: ``a-b:p`` -> (a, b); ``a/24`` kept.

    IPv6: ``[a]:p`` and ``[a-b]:p-q`` (bracketed when a port follows), ``a-b`` and ``a/64``
    (bare, every colon part of the address)."""
    if value.startswith("["):
        host = value[1:value.find("]")] if "]" in value else value[1:]
    elif value.count(":") <= 1:
        host = value.split(":", 1)[0]
    else:
        host = value
    return tuple(part for part in host.split("-") if part)
