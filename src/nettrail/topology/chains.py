"""Which netfilter hooks reach a chain: through jumps and gotos from the chains hooked in.

A rule in a chain of its own (``neutron-l3-agent-OUTPUT``) runs only for packets that reach
that chain: its hooks are those of the built-in (iptables) or base (nft) chains with a path
of jumps to it. ``NatRule.hooks`` carries them, so the analysis can tell a rule that only
locally made packets meet (OUTPUT) from one a routed packet meets (PREROUTING).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from nettrail.model.topology import NatRule

Chain = tuple[str, ...]
"""A chain, named with what makes it unique: (table, chain) or (family, table, chain)."""


def chain_hooks(base: Mapping[Chain, str], jumps: Iterable[tuple[Chain, Chain]],
                ) -> dict[Chain, tuple[str, ...]]:
    """Each chain reached from a hooked one -> its hooks (sorted): ``base`` maps the hooked
    chains to their hook, ``jumps`` are (from, to) pairs of jumps and gotos."""
    targets: dict[Chain, set[Chain]] = {}
    for src, dst in jumps:
        targets.setdefault(src, set()).add(dst)
    found: dict[Chain, set[str]] = {}
    for start, hook in base.items():
        todo, seen = [start], {start}
        while todo:
            chain = todo.pop()
            found.setdefault(chain, set()).add(hook)
            for nxt in targets.get(chain, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
    return {chain: tuple(sorted(hooks)) for chain, hooks in found.items()}


def with_hooks(rules: Iterable[tuple[Chain, NatRule]], hooks: Mapping[Chain, tuple[str, ...]],
               ) -> list[NatRule]:
    """The rules, each with the hooks of its chain (none where no hooked chain reaches it)."""
    return [replace(rule, hooks=hooks.get(chain, ())) for chain, rule in rules]
