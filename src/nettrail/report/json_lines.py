"""The bulk lines of the JSON report: connections, findings and NAT translations.

A slice of items is written by one ``%`` format: the line formats of its items joined, and
the values of all its lines in order (one pass over the items, the texts that repeat made
once each for the report: ``Texts``). Each line is the text ``json.JSONEncoder
(ensure_ascii=False)`` writes for the item's dict in report/json.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any

from nettrail.model.analysis import NatTranslation
from nettrail.model.cache import Memo, remember
from nettrail.model.finding import Finding
from nettrail.model.flow import Connection, Endpoint, FlowKey

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6"}
NS = 1_000_000_000

encode = json.JSONEncoder(ensure_ascii=False).encode
string = encode_basestring
"""A str as JSON text, as ``encode`` writes it (the encoder's own function, without its
checks of the value's type)."""

_texts: dict[str, str] = {}


def text(s: str) -> str:
    """A JSON string (cached: points, outcomes and addresses repeat)."""
    found = _texts.get(s)
    if found is None:
        found = remember(_texts, s, encode(str(s)))
    return found


def optional_text(s: str | None) -> str:
    """A JSON string, or null."""
    return "null" if s is None else text(s)


@lru_cache(maxsize=4096)
def second(sec: int) -> str:
    """The UTC second ``sec`` as ISO 8601 text, without its fraction."""
    return f"{datetime.fromtimestamp(sec, UTC):%Y-%m-%dT%H:%M:%S}"


def num(n: int | None) -> str:
    """A JSON integer, or null."""
    return "null" if n is None else int.__repr__(n)


def proto_text(proto: int) -> str:
    """A protocol's name (or number) as a JSON string."""
    return text(PROTO_NAMES.get(proto, str(proto)))


_ENDPOINT = '{"addr": %s, "port": %d}'
_KEY = '{"proto": %s, "a": %s, "b": %s}'


def endpoint_json(e: Endpoint) -> str:
    """``{"addr": ..., "port": ...}`` of ``e``."""
    return _ENDPOINT % (text(e.addr), e.port)


def details_json(details: dict[str, str]) -> str:
    """A finding's details as JSON text (the encoder's for anything but text to text)."""
    items = details.items()
    if all(type(k) is str and type(v) is str for k, v in items):
        return "{" + ", ".join([f"{string(k)}: {string(v)}" for k, v in items]) + "}"
    return encode(dict(details))


class Texts:
    """The texts a report repeats, each made once: endpoints, connection keys, names
    (points, files, kinds, severities, outcomes), names that may be missing (null),
    protocols, seconds and finding details."""

    __slots__ = ("details", "endpoints", "keys", "names", "optional", "protos", "seconds")

    def __init__(self) -> None:
        self.endpoints: Memo[Endpoint, str] = Memo(endpoint_json)
        self.keys: Memo[FlowKey | None, str] = Memo(self._key)
        self.names: Memo[Any, str] = Memo(text)
        self.optional: Memo[Any, str] = Memo(optional_text)
        self.protos: Memo[int, str] = Memo(proto_text)
        self.seconds: Memo[int, str] = Memo(second)
        self.details: Memo[tuple[tuple[str, str], ...], str] = Memo(
            lambda items: details_json(dict(items)))

    def _key(self, k: FlowKey | None) -> str:
        if k is None:
            return "null"
        eps = self.endpoints
        return _KEY % (self.protos[k.proto], eps[k.a], eps[k.b])


def _row(line: str) -> str:
    """The line format as a row of a list: indented, followed by a comma."""
    return f"  {line},\n"


def _texts_of(rows: list[str], args: Sequence[Any], width: int) -> list[str]:
    """Each row's line (``width`` values each), without the indent and comma."""
    return [row[2:-2] % tuple(args[i * width:(i + 1) * width]) for i, row in enumerate(rows)]


_CONNECTION = _row(
    '{"point": %s, "key": {"proto": %s, "a": %s, "b": %s}, "client": %s, "server": %s, '
    '"outcome": %s, "packets": %d, "first_ns": %d, "last_ns": %d, "first_time": "%s.%06dZ", '
    '"retransmissions": %d, "copies": %d, "bytes_client": %d, "bytes_server": %d}')
_CONNECTION_NO_KEY = _CONNECTION.replace('{"proto": %s, "a": %s, "b": %s}', "null%s%s%s")
"""A connection without a key (its three key values empty)."""
_CONNECTION_WIDTH = 16


def connection_args(conns: Sequence[Connection], texts: Texts) -> tuple[list[str], list[Any]]:
    """The row formats of ``conns`` and their values, in order."""
    eps, names, protos, seconds = texts.endpoints, texts.names, texts.protos, texts.seconds
    eps_get, names_get, seconds_get = eps.get, names.get, seconds.get
    rows = [_CONNECTION] * len(conns)
    args: list[Any] = []
    add = args.extend
    for i, c in enumerate(conns):
        cl, sv, k = c.client, c.server, c.key
        client = eps_get(cl) or eps[cl]
        server = eps_get(sv) or eps[sv]
        if k is None:
            rows[i] = _CONNECTION_NO_KEY
            proto, a, b = "", "", ""
        else:
            proto = protos[k.proto]
            if k.a is cl and k.b is sv:  # how connections are made: the same endpoints
                a, b = client, server
            elif k.a is sv and k.b is cl:
                a, b = server, client
            else:
                a, b = eps[k.a], eps[k.b]
        first, point, outcome = c.first_ns, c.point, c.outcome
        sec = first // NS
        add((names_get(point) or names[point], proto, a, b, client, server,
             names_get(outcome) or names[outcome], c.packets, first, c.last_ns,
             seconds_get(sec) or seconds[sec], first % NS // 1000, c.retransmissions,
             c.copies, c.bytes_client, c.bytes_server))
    return rows, args


def connection_texts(conns: Sequence[Connection], texts: Texts | None = None) -> list[str]:
    """The JSON text of each of ``conns`` (``texts``: those made before, added to)."""
    rows, args = connection_args(conns, texts or Texts())
    return _texts_of(rows, args, _CONNECTION_WIDTH)


def connection_lines(conns: Sequence[Connection], texts: Texts) -> str:
    """The rows of ``conns`` as one text: each line indented and followed by ``,\\n``."""
    rows, args = connection_args(conns, texts)
    return "".join(rows) % tuple(args)


_NAT = _row('{"kind": %s, "leg": %s, "before": %s, "after": %s, "from_point": %s, '
            '"to_point": %s, "at": %s, "packets": %s, "connection": %s%s}')
_NAT_WIDTH = 10


def nat_args(items: Sequence[NatTranslation], texts: Texts) -> list[Any]:
    """The values of the NAT rows of ``items``, in order (the last of each: its rules, or
    nothing)."""
    eps, names, optional, keys = texts.endpoints, texts.names, texts.optional, texts.keys
    eps_get, names_get, optional_get, keys_get = eps.get, names.get, optional.get, keys.get
    args: list[Any] = []
    add = args.extend
    for t in items:
        kind, leg, before, after, at, packets = t.kind, t.leg, t.before, t.after, t.at, t.packets
        source, target, conn, rules = t.from_point, t.to_point, t.connection, t.rules
        add((names_get(kind) or names[kind], names_get(leg) or names[leg],
             eps_get(before) or eps[before], eps_get(after) or eps[after],
             names_get(source) or names[source], names_get(target) or names[target],
             optional_get(at) or optional[at],
             packets if packets.__class__ is int else num(packets), keys_get(conn) or keys[conn],
             f', "rules": {encode(list(rules))}' if rules else ""))
    return args


def nat_texts(items: Sequence[NatTranslation], texts: Texts | None = None) -> list[str]:
    """The JSON text of each translation (``texts``: those made before, added to)."""
    return _texts_of([_NAT] * len(items), nat_args(items, texts or Texts()), _NAT_WIDTH)


def nat_lines(items: Sequence[NatTranslation], texts: Texts) -> str:
    """The rows of ``items`` as one text: each line indented and followed by ``,\\n``."""
    return _NAT * len(items) % tuple(nat_args(items, texts))


_FINDING_WIDTH = 6
_EVIDENCE_WIDTH = 9
_EVIDENCE = ('{"point": %s, "file": %s, "frame": %s, "time_ns": %s, "time": "%s.%06dZ", '
             '"ifname": %s, "text": %s, "note": %s}')


@lru_cache(maxsize=64)
def _finding_row(evidence: int) -> str:
    """The row format of a finding with ``evidence`` evidence packets."""
    return _row('{"kind": %s, "severity": %s, "summary": %s, "root_cause": %s, '
                '"connection": %s, "details": %s, "evidence": ['
                + ", ".join([_EVIDENCE] * evidence) + "]}")


def finding_args(findings: Sequence[Finding], texts: Texts) -> tuple[list[str], list[Any]]:
    """The row formats of ``findings`` and their values, in order."""
    esc = string
    names, seconds, keys = texts.names, texts.seconds, texts.keys
    names_get, seconds_get, keys_get = names.get, seconds.get, keys.get
    rows = []
    args: list[Any] = []
    add = args.extend
    for f in findings:
        evidence, k, kind, severity = f.evidence, f.connection, f.kind, f.severity
        rows.append(_finding_row(len(evidence)))
        add((names_get(kind) or names[kind], names_get(severity) or names[severity],
             esc(f.summary), "true" if f.root_cause else "false", keys_get(k) or keys[k],
             _details(f.details, texts.details)))
        for e in evidence:
            point, file, frame, ns, ifname = e.point, e.file, e.frame, e.time_ns, e.ifname
            sec = ns // NS
            add((names_get(point) or names[point], names_get(file) or names[file],
                 frame if frame.__class__ is int else num(frame),
                 ns if ns.__class__ is int else num(ns),
                 seconds_get(sec) or seconds[sec], ns % NS // 1000,
                 "null" if ifname is None else names_get(ifname) or names[ifname],
                 esc(e.text), esc(e.note)))
    return rows, args


def _details(details: dict[str, str], memo: Memo[tuple[tuple[str, str], ...], str]) -> str:
    """The text of a finding's details, made once for each distinct list of items (each
    time when a value cannot be a dict key)."""
    try:
        return memo[tuple(details.items())]
    except TypeError:
        return details_json(details)


def finding_texts(findings: Sequence[Finding], texts: Texts | None = None) -> list[str]:
    """The JSON text of each of ``findings`` (``texts``: those made before, added to)."""
    rows, args = finding_args(findings, texts or Texts())
    out = []
    at = 0
    for row, f in zip(rows, findings, strict=True):
        end = at + _FINDING_WIDTH + len(f.evidence) * _EVIDENCE_WIDTH
        out.append(row[2:-2] % tuple(args[at:end]))
        at = end
    return out


def finding_lines(findings: Sequence[Finding], texts: Texts) -> str:
    """The rows of ``findings`` as one text: each line indented and followed by ``,\\n``."""
    rows, args = finding_args(findings, texts)
    return "".join(rows) % tuple(args)


Lines = Callable[[Sequence[Any], Texts], str]
