"""Write a topology snapshot of each lab host into a run directory (``snapshots/HOST.json``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from nettrail.lab.scenario import Scenario
from nettrail.topology import NetnsRef, snapshot_refs, store


def write(scn: Scenario, output: Path) -> list[Path]:
    """Snapshot every host namespace of ``scn`` (one pass) and write one file per host."""
    hosts = {h.netns: h.name for h in scn.hosts}
    refs = []
    for name in hosts:
        path = Path("/run/netns") / name
        try:
            refs.append(NetnsRef(name, path.stat().st_ino, str(path)))
        except OSError:
            continue
    topo = snapshot_refs(refs)
    written = []
    for ns in topo.namespaces:
        one = replace(topo, namespaces=(ns,),
                      bridges=tuple(b for b in topo.bridges if b.namespace == ns.name))
        written.append(store.write(output, hosts[ns.name], one))
    return written
