"""The manifest of a collect run (``RUN/manifest.json``), read back by ``nettrail analyze``.

Its ``points`` have the shape of a lab run's (name, pcap, interfaces), so ``analyze RUN``
reads both; ``hosts`` adds each host's state, host key, clock measurements and counts.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nettrail.analyze.clockprobe import HostClock, ProbeEstimate
from nettrail.errors import InputError

if TYPE_CHECKING:
    from nettrail.collect.host import HostRun
    from nettrail.collect.run import CollectPlan, CollectResult

MANIFEST_NAME = "manifest.json"
KIND = "collect"
VERSION = 1


def build(plan: CollectPlan, result: CollectResult, started: float) -> dict[str, Any]:
    """The manifest as a JSON-ready dict (documented in docs/collect.md)."""
    points = [p for h in result.hosts for p in h.points]
    return {
        "version": VERSION,
        "kind": KIND,
        "collector": platform.node(),
        "started": started,
        "ended": time.time(),
        "filter": plan.settings.filter,
        "tracer": plan.tracer,
        "duration_s": plan.duration,
        "command": list(plan.command),
        "command_status": result.command_status,
        "interrupted": result.interrupted,
        "points": points,
        "hosts": [_host(h) for h in result.hosts],
        "timings": result.timings,
    }


def _host(h: HostRun) -> dict[str, Any]:
    clock = h.clock
    return {
        "name": h.name,
        "state": h.state,
        "reason": h.reason,
        "host_key": h.fingerprint,
        "hostname": h.info.get("hostname"),
        "kernel": h.info.get("kernel"),
        "packets": h.packets,
        "bytes": h.bytes,
        "tcpdump" if h.settings.tracer == "tcpdump" else "tracer": h.counts,
        "boot_id": h.info.get("boot_id"),
        "points": [p["name"] for p in h.points],
        "snapshot": h.snapshot or None,
        "timings": h.timings,
        "clock": None if clock is None else {
            "before": _estimate(clock.before),
            "after": _estimate(clock.after),
            "drift_ppm": clock.drift_ppm,
            "synchronised": clock.synchronised,
            "max_error_ns": clock.max_error_ns,
            "chrony": h.info.get("chrony"),
        },
    }


def _estimate(e: ProbeEstimate | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {"offset_ns": e.offset_ns, "uncertainty_ns": e.uncertainty_ns, "probes": e.probes,
            "at_ns": e.at_ns}


def write(output: Path, data: Mapping[str, Any]) -> Path:
    """Write the manifest into ``output`` atomically; return its path."""
    path = output / MANIFEST_NAME
    tmp = output / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def clocks(data: Mapping[str, Any]) -> dict[str, HostClock]:
    """The measured clocks of a collect manifest by host (empty for any other manifest);
    InputError saying which entry is unreadable."""
    if data.get("kind") != KIND:
        return {}
    hosts = data.get("hosts")
    if not isinstance(hosts, list):
        raise _unreadable("'hosts' is not a list")
    result = {}
    for i, h in enumerate(hosts):
        where = f"hosts[{i}]"
        if not isinstance(h, dict) or not isinstance(h.get("name"), str):
            raise _unreadable(f"{where} has no name")
        c = h.get("clock")
        if c is None:
            continue
        if not isinstance(c, dict):
            raise _unreadable(f"{where}.clock is not an object")
        synchronised, max_error = c.get("synchronised"), c.get("max_error_ns")
        if synchronised is not None and not isinstance(synchronised, bool):
            raise _unreadable(f"{where}.clock.synchronised is not true, false or null")
        if max_error is not None and not _is_number(max_error, int):
            raise _unreadable(f"{where}.clock.max_error_ns is not a whole number")
        result[h["name"]] = HostClock(
            h["name"], _read_estimate(c.get("before"), f"{where}.clock.before"),
            _read_estimate(c.get("after"), f"{where}.clock.after"), synchronised, max_error)
    return result


def _read_estimate(d: Any, where: str) -> ProbeEstimate | None:
    if d is None:
        return None
    if not isinstance(d, dict):
        raise _unreadable(f"{where} is not an object")
    for key, kind in (("offset_ns", float), ("uncertainty_ns", float), ("probes", int),
                      ("at_ns", int)):
        if not _is_number(d.get(key), kind):
            raise _unreadable(f"{where}.{key} is not a{' whole' if kind is int else ''} number")
    return ProbeEstimate(float(d["offset_ns"]), float(d["uncertainty_ns"]), d["probes"],
                         d["at_ns"])


def _is_number(value: Any, kind: type) -> bool:
    """A finite JSON number (a whole one when ``kind`` is int), not a boolean."""
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _unreadable(why: str) -> InputError:
    return InputError(f"unreadable clock measurements: {why}")
