"""The JSON report of ``nettrail analyze``: the versioned object documented in docs/json.md.

``render(analysis, out)`` writes one JSON object; ``to_dict(analysis)`` gives it as plain
Python data. Both only reshape the model; nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

from nettrail.model.analysis import (
    Analysis,
    ClockCheck,
    ClockOffset,
    Diagnosis,
    NatTranslation,
    PointSummary,
)
from nettrail.model.finding import Evidence, Finding
from nettrail.model.flow import Connection, Endpoint, FlowKey
from nettrail.report.json_lines import (
    PROTO_NAMES,
    Lines,
    Texts,
    connection_lines,
    connection_texts,
    finding_lines,
    finding_texts,
    nat_lines,
    second,
)
from nettrail.report.json_lines import encode as _encode


def render(analysis: Analysis, out: TextIO) -> None:
    """Write ``analysis`` as one JSON object to ``out``: one line per top-level key and per
    list item (readable, diffable; the connections, findings and NAT translations are built
    directly, the rest written by the fast C encoder)."""
    encode = _encode
    texts = Texts()  # the texts that repeat, made once for the report
    bulk: dict[str, tuple[Sequence[Any], Lines]] = {
        "connections": (analysis.connections, connection_lines),
        "findings": (analysis.findings, finding_lines),
        "nat": (analysis.nat, nat_lines),
    }
    items: list[tuple[str, Any]] = list(to_dict(analysis, bulk=False).items())
    out.write("{\n")
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if key in bulk:
            rows, lines = bulk[key]
            if rows:
                out.write(f"{encode(key)}: [\n")
                _lines(out, rows, lines, texts)
                out.write(f"\n]{comma}\n")
            else:
                out.write(f"{encode(key)}: []{comma}\n")
        elif isinstance(value, list | tuple) and value:
            out.write(f"{encode(key)}: [\n")
            out.write(",\n".join(f"  {encode(v)}" for v in value))
            out.write(f"\n]{comma}\n")
        else:
            out.write(f"{encode(key)}: {encode(value)}{comma}\n")
    out.write("}\n")


def _lines(out: TextIO, items: Sequence[Any], lines: Lines, texts: Texts) -> None:
    """``items`` one per line, comma-separated, written a few thousand at a time (memory
    stays that of a few thousand lines whatever the report's size)."""
    n = len(items)
    for start in range(0, n, 4096):
        text = lines(items[start : start + 4096], texts)
        out.write(text if start + 4096 < n else text[:-2])  # the last without its comma


def to_dict(analysis: Analysis, *, bulk: bool = True) -> dict[str, Any]:
    """The JSON object of ``analysis`` as plain data (schema version ``analysis.version``);
    when ``bulk`` is False, with ``connections``, ``findings`` and ``nat`` left empty
    (``render`` writes those itself)."""
    out = {
        "version": analysis.version,
        "points": [point_dict(p) for p in analysis.points],
        "connections": [connection_dict(c) for c in analysis.connections] if bulk else [],
        "findings": [finding_dict(f) for f in analysis.findings] if bulk else [],
        "clock": [clock_dict(c) for c in analysis.clock],
        "nat": [nat_dict(t) for t in analysis.nat] if bulk else [],
        "diagnosis": None if analysis.diagnosis is None else diagnosis_dict(analysis.diagnosis),
        "warnings": list(analysis.warnings),
    }
    if analysis.clock_checks:
        out["clock_checks"] = [clock_check_dict(c) for c in analysis.clock_checks]
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
    return f"{second(ns // 1_000_000_000)}.{(ns % 1_000_000_000) // 1000:06d}Z"


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
        "untimed_packets": p.untimed,
        "capture_dropped": p.capture_dropped,
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
    return connection_texts([c])[0]


def finding_json(f: Finding) -> str:
    """``finding_dict(f)`` as JSON text, built directly (the same text the encoder writes)."""
    return finding_texts([f])[0]


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
        "source": c.source,
        "two_sided": c.two_sided,
        "limits_ms": [None if v is None else round(v / 1e6, 3) + 0.0 for v in c.limits[::-1]],
    }


def clock_check_dict(c: ClockCheck) -> dict[str, Any]:
    """A point's clock against the reference by probes and by packets (ms), and the verdict."""
    def ms(v: float | None) -> float | None:
        return None if v is None else round(v / 1e6, 3)

    return {
        "point": c.point,
        "reference": c.reference,
        "probe_offset_ms": ms(c.probe_offset_ns),
        "probe_uncertainty_ms": ms(c.probe_uncertainty_ns),
        "packet_offset_ms": ms(c.packet_offset_ns),
        "packet_uncertainty_ms": ms(c.packet_uncertainty_ns),
        "offset_ms": ms(c.offset_ns),
        "uncertainty_ms": ms(c.uncertainty_ns),
        "verdict": c.verdict,
    }


def nat_dict(t: NatTranslation) -> dict[str, Any]:
    """One observed address translation (``rules`` only when snapshots named them)."""
    out: dict[str, Any] = {
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
    if t.rules:
        out["rules"] = list(t.rules)
    return out


def diagnosis_dict(d: Diagnosis) -> dict[str, Any]:
    """The root cause, what to do, and the chain of evidence."""
    return {
        "headline": d.headline,
        "explanation": d.explanation,
        "action": d.action,
        "kinds": list(d.kinds),
        "chain": [evidence_dict(e) for e in d.chain],
    }
