"""Snapshots in a run directory: ``snapshots/HOST.json``, one per host, written by ``nettrail
lab run`` (and remote collection), read back by ``nettrail analyze RUN``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from nettrail.analyze import owners as nat_owners
from nettrail.errors import InputError
from nettrail.model.topology import NatRule, Topology
from nettrail.report import snapshot_json

SNAPSHOT_DIR = "snapshots"


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
    try:
        data = json.loads(text)
        for ns in data["namespaces"]:
            [_rule(r) for r in ns["nat"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not a nettrail snapshot: {exc!s}") from exc
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
            data = json.loads(path.read_text())
            out[path.stem] = [_rule(r) for ns in data["namespaces"] for r in ns["nat"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            errors.append(InputError(f"{path}: not a nettrail snapshot: {exc!s}"))
    return out, errors


def _rule(d: dict[str, Any]) -> NatRule:
    return NatRule(str(d["namespace"]), str(d["source"]), str(d["where"]), str(d["kind"]),
                   tuple(d["before"]), tuple(d["after"]), bool(d["stateful"]), str(d["text"]))
