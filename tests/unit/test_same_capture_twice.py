"""One capture given as two points in two forms (its pcap and a pcapng or text of it, not
the same bytes): every packet at both at the same time, so neither point can be told first.
The router's RST is not said to be made at one of them, nor missing at the other."""

from __future__ import annotations

from pathlib import Path

from nettrail.analyze.pipeline import analyze_records
from nettrail.capture import open_capture

RUN = Path(__file__).parents[1] / "fixtures" / "labruns" / "netnode-client"


def test_a_capture_beside_itself_names_no_maker_of_the_rst() -> None:
    records = list(open_capture(str(RUN / "netnode.pcap"), "A"))
    alone = analyze_records({"A": records, "compute": list(open_capture(
        str(RUN / "compute.pcap"), "compute"))})
    assert alone.diagnosis is not None and "asymmetric-nat" in alone.diagnosis.kinds
    got = analyze_records({"A": records, "B": [r._replace(point="B") for r in records]})
    assert [f.kind for f in got.findings if f.root_cause] == []
    assert got.diagnosis is not None and got.diagnosis.kinds == ("inconclusive",)
    assert "times tell the points' order apart" in got.diagnosis.explanation
    (unknown,) = [f for f in got.findings if f.kind == "reset-origin-unknown"]
    assert "A and B saw it at the same time (every packet of this connection alike" in \
        unknown.summary
