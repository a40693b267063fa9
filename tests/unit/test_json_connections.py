"""The JSON report writes connection and finding lines directly: the same text as the
encoder's."""

from __future__ import annotations

import io
import json
from pathlib import Path

from nettrail.model.analysis import Analysis, NatTranslation, PointSummary
from nettrail.model.finding import Evidence, Finding, Severity
from nettrail.model.flow import Connection, Endpoint, FlowKey, Outcome
from nettrail.report.json import (
    connection_dict,
    connection_json,
    finding_dict,
    finding_json,
    nat_dict,
    render,
    to_dict,
)
from nettrail.report.json_lines import connection_texts, finding_texts, nat_texts
from nettrail.run import analyze_files

CROSS = Path(__file__).resolve().parents[1] / "fixtures" / "crosspoint"

ENCODE = json.JSONEncoder(ensure_ascii=False).encode


def conns() -> list[Connection]:
    a, b = Endpoint("198.51.100.2", 40000), Endpoint("203.0.113.10", 22)
    c, d = Endpoint("2001:db8::2", 0), Endpoint("2001:db8::10", 65535)
    return [
        Connection("host1", FlowKey.of(6, a, b), a, b, Outcome.CLOSED, 11, 1, 2 ** 62, 1, 2,
                   300, 4000),
        Connection('p\u00e9 "q"\\', FlowKey(99, c, d), d, c, Outcome.REFUSED, 2, 0, 0),
        Connection("h", FlowKey.of(17, a, c), a, c, Outcome.MIDSTREAM, 1, 5, 5),
    ]


def test_connection_json_is_what_the_encoder_writes() -> None:
    for c in conns():
        assert connection_json(c) == ENCODE(connection_dict(c))


def test_connection_texts_are_what_the_encoder_writes() -> None:
    """Many connections at once: endpoints, points, outcomes and seconds repeat (their texts
    are made once), keys made of other objects equal to the endpoints, or of other ones."""
    a, b = Endpoint("198.51.100.2", 40000), Endpoint("203.0.113.10", 22)
    a2 = Endpoint("198.51.100.2", 40000)  # equal to a, another object
    c = Endpoint("2001:db8::\u00e9\"", 7)
    many = [*conns(),
            Connection("host1", FlowKey(6, a2, b), a, b, Outcome.CLOSED, 3, 10**9, 10**9 + 1),
            Connection("host1", FlowKey(6, a, b), b, a, Outcome.RESET, 3, 10**9 + 5, 2 ** 63),
            Connection("host2", FlowKey(6, a, c), b, a, Outcome.ESTABLISHED, 1, 1, 1),
            Connection("host1", FlowKey(6, a, b), a, b, Outcome.CLOSED, 3, 10**9 - 1, 10**9)]
    assert connection_texts(many) == [ENCODE(connection_dict(x)) for x in many]
    assert connection_texts([]) == []


def test_render_is_to_dict() -> None:
    analysis = Analysis(points=(PointSummary(name="host1", files=("a.pcap",), formats=("pcap",),
                                             packets=3),), connections=tuple(conns()),
                        findings=())
    out = io.StringIO()
    render(analysis, out)
    assert json.loads(out.getvalue()) == json.loads(json.dumps(to_dict(analysis)))
    assert list(json.loads(out.getvalue())) == list(to_dict(analysis))


def reference(analysis: Analysis) -> str:
    """The report as the encoder alone writes it: one line per top-level key and item."""
    items = list(to_dict(analysis).items())
    out = ["{\n"]
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, list) and value:
            out.append(f"{ENCODE(key)}: [\n")
            out.append(",\n".join(f"  {ENCODE(v)}" for v in value))
            out.append(f"\n]{comma}\n")
        else:
            out.append(f"{ENCODE(key)}: {ENCODE(value)}{comma}\n")
    out.append("}\n")
    return "".join(out)


def test_finding_json_is_what_the_encoder_writes() -> None:
    a, b = Endpoint("198.51.100.2", 40000), Endpoint("2001:db8::1", 22)
    ev = (Evidence("h\u00e9", 'f "1".pcap', 3, 10**18 + 7, "x > y: Flags [S]", None, ""),
          Evidence("h", "f", 0, 0, "t\n\u2192", "eth0", 'note "q"'))
    for f in (Finding("reset", Severity.ERROR, "s\u00e9 \"x\"", ev, True, FlowKey.of(6, a, b),
                      {"point": "h", "count": "2"}),
              Finding("clock", Severity.INFO, "", ()),
              Finding("x", Severity.WARNING, "s", ev[1:], details={"a\n\"b": "\u00e9\\",
                                                                   "": ""})):
        assert finding_json(f) == ENCODE(finding_dict(f))


def test_finding_texts_are_what_the_encoder_writes() -> None:
    """Many findings at once: endpoints, details, points and seconds repeat (their texts are
    made once), equal ones as other objects; a key's protocol with no name; details that are
    not text to text."""
    a, b = Endpoint("198.51.100.2", 40000), Endpoint("2001:db8::1", 22)
    a2 = Endpoint("198.51.100.2", 40000)
    ev = (Evidence("h", "f.pcap", 3, 10**9 + 7, "x > y: Flags [S]", "eth0", "n"),
          Evidence("h", "f.pcap", 4, 10**9 + 8, "t\n\u2192", None, 'note "q"'),
          Evidence("h2", "f.pcap", 5, 2 * 10**9 - 1, "t", "eth1", ""))
    many = [Finding("retransmission", Severity.WARNING, "s", ev, False, FlowKey.of(6, a, b),
                    {"count": "2", "point": "h"}),
            Finding("retransmission", Severity.WARNING, "s2", ev[1:], False,
                    FlowKey(6, a2, b), {"count": "2", "point": "h"}),
            Finding("reset", Severity.ERROR, "s\u00e9", ev[:1], True, FlowKey(99, b, a),
                    {"count": "3", "point": "h"}),
            Finding("x", Severity.INFO, "", (), details={"n": 3, "l": [1]}),  # type: ignore[dict-item]
            Finding("x", Severity.INFO, "", ev[2:], details={"n": 3, "l": [1]})]  # type: ignore[dict-item]
    assert finding_texts(many) == [ENCODE(finding_dict(f)) for f in many]
    assert finding_texts([]) == []


def test_render_matches_the_encoder_on_recorded_captures() -> None:
    for name in ("incident", "refused"):
        files = sorted(CROSS.glob(f"{name}-*.pcap"))
        analysis = analyze_files([(p.stem.split("-", 1)[1], str(p)) for p in files]).analysis
        assert analysis.findings and analysis.connections
        out = io.StringIO()
        render(analysis, out)
        assert out.getvalue() == reference(analysis)


def test_nat_texts_are_what_the_encoder_writes() -> None:
    """Endpoints and connections repeat (their texts are made once), equal ones as other
    objects; no point judged, no connection, quoted rules, text needing escapes."""
    a, b = Endpoint("198.51.100.2", 40000), Endpoint("203.0.113.10", 22)
    a2 = Endpoint("198.51.100.2", 40000)
    c = Endpoint("2001:db8::\u00e9\"", 7)
    key = FlowKey.of(6, a, b)
    many = [NatTranslation("dnat", "request", b, c, "edge", "core", "edge", 12, key),
            NatTranslation("snat", "reply", a2, b, "p\u00e9 \"q\"\\", "x", None, 0,
                           FlowKey.of(6, a2, b)),
            NatTranslation("dnat", "request", b, c, "edge", "core", "edge", 2 ** 63, None),
            NatTranslation("snat", "request", a, c, "a", "b", "b", 3, FlowKey(17, c, a),
                           ("-A PREROUTING -j DNAT \"x\"", "flow,\u00e9")),
            NatTranslation("dnat", "request", b, c, "edge", "core", "edge", 12, key)]
    assert nat_texts(many) == [ENCODE(nat_dict(t)) for t in many]
    assert nat_texts([]) == []


ODD = ('q"uote', "back\\slash", "caf\u00e9", "ctl\x01\n\t", "\u2192", "plain", "")
"""Names that the encoder escapes (a quote, a backslash, control characters), non-ASCII
ones, and plain ones."""


def test_connection_without_key_and_odd_points() -> None:
    """A connection with no key (its key values written as nothing), among keyed ones, and
    points whose names need escaping."""
    a, b = Endpoint("198.51.100.2", 40000), Endpoint("203.0.113.10", 22)
    many = [Connection(point, None if i % 2 else FlowKey(6, a, b), a, b,  # type: ignore[arg-type]
                       Outcome.CLOSED, i, 10**9 * i, 10**9 * i + 1)
            for i, point in enumerate(ODD)]
    assert connection_texts(many) == [ENCODE(connection_dict(x)) for x in many]


def test_escaping_of_names_files_texts_and_notes() -> None:
    """Each text of a finding, its evidence and a translation that needs escaping is
    escaped as the encoder does, next to plain ones in the same slice."""
    a, b = Endpoint("198.51.100.2", 40000), Endpoint("203.0.113.10", 22)
    key = FlowKey.of(6, a, b)
    evidence = tuple(Evidence(s, s + ".pcap", i, 10**9 + i, s, s or None, s)
                     for i, s in enumerate(ODD))
    findings = [Finding(s, Severity.INFO, s, evidence[i:], i % 2 == 0, key, {s: s})
                for i, s in enumerate(ODD)]
    assert finding_texts(findings) == [ENCODE(finding_dict(f)) for f in findings]
    nat = [NatTranslation(s, s, a, Endpoint(s, 1), s, s, s or None, i, key)
           for i, s in enumerate(ODD)]
    assert nat_texts(nat) == [ENCODE(nat_dict(t)) for t in nat]


def test_render_of_many_items_is_the_encoders() -> None:
    """More connections, findings and translations than one slice holds (the lines of each
    slice written at once, the last without its comma); a finding whose evidence moved."""
    n = 4096 + 7
    eps = [Endpoint(f"198.51.{i // 250}.{i % 250}", 1024 + i) for i in range(n)]
    server = Endpoint("203.0.113.10", 443)
    conns = tuple(Connection("host1" if i % 3 else "p\u00e9", FlowKey.of(6, e, server), e,
                             server, Outcome.CLOSED, i, 10**18 + i * 999_999, 10**18 + i * 10**7)
                  for i, e in enumerate(eps))
    findings = tuple(
        Finding("retransmission", Severity.WARNING, f"resent {i}",
                tuple(Evidence("host1", "a.pcap", i + j, 10**18 + i * 12_345 + j, f"x {j}",
                               None if j else "eth0", "sent again") for j in range(i % 4)),
                False, c.key, {"count": str(i % 3)}).shifted({"host1": i % 5})
        for i, c in enumerate(conns))
    nat = tuple(NatTranslation("snat", "request", c.client, server, "host1", "host2",
                               None if i % 2 else "host1", i, c.key)
                for i, c in enumerate(conns))
    analysis = Analysis(points=(), connections=conns, findings=findings, nat=nat)
    out = io.StringIO()
    render(analysis, out)
    assert out.getvalue() == reference(analysis)
    empty = io.StringIO()
    render(Analysis(points=(), connections=(), findings=(), nat=nat[:1]), empty)
    assert empty.getvalue() == reference(Analysis(points=(), connections=(), findings=(),
                                                  nat=nat[:1]))
