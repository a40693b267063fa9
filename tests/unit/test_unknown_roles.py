"""When the handshake was not captured, "client" and "server" are only the side seen first and
the other one: a RST is then named by its sender's address, never called the client's or the
server's, and the diagnosis says which side is the client is not known."""

from __future__ import annotations

import pytest

from crosskit import ACK, PSH, RST, C, plain
from nettrail.analyze.pipeline import analyze_records
from nettrail.model.analysis import Analysis

S = "198.51.100.4:80"


def _midstream(*, handshake: bool, resetter: str = C) -> Analysis:
    """Data from the server seen first (or after a handshake), then one side resets."""
    net, req, rep = plain()
    if handshake:
        net.send(0.0, req, 2, seq=1000)  # SYN
        net.send(1.0, rep, 2 | ACK, seq=5000, ack=1001)
        net.send(2.0, req, ACK, seq=1001, ack=5001)
    net.send(10.0, rep, PSH | ACK, seq=5001, ack=1001, length=100)
    net.send(11.0, req, ACK, seq=1001, ack=5101)
    if resetter == C:
        net.send(12.0, req, RST | ACK, seq=1001, ack=5101, ip_id=0)
    else:
        net.send(12.0, rep, RST | ACK, seq=5101, ack=1001, ip_id=0)
    return analyze_records(net.points())


def _single(*, handshake: bool) -> list[str]:
    net, req, rep = plain()
    if handshake:
        net.send(0.0, req, 2, seq=1000)
        net.send(1.0, rep, 2 | ACK, seq=5000, ack=1001)
        net.send(2.0, req, ACK, seq=1001, ack=5001)
    net.send(10.0, rep, PSH | ACK, seq=5001, ack=1001, length=100)
    net.send(11.0, req, ACK, seq=1001, ack=5101)
    net.send(12.0, req, RST | ACK, seq=1001, ack=5101, ip_id=0)
    found = analyze_records({"client": net.points()["client"]}).findings
    return [f.summary for f in found if f.kind == "reset"]


def test_one_point_names_the_rst_by_its_sender_when_roles_are_a_guess() -> None:
    [summary] = _single(handshake=False)
    assert f"RST from {C}" in summary
    assert "client is not known" in summary
    assert "server's address" not in summary and "RST from the client" not in summary


def test_one_point_keeps_the_roles_it_saw() -> None:
    assert _single(handshake=True) == [f"client: {C} > {S}: RST from the client"]


@pytest.mark.parametrize("resetter", [C, S])
def test_the_diagnosis_does_not_blame_a_side_it_cannot_tell(resetter: str) -> None:
    result = _midstream(handshake=False, resetter=resetter)
    found = [f for f in result.findings if f.kind.startswith("reset-from")]
    assert found, "the RST's origin is judged"
    for f in found:
        assert f.summary.startswith(f"{resetter} reset the connection"), f.summary
        assert "client is not known" in f.summary
    # whichever side sent it, the origin is not a root cause: "server" would be a guess by
    # port (the high-port side's RST was a note, the low-port side's an error)
    assert not any(f.root_cause for f in found)
    diag = result.diagnosis
    assert diag is not None
    assert "the server reset" not in diag.headline
    assert "the client reset" not in diag.headline


def test_the_diagnosis_keeps_the_roles_a_handshake_shows() -> None:
    result = _midstream(handshake=True)
    found = [f for f in result.findings if f.kind.startswith("reset-from")]
    assert [f.kind for f in found] == ["reset-from-client"]
    assert found[0].summary.startswith(f"the client {C} reset the connection")
