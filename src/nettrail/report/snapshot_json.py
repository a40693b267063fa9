"""The snapshot as JSON (documented in docs/snapshot.md): the topology, NAT owners, findings."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any, TextIO

from nettrail.model.finding import Finding
from nettrail.model.topology import NatOwner, Topology


def to_dict(topo: Topology, owners: dict[str, list[NatOwner]],
            findings: Sequence[Finding]) -> dict[str, Any]:
    """The JSON document of one snapshot, as plain data."""
    data = dataclasses.asdict(topo)
    data = {"version": data.pop("version"), **data}
    data["owners"] = [{"address": addr, "owners": [
        {"place": o.place, "direction": o.direction, "namespace": o.rule.namespace,
         "source": o.rule.source, "where": o.rule.where, "kind": o.rule.kind,
         "stateful": o.rule.stateful, "text": o.rule.text} for o in entries]}
        for addr, entries in owners.items()]
    data["findings"] = [{"kind": f.kind, "severity": str(f.severity), "summary": f.summary,
                         "details": f.details} for f in findings]
    return data


def render(topo: Topology, owners: dict[str, list[NatOwner]], findings: Sequence[Finding],
           out: TextIO) -> None:
    """Write the snapshot's JSON document to ``out``."""
    json.dump(to_dict(topo, owners, findings), out, indent=1)
    out.write("\n")
