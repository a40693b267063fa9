"""The JSON report: every documented field, its types, and that it round-trips through json."""

from __future__ import annotations

import io
import json

from fixtures.report_analysis import dual_l3_analysis
from flowkit import Wire
from nettrail.analyze.pipeline import analyze_records
from nettrail.model.analysis import FORMAT_VERSION
from nettrail.model.packet import ACK, RST, SYN
from nettrail.report import json as report_json

C = "198.51.100.2:40000"
S = "203.0.113.10:22"


def rendered(analysis: object) -> dict[str, object]:
    out = io.StringIO()
    report_json.render(analysis, out)  # type: ignore[arg-type]
    data: dict[str, object] = json.loads(out.getvalue())
    return data


def test_single_point_object_has_every_top_level_key() -> None:
    w = Wire()
    w.tcp(0, C, S, SYN, seq=1)
    w.tcp(0.5, S, C, RST | ACK, seq=0, ack=2)
    data = rendered(analyze_records({"host1": w.records}))
    assert list(data) == ["version", "points", "connections", "findings", "clock", "nat",
                          "diagnosis", "warnings"]
    assert data["version"] == FORMAT_VERSION == 1
    assert data["clock"] == [] and data["nat"] == []
    assert data["diagnosis"]["kinds"] == ["refused"]  # type: ignore[index]
    (conn,) = data["connections"]  # type: ignore[misc]
    assert conn == {
        "point": "host1",
        "key": {"proto": "tcp", "a": {"addr": "198.51.100.2", "port": 40000},
                "b": {"addr": "203.0.113.10", "port": 22}},
        "client": {"addr": "198.51.100.2", "port": 40000},
        "server": {"addr": "203.0.113.10", "port": 22},
        "outcome": "refused",
        "packets": 2,
        "first_ns": 1_700_000_000_000_000_000,
        "last_ns": 1_700_000_000_000_500_000,
        "first_time": "2023-11-14T22:13:20.000000Z",
        "retransmissions": 0,
        "copies": 0,
        "bytes_client": 0,
        "bytes_server": 0,
    }
    (finding,) = data["findings"]  # type: ignore[misc]
    assert finding["kind"] == "refused" and finding["severity"] == "error"
    assert finding["root_cause"] is True
    assert finding["details"] == {"outcome": "refused", "point": "host1"}
    assert finding["evidence"][1] == {
        "point": "host1",
        "file": "host1.pcap",
        "frame": 2,
        "time_ns": 1_700_000_000_000_500_000,
        "time": "2023-11-14T22:13:20.000500Z",
        "ifname": None,
        "text": "203.0.113.10.22 > 198.51.100.2.40000: Flags [R.], seq 0, ack 2, win 64240, "
                "length 0",
        "note": "RST from the server",
    }


def test_cross_point_parts_clock_nat_diagnosis() -> None:
    analysis = dual_l3_analysis()
    data = rendered(analysis)
    clock = data["clock"]
    assert isinstance(clock, list) and len(clock) == len(analysis.clock)
    for c, model in zip(clock, analysis.clock, strict=True):
        assert set(c) == {"point", "reference", "offset_ms", "uncertainty_ms", "samples",
                          "source", "two_sided", "limits_ms"}
        assert c["offset_ms"] == round(model.offset_ns / 1e6, 3)
        assert c["two_sided"] is model.two_sided
        most, least = model.limits
        assert c["limits_ms"] == [None if v is None else round(v / 1e6, 3)
                                  for v in (least, most)]
    nat = data["nat"]
    assert isinstance(nat, list) and nat
    assert set(nat[0]) == {"kind", "leg", "before", "after", "from_point", "to_point", "at",
                           "packets", "connection"}
    diagnosis = data["diagnosis"]
    assert isinstance(diagnosis, dict)
    assert diagnosis["headline"] == analysis.diagnosis.headline  # type: ignore[union-attr]
    assert len(diagnosis["chain"]) == len(analysis.diagnosis.chain)  # type: ignore[union-attr]


def test_one_line_per_item_and_valid_json() -> None:
    out = io.StringIO()
    report_json.render(dual_l3_analysis(), out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    assert lines[1] == '"version": 1,'
    json.loads(out.getvalue())
