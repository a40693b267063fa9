"""The JSON report of ``nettrail analyze``: the versioned object documented in docs/json.md.

``render(analysis, out)`` writes one JSON object; ``to_dict(analysis)`` gives it as plain
Python data. Both only reshape the model; nothing is computed here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TextIO

from nettrail.model.analysis import (
    Analysis,
    ClockOffset,
    Diagnosis,
    NatTranslation,
    PointSummary,
)
from nettrail.model.finding import Evidence, Finding
from nettrail.model.flow import Connection, Endpoint, FlowKey

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6"}


def render(analysis: Analysis, out: TextIO) -> None:
    """Write ``analysis`` as one JSON object to ``out``: one line per top-level key and per
    list item (readable, diffable, and written by the fast C encoder)."""
    encode = _encode
    items = list(to_dict(analysis, connections=False).items())
    items.insert(2, ("connections", analysis.connections))
    out.write("{\n")
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if key == "connections" and value:  # the bulk of a large report: lines built directly
            out.write(f"{encode(key)}: [\n")
            out.write(",\n".join(f"  {connection_json(c)}" for c in value))
            out.write(f"\n]{comma}\n")
        elif isinstance(value, list | tuple) and value:
            out.write(f"{encode(key)}: [\n")
            out.write(",\n".join(f"  {encode(v)}" for v in value))
            out.write(f"\n]{comma}\n")
        else:
            out.write(f"{encode(key)}: {encode(value)}{comma}\n")
    out.write("}\n")


def to_dict(analysis: Analysis, *, connections: bool = True) -> dict[str, Any]:
    """The JSON object of ``analysis`` as plain data (schema version ``analysis.version``);
    without its ``connections`` when ``connections`` is False (``render`` writes those)."""
    out = {
        "version": analysis.version,
        "points": [point_dict(p) for p in analysis.points],
        "connections": [connection_dict(c) for c in analysis.connections] if connections else [],
        "findings": [finding_dict(f) for f in analysis.findings],
        "clock": [clock_dict(c) for c in analysis.clock],
        "nat": [nat_dict(t) for t in analysis.nat],
        "diagnosis": None if analysis.diagnosis is None else diagnosis_dict(analysis.diagnosis),
        "warnings": list(analysis.warnings),
    }
    if not connections:
        del out["connections"]
    return out


def endpoint_dict(e: Endpoint) -> dict[str, Any]:
    """``{"addr": "198.51.100.2", "port": 40000}``."""
    return {"addr": e.addr, "port": e.port}


def key_dict(k: FlowKey | None) -> dict[str, Any] | None:
    """The direction-normalised 5-tuple: protocol name and both endpoints, smaller first."""
    if k is None:
        return None
    return {"proto": PROTO_NAMES.get(k.proto, str(k.proto)), "a": endpoint_dict(k.a),
            "b": endpoint_dict(k.b)}


def time_iso(ns: int) -> str:
    """ISO 8601 UTC time with microseconds: ``2023-11-14T22:13:20.000123Z``."""
    return f"{_second(ns // 1_000_000_000)}.{(ns % 1_000_000_000) // 1000:06d}Z"


@lru_cache(maxsize=4096)
def _second(sec: int) -> str:
    return f"{datetime.fromtimestamp(sec, UTC):%Y-%m-%dT%H:%M:%S}"


def point_dict(p: PointSummary) -> dict[str, Any]:
    """One capture point's summary."""
    return {
        "name": p.name,
        "files": list(p.files),
        "formats": list(p.formats),
        "packets": p.packets,
        "interfaces": list(p.interfaces),
        "skipped": dict(p.skipped),
        "warnings": list(p.warnings),
    }


def connection_dict(c: Connection) -> dict[str, Any]:
    """One TCP connection at one point."""
    return {
        "point": c.point,
        "key": key_dict(c.key),
        "client": endpoint_dict(c.client),
        "server": endpoint_dict(c.server),
        "outcome": str(c.outcome),
        "packets": c.packets,
        "first_ns": c.first_ns,
        "last_ns": c.last_ns,
        "first_time": time_iso(c.first_ns),
        "retransmissions": c.retransmissions,
        "copies": c.copies,
        "bytes_client": c.bytes_client,
        "bytes_server": c.bytes_server,
    }


def connection_json(c: Connection) -> str:
    """``connection_dict(c)`` as JSON text, built directly (the same text the encoder writes,
    several times quicker: a report may hold hundreds of thousands of connections)."""
    client, server = _endpoint_json(c.client), _endpoint_json(c.server)
    k = c.key
    if k is None:
        key = "null"
    else:
        a = client if k.a == c.client else server if k.a == c.server else _endpoint_json(k.a)
        b = server if k.b == c.server else client if k.b == c.client else _endpoint_json(k.b)
        key = f'{{"proto": {_text(PROTO_NAMES.get(k.proto, str(k.proto)))}, "a": {a}, "b": {b}}}'
    return (f'{{"point": {_text(c.point)}, "key": {key}, "client": {client}, '
            f'"server": {server}, "outcome": {_text(c.outcome)}, "packets": {c.packets:d}, '
            f'"first_ns": {c.first_ns:d}, "last_ns": {c.last_ns:d}, '
            f'"first_time": "{time_iso(c.first_ns)}", '
            f'"retransmissions": {c.retransmissions:d}, "copies": {c.copies:d}, '
            f'"bytes_client": {c.bytes_client:d}, "bytes_server": {c.bytes_server:d}}}')


_encode = json.JSONEncoder(ensure_ascii=False).encode
_texts: dict[str, str] = {}


def _text(s: str) -> str:
    """A JSON string (cached: points, outcomes and addresses repeat)."""
    text = _texts.get(s)
    if text is None:
        if len(_texts) >= 65536:
            _texts.clear()
        text = _texts[s] = _encode(str(s))
    return text


def _endpoint_json(e: Endpoint) -> str:
    return f'{{"addr": {_text(e.addr)}, "port": {e.port:d}}}'


def evidence_dict(e: Evidence) -> dict[str, Any]:
    """One evidence packet: where it is and what it was."""
    return {
        "point": e.point,
        "file": e.file,
        "frame": e.frame,
        "time_ns": e.time_ns,
        "time": time_iso(e.time_ns),
        "ifname": e.ifname,
        "text": e.text,
        "note": e.note,
    }


def finding_dict(f: Finding) -> dict[str, Any]:
    """One finding with its evidence."""
    return {
        "kind": f.kind,
        "severity": str(f.severity),
        "summary": f.summary,
        "root_cause": f.root_cause,
        "connection": key_dict(f.connection),
        "details": dict(f.details),
        "evidence": [evidence_dict(e) for e in f.evidence],
    }


def clock_dict(c: ClockOffset) -> dict[str, Any]:
    """A point's clock offset against the reference point, in ms (positive: ahead)."""
    return {
        "point": c.point,
        "reference": c.reference,
        "offset_ms": round(c.offset_ns / 1e6, 3),
        "uncertainty_ms": round(c.uncertainty_ns / 1e6, 3),
        "samples": c.samples,
    }


def nat_dict(t: NatTranslation) -> dict[str, Any]:
    """One observed address translation."""
    return {
        "kind": t.kind,
        "leg": t.leg,
        "before": endpoint_dict(t.before),
        "after": endpoint_dict(t.after),
        "from_point": t.from_point,
        "to_point": t.to_point,
        "at": t.at,
        "packets": t.packets,
        "connection": key_dict(t.connection),
    }


def diagnosis_dict(d: Diagnosis) -> dict[str, Any]:
    """The root cause, what to do, and the chain of evidence."""
    return {
        "headline": d.headline,
        "explanation": d.explanation,
        "action": d.action,
        "kinds": list(d.kinds),
        "chain": [evidence_dict(e) for e in d.chain],
    }
