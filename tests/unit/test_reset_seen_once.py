"""A RST seen only at the one point that saw its connection, beside points that saw nothing
of it: as one capture tells it, the RST carries the server's address and nothing more. Who
made it is not known: not "the server reset the connection"."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowkit import Wire
from nettrail.analyze.pipeline import analyze_records
from nettrail.capture import open_capture
from nettrail.model.packet import ACK, RST, SYN

RUNS = Path(__file__).parents[1] / "fixtures" / "labruns"
C, S, C2 = "203.0.113.10:40000", "203.0.113.223:22", "203.0.113.10:40001"


@pytest.mark.parametrize("run", ["dual-l3", "port-closed"])
def test_a_client_capture_beside_another_runs_server_capture(run: str) -> None:
    """The router's RST (dual-l3), the refusal (port-closed): with a server capture of
    another run beside it, no point but the client's saw the connection."""
    points = {"client": list(open_capture(str(RUNS / run / "client.pcap"), "client")),
              "vm": list(open_capture(str(RUNS / "healthy" / "vm.pcap"), "vm"))}
    got = analyze_records(points)
    assert "reset-from-server" not in [f.kind for f in got.findings]
    assert got.diagnosis is not None and got.diagnosis.kinds == ("inconclusive",)
    (unknown,) = [f for f in got.findings if f.kind == "reset-origin-unknown"]
    assert "no packet of the other points (vm) is one of this connection's" in unknown.summary


def test_a_connection_that_never_reached_a_capturing_point() -> None:
    """Both points capture at once (another connection crosses both); the reset connection
    reached none but the client's: something on the way may have answered for the server."""
    client, server = Wire("client", "client.pcap"), Wire("server", "server.pcap")
    for w, dt in ((client, 0.0), (server, 0.3)):  # the connection both points saw
        w.tcp(0.0 + dt, C2, S, SYN, seq=100)
        w.tcp(1.0 - dt, S, C2, SYN | ACK, seq=900, ack=101)
        w.tcp(2.0 + dt, C2, S, ACK, seq=101, ack=901)
    client.tcp(10.0, C, S, SYN, seq=1000)
    client.tcp(11.0, S, C, SYN | ACK, seq=5000, ack=1001)
    client.tcp(12.0, C, S, ACK, seq=1001, ack=5001)
    client.tcp(13.0, S, C, RST, seq=5001)
    server.tcp(20.0, S, C2, ACK, seq=901, ack=101)  # still capturing after the RST
    got = analyze_records({"client": client.records, "server": server.records})
    assert [f.kind for f in got.findings if f.root_cause] == []
    assert got.diagnosis is not None and got.diagnosis.kinds == ("inconclusive",)
    assert any(f.kind == "reset-origin-unknown" for f in got.findings)
