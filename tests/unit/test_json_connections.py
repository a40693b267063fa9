"""The JSON report writes connection lines directly: the same text as the encoder's."""

from __future__ import annotations

import io
import json

from nettrail.model.analysis import Analysis, PointSummary
from nettrail.model.flow import Connection, Endpoint, FlowKey, Outcome
from nettrail.report.json import connection_dict, connection_json, render, to_dict

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


def test_render_is_to_dict() -> None:
    analysis = Analysis(points=(PointSummary(name="host1", files=("a.pcap",), formats=("pcap",),
                                             packets=3),), connections=tuple(conns()),
                        findings=())
    out = io.StringIO()
    render(analysis, out)
    assert json.loads(out.getvalue()) == json.loads(json.dumps(to_dict(analysis)))
    assert list(json.loads(out.getvalue())) == list(to_dict(analysis))
