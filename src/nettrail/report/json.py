"""The JSON report of ``nettrail analyze``: the versioned object documented in docs/json.md.

``render(analysis, out)`` writes one JSON object; ``to_dict(analysis)`` gives it as plain
Python data. Both only reshape the model; nothing is computed here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any, TextIO

from nettrail.model.analysis import (
    Analysis,
    ClockCheck,
    ClockOffset,
    Diagnosis,
    NatTranslation,
    PointSummary,
)
from nettrail.model.cache import remember
from nettrail.model.finding import Evidence, Finding
from nettrail.model.flow import Connection, Endpoint, FlowKey

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6"}


def render(analysis: Analysis, out: TextIO) -> None:
    """Write ``analysis`` as one JSON object to ``out``: one line per top-level key and per
    list item (readable, diffable, and written by the fast C encoder)."""
    encode = _encode
    eps: dict[Endpoint, str] = {}  # the text of each endpoint, made once for the report
    items: list[tuple[str, Any]] = list(to_dict(analysis, bulk=False).items())
    items[2:2] = [("connections", analysis.connections), ("findings", analysis.findings)]
    out.write("{\n")
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if key == "connections" and value:  # the bulk of a large report: lines built directly
            out.write(f"{encode(key)}: [\n")
            _lines(out, value, lambda items: connection_texts(items, eps))
            out.write(f"\n]{comma}\n")
        elif key == "nat" and value:
            out.write(f"{encode(key)}: [\n")
            _lines(out, analysis.nat, lambda items: nat_texts(items, eps))
            out.write(f"\n]{comma}\n")
        elif key == "findings" and value:
            out.write(f"{encode(key)}: [\n")
            _lines(out, value, lambda items: finding_texts(items, eps))
            out.write(f"\n]{comma}\n")
        elif isinstance(value, list | tuple) and value:
            out.write(f"{encode(key)}: [\n")
            out.write(",\n".join(f"  {encode(v)}" for v in value))
            out.write(f"\n]{comma}\n")
        else:
            out.write(f"{encode(key)}: {encode(value)}{comma}\n")
    out.write("}\n")


def _lines(out: TextIO, items: Sequence[Any],
           texts: Callable[[Sequence[Any]], list[str]]) -> None:
    """``items`` one per line (``texts`` makes the lines of a slice), comma-separated,
    written a few thousand at a time (memory stays that of a few thousand lines whatever the
    report's size)."""
    for start in range(0, len(items), 4096):
        if start:
            out.write(",\n")
        out.write("  " + ",\n  ".join(texts(items[start : start + 4096])))


def to_dict(analysis: Analysis, *, bulk: bool = True) -> dict[str, Any]:
    """The JSON object of ``analysis`` as plain data (schema version ``analysis.version``);
    without ``connections`` and ``findings`` when ``bulk`` is False (``render`` writes
    those itself)."""
    out = {
        "version": analysis.version,
        "points": [point_dict(p) for p in analysis.points],
        "connections": [connection_dict(c) for c in analysis.connections] if bulk else [],
        "findings": [finding_dict(f) for f in analysis.findings] if bulk else [],
        "clock": [clock_dict(c) for c in analysis.clock],
        "nat": [nat_dict(t) for t in analysis.nat],
        "diagnosis": None if analysis.diagnosis is None else diagnosis_dict(analysis.diagnosis),
        "warnings": list(analysis.warnings),
    }
    if analysis.clock_checks:
        out["clock_checks"] = [clock_check_dict(c) for c in analysis.clock_checks]
    if not bulk:
        del out["connections"], out["findings"]
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
    return connection_texts([c])[0]


def connection_texts(conns: Sequence[Connection],
                     eps: dict[Endpoint, str] | None = None) -> list[str]:
    """``connection_json`` of each of ``conns``, with the texts of their endpoints, points,
    outcomes and seconds made once each (``eps``: endpoint texts made before, added to)."""
    if eps is None:
        eps = {}
    words: dict[Any, str] = {}
    seconds: dict[int, str] = {}
    line = _CONNECTION
    out = []
    for c in conns:
        cl, sv, k = c.client, c.server, c.key
        client = eps.get(cl)
        if client is None:
            client = eps[cl] = _ENDPOINT % (_string(cl.addr), cl.port)
        server = eps.get(sv)
        if server is None:
            server = eps[sv] = _ENDPOINT % (_string(sv.addr), sv.port)
        if k is None:
            key = "null"
        elif k.a is cl and k.b is sv:  # how connections are made: the same endpoints
            key = _KEY % (words.get(k.proto) or _proto(k.proto, words), client, server)
        elif k.a is sv and k.b is cl:
            key = _KEY % (words.get(k.proto) or _proto(k.proto, words), server, client)
        else:
            key = _key_json(k)
        first = c.first_ns
        sec = first // 1_000_000_000
        out.append(line % (
            words.get(c.point) or _word(c.point, words), key, client, server,
            words.get(c.outcome) or _word(c.outcome, words), c.packets, first, c.last_ns,
            seconds.get(sec) or seconds.setdefault(sec, _second(sec)),
            first % 1_000_000_000 // 1000, c.retransmissions, c.copies, c.bytes_client,
            c.bytes_server))
    return out


def nat_texts(items: Sequence[NatTranslation],
              eps: dict[Endpoint, str] | None = None) -> list[str]:
    """``nat_dict`` of each translation as JSON text, built directly (the same text the
    encoder writes; endpoints and connections repeat, their texts are made once each;
    ``eps``: endpoint texts made before, added to)."""
    if eps is None:
        eps = {}
    keys: dict[FlowKey, str] = {}
    protos: dict[Any, str] = {}
    texts = _texts
    out = []
    line = _NAT
    for t in items:
        before = eps.get(t.before) or eps.setdefault(t.before, _endpoint_json(t.before))
        after = eps.get(t.after) or eps.setdefault(t.after, _endpoint_json(t.after))
        conn = t.connection
        key = "null" if conn is None else (keys.get(conn) or keys.setdefault(
            conn, _key_text(conn, eps, protos)))
        kind, leg, at, packets = t.kind, t.leg, t.at, t.packets
        source, target = t.from_point, t.to_point
        text = line % (
            texts.get(kind) or _text(kind), texts.get(leg) or _text(leg), before, after,
            texts.get(source) or _text(source), texts.get(target) or _text(target),
            "null" if at is None else texts.get(at) or _text(at),
            packets if packets.__class__ is int else _num(packets), key)
        if t.rules:
            text = f'{text[:-1]}, "rules": {_encode(list(t.rules))}}}'
        out.append(text)
    return out


def _key_text(k: FlowKey, eps: dict[Endpoint, str], protos: dict[Any, str]) -> str:
    """``_key_json(k)``, its endpoints' and protocol's texts taken from (or added to) ``eps``
    and ``protos``."""
    a, b = k.a, k.b
    return _KEY % (protos.get(k.proto) or _proto(k.proto, protos),
                   eps.get(a) or eps.setdefault(a, _endpoint_json(a)),
                   eps.get(b) or eps.setdefault(b, _endpoint_json(b)))


def _word(s: str, words: dict[Any, str]) -> str:
    text = words[s] = _text(s)
    return text


def _proto(proto: int, words: dict[Any, str]) -> str:
    text = words[proto] = _text(PROTO_NAMES.get(proto, str(proto)))
    return text


_ENDPOINT = '{"addr": %s, "port": %d}'
_KEY = '{"proto": %s, "a": %s, "b": %s}'
_CONNECTION = (
    '{"point": %s, "key": %s, "client": %s, "server": %s, "outcome": %s, "packets": %d, '
    '"first_ns": %d, "last_ns": %d, "first_time": "%s.%06dZ", "retransmissions": %d, '
    '"copies": %d, "bytes_client": %d, "bytes_server": %d}')
_NAT = ('{"kind": %s, "leg": %s, "before": %s, "after": %s, "from_point": %s, '
        '"to_point": %s, "at": %s, "packets": %s, "connection": %s}')
_encode = json.JSONEncoder(ensure_ascii=False).encode
_texts: dict[str, str] = {}


def _text(s: str) -> str:
    """A JSON string (cached: points, outcomes and addresses repeat)."""
    text = _texts.get(s)
    if text is None:
        text = remember(_texts, s, _encode(str(s)))
    return text


def _endpoint_json(e: Endpoint) -> str:
    return _ENDPOINT % (_text(e.addr), e.port)


_string = encode_basestring
"""A str as JSON text, as ``_encode`` writes it (the encoder's own function, without its
checks of the value's type)."""


def finding_json(f: Finding) -> str:
    """``finding_dict(f)`` as JSON text, built directly (the same text the encoder writes;
    a time's text needs no escaping)."""
    return finding_texts([f])[0]


def finding_texts(findings: Sequence[Finding],
                  eps: dict[Endpoint, str] | None = None) -> list[str]:
    """``finding_json`` of each of ``findings``, with the texts of their points, files,
    endpoints, details and seconds made once each (``eps``: endpoint texts made before,
    added to)."""
    if eps is None:
        eps = {}
    esc = _string
    texts = _texts
    seconds: dict[int, str] = {}
    details: dict[Any, str] = {}
    protos: dict[Any, str] = {}
    line, evidence_line = _FINDING, _EVIDENCE
    out = []
    for f in findings:
        evidence = []
        for e in f.evidence:
            point, file, frame, ns, ifname = e.point, e.file, e.frame, e.time_ns, e.ifname
            sec = ns // 1_000_000_000
            evidence.append(evidence_line % (
                texts.get(point) or _text(point), texts.get(file) or _text(file),
                frame if frame.__class__ is int else _num(frame),
                ns if ns.__class__ is int else _num(ns),
                seconds.get(sec) or seconds.setdefault(sec, _second(sec)),
                ns % 1_000_000_000 // 1000,
                "null" if ifname is None else texts.get(ifname) or _text(ifname),
                esc(e.text), esc(e.note)))
        k = f.connection
        key = "null" if k is None else _key_text(k, eps, protos)
        d = f.details
        try:
            items = tuple(d.items())
            about = details.get(items) or details.setdefault(items, _details(d))
        except TypeError:  # a value that cannot be a dict key: not remembered
            about = _details(d)
        kind, severity = f.kind, f.severity
        out.append(line % (
            texts.get(kind) or _text(kind), texts.get(severity) or _text(severity),
            esc(f.summary), "true" if f.root_cause else "false", key, about,
            ", ".join(evidence)))
    return out


_FINDING = ('{"kind": %s, "severity": %s, "summary": %s, "root_cause": %s, "connection": %s, '
            '"details": %s, "evidence": [%s]}')
_EVIDENCE = ('{"point": %s, "file": %s, "frame": %s, "time_ns": %s, "time": "%s.%06dZ", '
             '"ifname": %s, "text": %s, "note": %s}')


def _details(details: dict[str, str]) -> str:
    """A finding's details as JSON text (the encoder's for anything but text to text)."""
    items = details.items()
    if all(type(k) is str and type(v) is str for k, v in items):
        return "{" + ", ".join([f"{_string(k)}: {_string(v)}" for k, v in items]) + "}"
    return _encode(dict(details))


def _num(n: int | None) -> str:
    """A JSON integer, or null."""
    return "null" if n is None else int.__repr__(n)


def _key_json(k: FlowKey | None) -> str:
    if k is None:
        return "null"
    return (f'{{"proto": {_text(PROTO_NAMES.get(k.proto, str(k.proto)))}, '
            f'"a": {_endpoint_json(k.a)}, "b": {_endpoint_json(k.b)}}}')


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
