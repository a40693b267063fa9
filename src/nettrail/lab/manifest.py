"""The manifest of a lab run: what was captured where, and what the client saw."""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nettrail.errors import InputError, LabError
from nettrail.jsonfile import read_json
from nettrail.lab.outcome import TrafficResult
from nettrail.lab.scenario import Scenario

MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"
WHAT = "a run manifest"  # a lab run's or a collect run's: analyze reads both


def build(scenario: Scenario, points: Sequence[Mapping[str, Any]], traffic: TrafficResult,
          timings: Mapping[str, float], started: float) -> dict[str, Any]:
    """The manifest as a JSON-ready dict (documented in docs/lab.md)."""
    t = scenario.traffic
    return {
        "version": MANIFEST_VERSION,
        "scenario": scenario.name,
        "summary": scenario.summary,
        "host": platform.node(),
        "kernel": platform.release(),
        "started": started,
        "points": list(points),
        "traffic": {"host": t.host, "kind": t.kind, "target": t.target, "port": t.port},
        "outcome": {
            "result": traffic.outcome,
            "expected": traffic.expected,
            "as_expected": traffic.as_expected,
            "exit_code": traffic.exit_code,
            "detail": traffic.detail,
            "received": traffic.received,
            "elapsed_s": traffic.elapsed,
        },
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }


def point_entry(point: str, netns: str, pcap: str, interfaces: Mapping[int, str],
                counts: Mapping[str, int] | None) -> dict[str, Any]:
    """One capture point of the manifest: name, namespace, pcap file, ifindex -> name."""
    return {
        "name": point,
        "netns": netns,
        "pcap": pcap,
        "interfaces": {str(k): v for k, v in sorted(interfaces.items())},
        "tcpdump": dict(counts or {}),
    }


def write(output: Path, data: Mapping[str, Any]) -> Path:
    """Write ``manifest.json`` into ``output``; return its path."""
    path = output / MANIFEST_NAME
    try:
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise LabError(f"cannot write {path}: {exc.strerror}") from exc
    return path


def read(output: Path) -> dict[str, Any]:
    """Read the manifest of a run directory (InputError naming the file when it is none)."""
    path = output / MANIFEST_NAME
    data = read_json(path, WHAT)
    if not isinstance(data, dict):
        raise InputError(f"{path}: not {WHAT} (not a JSON object)")
    return data


def captures_of(output: Path) -> tuple[list[tuple[str, str]], dict[str, dict[int, str]]]:
    """A run directory's (point, pcap path) pairs in capture order, and ifindex -> name per point.

    What ``analyze_files(captures, ifnames=...)`` takes; InputError when the manifest is
    unusable.
    """
    data = read(output)
    try:
        captures = [(_text(p["name"]), str(output / _text(p["pcap"]))) for p in data["points"]]
        ifnames = {str(p["name"]): {int(k): _text(v) for k, v in p["interfaces"].items()}
                   for p in data["points"]}
    except KeyError as exc:
        raise InputError(f"{output / MANIFEST_NAME}: not {WHAT} (missing key {exc})") from exc
    except (TypeError, AttributeError, ValueError) as exc:
        raise InputError(f"{output / MANIFEST_NAME}: not {WHAT} ('points' must be a list of "
                         "objects with name, pcap and interfaces {ifindex: name})") from exc
    return captures, ifnames


def drops_of(output: Path) -> dict[str, int]:
    """The packets each point's tcpdump said its capture dropped ("dropped by kernel"), by
    point, where it said any (a lab or collect run; nothing where the manifest says none)."""
    out: dict[str, int] = {}
    for p in read(output).get("points", ()):
        counts = p.get("tcpdump") if isinstance(p, dict) else None
        n = counts.get("dropped-by-kernel") if isinstance(counts, dict) else None
        if isinstance(n, int) and n > 0 and isinstance(p.get("name"), str):
            out[p["name"]] = n
    return out


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not a string: {value!r}")
    return value
