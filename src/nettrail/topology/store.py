"""Snapshots in a run directory: ``snapshots/HOST.json``, one per host, written by ``nettrail
lab run`` (and remote collection), read back by ``nettrail analyze RUN``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from nettrail.analyze import owners as nat_owners
from nettrail.errors import InputError
from nettrail.jsonfile import parse_json, read_json
from nettrail.model.topology import NatRule, Topology
from nettrail.report import snapshot_json

SNAPSHOT_DIR = "snapshots"
WHAT = "a nettrail snapshot"


def write(run_dir: Path, host: str, topo: Topology) -> Path:
    """Write ``topo`` as ``RUN/snapshots/HOST.json`` (the documented JSON) and return the path."""
    folder = run_dir / SNAPSHOT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{host}.json"
    with open(path, "w") as out:
        render(topo, out)
    return path


def render(topo: Topology, out: TextIO) -> None:
    """``topo`` as the snapshot JSON (with its NAT owners and findings) on ``out``."""
    rules = nat_owners.topology_rules([topo])
    snapshot_json.render(topo, nat_owners.owners(rules), nat_owners.findings(rules), out)


def write_text(run_dir: Path, host: str, text: str) -> Path:
    """Write a host's snapshot JSON received as text (a remote host's) as
    ``RUN/snapshots/HOST.json``, after checking it reads as a snapshot (InputError if not)."""
    where = f"{host}'s snapshot"
    try:
        nat_rules(parse_json(text, where, WHAT))
    except ValueError as exc:
        raise InputError(f"{where}: not {WHAT} ({exc})") from exc
    folder = run_dir / SNAPSHOT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{host.replace('/', '_')}.json"
    path.write_text(text, encoding="utf-8")
    return path


def read_rules(run_dir: Path) -> tuple[dict[str, list[NatRule]], list[InputError]]:
    """(host -> its NAT rules, one error per unreadable file) from ``RUN/snapshots/*.json``."""
    folder = run_dir / SNAPSHOT_DIR
    out: dict[str, list[NatRule]] = {}
    errors: list[InputError] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out[path.stem] = nat_rules(read_json(path, WHAT))
        except InputError as exc:
            errors.append(exc)
        except ValueError as exc:
            errors.append(InputError(f"{path}: not {WHAT} ({exc})"))
    return out, errors


def nat_rules(data: Any) -> list[NatRule]:
    """The NAT rules of every namespace of a snapshot document; ValueError saying what in
    it is not as ``snapshot_json`` writes it."""
    namespaces = data.get("namespaces") if isinstance(data, dict) else None
    if not isinstance(namespaces, list):
        raise ValueError("no 'namespaces' list")
    rules: list[NatRule] = []
    for i, ns in enumerate(namespaces):
        nat = ns.get("nat") if isinstance(ns, dict) else None
        if not isinstance(nat, list):
            raise ValueError(f"namespaces[{i}] has no 'nat' list")
        rules.extend(_rule(r, f"namespaces[{i}].nat[{j}]") for j, r in enumerate(nat))
    return rules


def _rule(d: Any, where: str) -> NatRule:
    if not isinstance(d, dict):
        raise ValueError(f"{where} is not an object")
    for key in ("namespace", "source", "where", "kind", "text"):
        if not isinstance(d.get(key), str):
            raise ValueError(f"{where}.{key} is not a string")
    hooks = d.get("hooks", [])  # absent in snapshots written before it
    for key, value in (("before", d.get("before")), ("after", d.get("after")),
                       ("hooks", hooks)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{where}.{key} is not a list of strings")
    if not isinstance(d.get("stateful"), bool):
        raise ValueError(f"{where}.stateful is not true or false")
    return NatRule(d["namespace"], d["source"], d["where"], d["kind"], tuple(d["before"]),
                   tuple(d["after"]), d["stateful"], d["text"], tuple(hooks))
