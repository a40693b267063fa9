"""A connection spans from its earliest packet time to its latest, also when the capture's
times go backwards (kday4.pcap: "3 packets, -0.5 ms"; of10_inv_OFPST_FLOW.pcap: a second
packet 43 years before the first): ``first_ns``/``last_ns`` are those times on the record
path and the table path, and the text report's duration is their difference, never
negative."""

from __future__ import annotations

import json

from flowkit import MS, T0, Wire
from nettrail.analyze.flows import FlowTracker
from nettrail.analyze.table_flows import track_table
from nettrail.model.flow import Connection
from nettrail.model.packet import ACK, PSH, SYN
from nettrail.model.table import table_from_records
from nettrail.report.json import connection_dict
from nettrail.report.text import connection_text

C = "198.51.100.2:40000"
S = "203.0.113.10:22"
C2 = "198.51.100.2:40001"


def _wire() -> Wire:
    """A midstream connection whose second packet is stamped before the first, and one whose
    latest time is in the middle (a SYN sent again: the table gives it to the tracker)."""
    w = Wire()
    w.tcp(10.0, C, S, PSH | ACK, seq=100, ack=500, length=347)
    w.tcp(9.5, C, S, PSH | ACK, seq=447, ack=500, length=347)
    w.tcp(10.2, S, C, ACK, seq=500, ack=794)
    w.tcp(20.0, C2, S, SYN, seq=7)
    w.tcp(25.0, C2, S, SYN, seq=7)
    w.tcp(19.0, C2, S, SYN, seq=7)
    w.tcp(22.0, C2, S, SYN, seq=7)
    return w


def _check(conns: list[Connection]) -> None:
    spans = {c.client.port: (c.first_ns - T0, c.last_ns - T0) for c in conns}
    assert spans == {40000: (round(9.5 * MS), round(10.2 * MS)),
                     40001: (19 * MS, 25 * MS)}
    assert [c.client.port for c in conns] == [40000, 40001]  # by earliest time


def test_records_span_earliest_to_latest() -> None:
    w = _wire()
    tracker = FlowTracker(w.point)
    tracker.consume(w.records)
    conns, _findings = tracker.finish()
    _check(conns)


def test_table_spans_earliest_to_latest() -> None:
    w = _wire()
    conns, _findings = track_table(table_from_records(w.point, w.records))
    _check(conns)


def test_text_and_json_give_the_same_duration() -> None:
    w = _wire()
    conns, _findings = track_table(table_from_records(w.point, w.records))
    first = conns[0]
    assert "3 packets, 0.7 ms," in connection_text(first)
    d = json.loads(json.dumps(connection_dict(first)))
    assert d["last_ns"] - d["first_ns"] == round(0.7 * MS)
    assert "6.0 ms" in connection_text(conns[1])
