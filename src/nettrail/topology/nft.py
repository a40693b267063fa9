"""NAT statements and stateless address rewrites out of ``nft -j list ruleset``, IPv4 and
IPv6 (``ip6 saddr set …``, ``dnat ip6 to [2001:db8::1]:80``)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from nettrail.errors import InputError
from nettrail.model.topology import NatRule
from nettrail.topology.chains import Chain, chain_hooks, with_hooks

_FIELDS = {"saddr": "snat", "daddr": "dnat"}


def parse(text: str, namespace: str, skip: Collection[tuple[str, str]] = (),
          ) -> tuple[list[NatRule], int, set[tuple[str, str]]]:
    """(NAT rules, rules counted, (family, table) pairs seen) in nft's JSON ruleset.

    Tables in ``skip`` (those iptables-nft and ip6tables-nft print) and rules made by them
    (``xt`` expressions) are not counted: ``iptables-nft-save``/``ip6tables-nft-save`` read them.
    """
    try:
        items = json.loads(text).get("nftables", []) if text.strip() else []
    except (ValueError, AttributeError) as exc:
        raise InputError(f"nft -j list ruleset in {namespace}: not JSON: {exc}") from exc
    nat: list[tuple[Chain, NatRule]] = []
    count = 0
    tables: set[tuple[str, str]] = set()
    base: dict[Chain, str] = {}
    jumps: list[tuple[Chain, Chain]] = []
    for item in items:
        chain = item.get("chain") if isinstance(item, dict) else None
        if isinstance(chain, dict) and isinstance(chain.get("hook"), str):
            base[_chain(chain, "name")] = chain["hook"].lower()
        rule = item.get("rule") if isinstance(item, dict) else None
        if not isinstance(rule, dict):
            continue
        table = (str(rule.get("family", "")), str(rule.get("table", "")))
        tables.add(table)
        exprs = rule.get("expr") or []
        if table in skip or any(isinstance(e, dict) and "xt" in e for e in exprs):
            continue
        count += 1
        here = _chain(rule, "chain")
        for e in exprs:
            goes = (e.get("jump") or e.get("goto")) if isinstance(e, dict) else None
            if isinstance(goes, dict) and isinstance(goes.get("target"), str):
                jumps.append((here, (*here[:2], goes["target"])))
        nat.extend((here, r) for r in rule_nat(rule, namespace))
    return with_hooks(nat, chain_hooks(base, jumps)), count, tables


def _chain(d: dict[str, Any], key: str) -> Chain:
    """(family, table, chain) of a chain or rule object."""
    return (str(d.get("family", "")), str(d.get("table", "")), str(d.get(key, "")))


def rule_nat(rule: dict[str, Any], namespace: str) -> list[NatRule]:
    """The NAT rules one nft rule amounts to: a nat statement, a payload rewrite, or both."""
    exprs = [e for e in rule.get("expr") or [] if isinstance(e, dict)]
    where = f"{rule.get('family')} {rule.get('table')}/{rule.get('chain')}"
    text = " ".join(expr_text(e) for e in exprs)
    matches = _matches(exprs)
    out: list[NatRule] = []
    for e in exprs:
        if "snat" in e or "dnat" in e or "masquerade" in e or "redirect" in e:
            key = next(k for k in ("snat", "dnat", "masquerade", "redirect") if k in e)
            kind = "snat" if key in ("snat", "masquerade") else "dnat"
            arg = e[key] if isinstance(e[key], dict) else {}
            after = _values(arg.get("addr")) if "addr" in arg else ()
            out.append(NatRule(namespace, "nftables", where, kind,
                               matches.get(kind, ()), after, True, text))
        elif "mangle" in e:
            field = _payload_field(e["mangle"].get("key"))
            if field in _FIELDS:
                kind = _FIELDS[field]
                out.append(NatRule(namespace, "nftables", where, kind, matches.get(kind, ()),
                                   _values(e["mangle"].get("value")), False, text))
    return out


def _matches(exprs: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """``snat``/``dnat`` -> the addresses an ``ip saddr``/``ip daddr ==`` match selects."""
    out: dict[str, tuple[str, ...]] = {}
    for e in exprs:
        m = e.get("match")
        if not isinstance(m, dict) or m.get("op") not in ("==", "in"):
            continue
        field = _payload_field(m.get("left"))
        if field in _FIELDS:
            out[_FIELDS[field]] = out.get(_FIELDS[field], ()) + _values(m.get("right"))
    return out


def _payload_field(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("payload"), dict):
        p = value["payload"]
        if p.get("protocol") in ("ip", "ip6"):
            return str(p.get("field"))
    return None


def _values(value: Any) -> tuple[str, ...]:
    """Addresses or prefixes of an nft JSON value: literal, prefix, range or set."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, dict):
        if "prefix" in value:
            return (f"{value['prefix'].get('addr')}/{value['prefix'].get('len')}",)
        if "range" in value:
            return tuple(str(v) for v in value["range"])
        if "set" in value:
            return tuple(v for item in value["set"] for v in _values(item))
    if isinstance(value, list):
        return tuple(v for item in value for v in _values(item))
    return ()


def expr_text(e: dict[str, Any]) -> str:
    """One nft JSON expression written back as nft's own text, near enough to quote."""
    if "match" in e:
        m = e["match"]
        op = "" if m.get("op") in ("==", "in") else f"{m.get('op')} "
        return f"{_operand(m.get('left'))} {op}{_operand(m.get('right'))}"
    if "mangle" in e:
        return f"{_operand(e['mangle'].get('key'))} set {_operand(e['mangle'].get('value'))}"
    for key in ("snat", "dnat", "redirect", "masquerade"):
        if key in e:
            arg = e[key] if isinstance(e[key], dict) else {}
            to = _operand(arg.get("addr")) if "addr" in arg else ""
            if "port" in arg:  # an IPv6 address is bracketed before its port, as nft does
                to = f"[{to}]" if ":" in to else to
                to += f":{_operand(arg['port'])}"
            family = f" {arg['family']}" if "family" in arg else ""  # inet: dnat ip6 to …
            return f"{key}{family} to {to}" if to else key
    if "fwd" in e:
        return f"fwd to {_operand(e['fwd'].get('dev'))}"
    if "counter" in e:
        return "counter"
    if "jump" in e or "goto" in e:
        key = "jump" if "jump" in e else "goto"
        return f"{key} {e[key].get('target')}"
    for verdict in ("accept", "drop", "return", "continue"):
        if verdict in e:
            return verdict
    return next(iter(e), "?")


def _operand(value: Any) -> str:
    if isinstance(value, dict):
        if "payload" in value:
            p = value["payload"]
            return f"{p.get('protocol', 'raw')} {p.get('field', '')}".strip()
        if "meta" in value:
            return str(value["meta"].get("key"))
        if "prefix" in value:
            return f"{value['prefix'].get('addr')}/{value['prefix'].get('len')}"
        if "range" in value:
            return "-".join(str(v) for v in value["range"])
        if "set" in value:
            return "{ " + ", ".join(_operand(v) for v in value["set"]) + " }"
        if "ct" in value:
            return f"ct {value['ct'].get('key')}"
    if isinstance(value, list):
        return "{ " + ", ".join(_operand(v) for v in value) + " }"
    if isinstance(value, str) and not value.replace(".", "").replace(":", "").isalnum():
        return f'"{value}"'
    return str(value)
