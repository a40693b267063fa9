"""Single-point TCP analysis on hand-built records: every outcome, copies vs retransmissions."""

from __future__ import annotations

import pytest

from flowkit import Wire
from nettrail.analyze.flows import FlowTracker
from nettrail.model.finding import Finding, Severity
from nettrail.model.flow import Connection, Endpoint, Outcome
from nettrail.model.packet import ACK, FIN, NO_OPTIONS, PSH, RST, SYN, PacketRecord

C = "198.51.100.2:40000"
S = "203.0.113.10:22"


def track(w: Wire) -> tuple[list[Connection], list[Finding]]:
    tracker = FlowTracker(w.point)
    tracker.consume(w.records)
    return tracker.finish()


def handshake(w: Wire, t: float = 0.0) -> None:
    w.tcp(t, C, S, SYN, seq=100)
    w.tcp(t + 1, S, C, SYN | ACK, seq=500, ack=101)
    w.tcp(t + 2, C, S, ACK, seq=101, ack=501)


def kinds(findings: list[Finding]) -> list[str]:
    return [f.kind for f in findings]


def test_established_connection_has_no_finding() -> None:
    w = Wire()
    handshake(w)
    w.tcp(3, C, S, PSH | ACK, seq=101, ack=501, length=20)
    w.tcp(4, S, C, ACK, seq=501, ack=121)
    conns, findings = track(w)
    assert len(conns) == 1
    c = conns[0]
    assert c.outcome is Outcome.ESTABLISHED
    assert c.client == Endpoint("198.51.100.2", 40000)
    assert c.server == Endpoint("203.0.113.10", 22)
    assert (c.packets, c.bytes_client, c.bytes_server) == (5, 20, 0)
    assert (c.retransmissions, c.copies) == (0, 0)
    assert findings == []


def test_closed_after_both_fins() -> None:
    w = Wire()
    handshake(w)
    w.tcp(3, C, S, FIN | ACK, seq=101, ack=501)
    w.tcp(4, S, C, FIN | ACK, seq=501, ack=102)
    w.tcp(5, C, S, ACK, seq=102, ack=502)
    conns, findings = track(w)
    assert conns[0].outcome is Outcome.CLOSED
    assert findings == []


def test_refused_is_rst_answering_syn_with_evidence() -> None:
    w = Wire()
    w.tcp(0, C, S, SYN, seq=100)
    w.tcp(0.2, S, C, RST | ACK, seq=0, ack=101)
    conns, findings = track(w)
    assert conns[0].outcome is Outcome.REFUSED
    assert kinds(findings) == ["refused"]
    f = findings[0]
    assert f.severity is Severity.ERROR and f.root_cause
    assert [e.frame for e in f.evidence] == [1, 2]
    assert f.evidence[1].text == (
        "203.0.113.10.22 > 198.51.100.2.40000: Flags [R.], seq 0, ack 101, win 64240, length 0"
    )
    assert f.evidence[1].point == "host1" and f.evidence[1].file == "host1.pcap"


def test_reset_after_handshake_names_sender_and_answered_packet() -> None:
    w = Wire()
    handshake(w)
    w.tcp(3, C, S, PSH | ACK, seq=101, ack=501, length=10)
    w.tcp(4, S, C, RST, seq=501)
    conns, findings = track(w)
    assert conns[0].outcome is Outcome.RESET
    assert kinds(findings) == ["reset"]
    assert "RST from the server's address" in findings[0].summary
    assert [e.frame for e in findings[0].evidence] == [1, 4, 5]


def test_ack_without_synack_then_rst_is_reset_not_refused() -> None:
    # The router's view in the dual-L3 incident: the SYN-ACK bypassed this point.
    w = Wire()
    w.tcp(0, C, S, SYN, seq=100)
    w.tcp(2, C, S, ACK, seq=101, ack=501)
    w.tcp(2.1, S, C, RST, seq=501)
    conns, findings = track(w)
    assert conns[0].outcome is Outcome.RESET
    assert kinds(findings) == ["reset"]


def test_a_rst_where_no_handshake_was_seen_is_reset_midstream() -> None:
    # A capture that began after the SYN (it was answered by this RST: refused, as a point
    # that saw the SYN says) must not claim a handshake it never saw.
    w = Wire()
    w.tcp(0, S, C, RST | ACK, seq=0, ack=101)
    conns, findings = track(w)
    assert conns[0].outcome is Outcome.RESET_MIDSTREAM
    assert kinds(findings) == ["reset"]
    assert "the handshake was not captured" in findings[0].summary


def test_syn_unanswered_counts_retransmitted_syns() -> None:
    w = Wire()
    for t in (0, 1000, 3000):
        w.tcp(t, C, S, SYN, seq=100)
    conns, findings = track(w)
    assert conns[0].outcome is Outcome.SYN_UNANSWERED
    assert conns[0].retransmissions == 2
    assert kinds(findings) == ["syn-unanswered", "retransmission"]
    assert "3 sent" in findings[0].summary
    assert findings[1].evidence[0].note.startswith("sent again after 1000.0 ms")


def test_synack_unacknowledged() -> None:
    w = Wire()
    w.tcp(0, C, S, SYN, seq=100)
    w.tcp(1, S, C, SYN | ACK, seq=500, ack=101)
    w.tcp(1001, S, C, SYN | ACK, seq=500, ack=101)
    conns, findings = track(w)
    assert conns[0].outcome is Outcome.SYNACK_UNACKNOWLEDGED
    assert conns[0].retransmissions == 1
    assert kinds(findings) == ["synack-unacknowledged", "retransmission"]
    assert [e.frame for e in findings[0].evidence] == [1, 2]


def test_midstream_capture() -> None:
    w = Wire()
    w.tcp(0, C, S, PSH | ACK, seq=5000, ack=9000, length=100)
    w.tcp(1, S, C, ACK, seq=9000, ack=5100)
    conns, findings = track(w)
    assert conns[0].outcome is Outcome.MIDSTREAM
    assert conns[0].client == Endpoint("198.51.100.2", 40000)
    assert findings == []


def test_syn_ack_first_makes_receiver_the_client() -> None:
    w = Wire()
    w.tcp(0, S, C, SYN | ACK, seq=500, ack=101)
    w.tcp(1, C, S, ACK, seq=101, ack=501)
    conns, _ = track(w)
    assert conns[0].client == Endpoint("198.51.100.2", 40000)
    assert conns[0].outcome is Outcome.ESTABLISHED


def test_copies_on_several_interfaces_are_not_retransmissions() -> None:
    w = Wire()
    packets = [
        (0, C, S, SYN, 100, None, 0, "veth-c", "veth-s"),
        (1, S, C, SYN | ACK, 500, 101, 0, "veth-s", "veth-c"),
        (2, C, S, ACK, 101, 501, 0, "veth-c", "veth-s"),
        (3, C, S, PSH | ACK, 101, 501, 50, "veth-c", "veth-s"),
    ]
    for t, src, dst, flags, seq, ack, length, first_if, last_if in packets:
        rec = w.tcp(t, src, dst, flags, seq=seq, ack=ack, length=length, ifname=first_if)
        w.copy(rec, 8, "br0")
        w.copy(rec, 15, last_if)
    conns, findings = track(w)
    c = conns[0]
    assert c.outcome is Outcome.ESTABLISHED
    assert (c.packets, c.copies, c.retransmissions) == (12, 8, 0)
    assert c.bytes_client == 50
    assert kinds(findings) == ["multi-interface-copy"]
    f = findings[0]
    assert f.severity is Severity.INFO
    assert f.details["count"] == "8"
    assert f.details["interfaces"] == "br0,veth-c,veth-s"
    assert f.evidence[0].note == "copy of host1.pcap:1 on veth-c"


def test_loopback_in_and_out_are_copies() -> None:
    w = Wire()
    rec = w.tcp(0, C, S, ACK, seq=101, ack=501, ifname="lo", direction="out")
    w.copy(rec, 2, "lo", "in")
    conns, _ = track(w)
    assert conns[0].copies == 1


def test_copies_where_no_interface_is_named_do_not_claim_another_interface() -> None:
    """A capture that names no interface (a plain pcap, text without ``-i any``) cannot show
    that a packet seen twice crossed another interface: the finding says what it can."""
    w = Wire()
    handshake(w)
    rec = w.tcp(3, C, S, PSH | ACK, seq=101, ack=501, length=100)
    w.copy(rec, 1, None)
    _, findings = track(w)
    assert kinds(findings) == ["multi-interface-copy"]
    assert "another interface or direction" not in findings[0].summary
    assert "names no interface" in findings[0].summary
    named = Wire()
    handshake(named)
    rec = named.tcp(3, C, S, PSH | ACK, seq=101, ack=501, length=100, ifname="eth0")
    named.copy(rec, 1, "br0")
    _, findings = track(named)
    assert "on another interface or direction (br0, eth0)" in findings[0].summary


def _stamped(rec: PacketRecord, ts_val: int) -> PacketRecord:
    """``rec`` with the TCP timestamp option ``ts_val``."""
    tcp = rec.tcp
    assert tcp is not None and rec.headers.ip is not None
    return rec._replace(headers=rec.headers._replace(
        l4=tcp._replace(options=NO_OPTIONS._replace(ts_val=ts_val))))


@pytest.mark.parametrize(("time_ok", "ts_vals", "copies"), [
    (True, (38334, 38334), 1),
    (True, (38334, None), 1),  # one printed no TS val: nothing tells them apart
    (False, (38334, 38334), 0),  # text without times: 1 µs apart by line order only
    (True, (38334, 38734), 0),  # tcpdump -t of mptcp-fclose's lines 9 and 10 (4 s apart)
])
def test_copies_need_usable_times_and_the_same_tcp_timestamp(
        time_ok: bool, ts_vals: tuple[int, int | None], copies: int) -> None:
    w = Wire()
    handshake(w)
    rec = w.tcp(3, C, S, ACK, seq=101, ack=501, ip_id=None)
    w.copy(rec, 1, None)
    w.records[-2:] = [r._replace(time_ok=time_ok) if v is None else
                      _stamped(r, v)._replace(time_ok=time_ok)
                      for r, v in zip(w.records[-2:], ts_vals, strict=True)]
    conns, findings = track(w)
    assert (conns[0].copies, conns[0].retransmissions) == (copies, 0)
    assert ("multi-interface-copy" in kinds(findings)) == bool(copies)


def test_identical_pure_acks_on_same_interface_are_separate_packets() -> None:
    w = Wire()
    handshake(w)
    w.tcp(3, S, C, ACK, seq=501, ack=101, ifname="eth0", direction="in", ip_id=None)
    w.tcp(3.01, S, C, ACK, seq=501, ack=101, ifname="eth0", direction="in", ip_id=None)
    conns, _ = track(w)
    assert (conns[0].copies, conns[0].retransmissions) == (0, 0)


def test_retransmission_after_rto_on_same_interface() -> None:
    w = Wire()
    handshake(w)
    w.tcp(3, C, S, PSH | ACK, seq=101, ack=501, length=100, ifname="eth0")
    w.tcp(210, C, S, PSH | ACK, seq=101, ack=501, length=100, ifname="eth0")
    w.tcp(211, S, C, ACK, seq=501, ack=201, ifname="eth0")
    conns, findings = track(w)
    c = conns[0]
    assert (c.retransmissions, c.copies) == (1, 0)
    assert c.bytes_client == 200
    assert kinds(findings) == ["retransmission"]
    assert findings[0].evidence[0].frame == 5
    assert findings[0].evidence[0].note == "sent again after 207.0 ms (previously host1.pcap:4)"


def test_identical_segment_soon_after_with_new_ip_id_is_a_retransmission() -> None:
    w = Wire()
    handshake(w)
    w.tcp(3, C, S, PSH | ACK, seq=101, ack=501, length=100)
    w.tcp(3.5, C, S, PSH | ACK, seq=101, ack=501, length=100)
    conns, _ = track(w)
    assert (conns[0].retransmissions, conns[0].copies) == (1, 0)


def test_partial_overlap_below_highest_sent_is_a_retransmission() -> None:
    w = Wire()
    handshake(w)
    w.tcp(3, C, S, ACK, seq=101, ack=501, length=100)
    w.tcp(4, C, S, ACK, seq=201, ack=501, length=100)
    w.tcp(300, C, S, ACK, seq=151, ack=501, length=100)
    conns, _ = track(w)
    assert conns[0].retransmissions == 1


def test_port_reuse_after_close_starts_a_new_connection() -> None:
    w = Wire()
    w.tcp(0, C, S, SYN, seq=100)
    w.tcp(1, S, C, RST | ACK, seq=0, ack=101)
    w.tcp(5000, C, S, SYN, seq=90000)
    w.tcp(5001, S, C, SYN | ACK, seq=700, ack=90001)
    w.tcp(5002, C, S, ACK, seq=90001, ack=701)
    conns, findings = track(w)
    assert [c.outcome for c in conns] == [Outcome.REFUSED, Outcome.ESTABLISHED]
    assert [c.packets for c in conns] == [2, 3]
    assert kinds(findings) == ["refused"]


def test_new_isn_on_unanswered_key_is_a_new_attempt() -> None:
    w = Wire()
    w.tcp(0, C, S, SYN, seq=100)
    w.tcp(90_000, C, S, SYN, seq=777)
    conns, _ = track(w)
    assert len(conns) == 2
    assert all(c.retransmissions == 0 for c in conns)


def test_text_without_seq_numbers_copies_and_syn_retransmission() -> None:
    w = Wire()
    syn = w.tcp(0, C, S, SYN, seq=None, ip_id=None)
    w.copy(syn, 5, None)
    w.tcp(1000, C, S, SYN, seq=None, ip_id=None)
    w.tcp(1001, S, C, SYN | ACK, seq=None, ip_id=None)
    data = w.tcp(1002, C, S, PSH | ACK, seq=None, length=30, ip_id=None)
    w.copy(data, 5, None)
    conns, _ = track(w)
    c = conns[0]
    assert (c.copies, c.retransmissions) == (2, 1)
    assert c.outcome is Outcome.ESTABLISHED
    assert c.bytes_client == 30


def test_relative_sequence_numbers_from_text() -> None:
    w = Wire()
    w.tcp(0, C, S, SYN, seq=3_000_000_000)
    w.tcp(1, S, C, SYN | ACK, seq=123456, ack=1, seq_relative=True)
    w.tcp(2, C, S, ACK, seq=1, ack=1, seq_relative=True)
    w.tcp(3, C, S, PSH | ACK, seq=1, ack=1, length=10, seq_relative=True)
    w.tcp(400, C, S, PSH | ACK, seq=1, ack=1, length=10, seq_relative=True)
    conns, _ = track(w)
    assert conns[0].retransmissions == 1


def test_many_connections_sorted_by_first_packet() -> None:
    w = Wire()
    for i in range(5):
        w.tcp(i, f"198.51.100.2:{41000 - i}", S, SYN, seq=i)
    conns, findings = track(w)
    assert [c.client.port for c in conns] == [41000, 40999, 40998, 40997, 40996]
    assert len(findings) == 5


def test_sequence_wraparound_is_new_data_not_retransmission() -> None:
    w = Wire()
    top = 2**32
    w.tcp(0, C, S, SYN, seq=top - 150)
    w.tcp(1, S, C, SYN | ACK, seq=500, ack=top - 149)
    w.tcp(2, C, S, ACK, seq=top - 149, ack=501)
    w.tcp(3, C, S, PSH | ACK, seq=top - 149, ack=501, length=100)
    w.tcp(4, C, S, PSH | ACK, seq=top - 49, ack=501, length=100)  # crosses 2**32
    w.tcp(5, C, S, PSH | ACK, seq=51, ack=501, length=100)
    w.tcp(300, C, S, PSH | ACK, seq=top - 49, ack=501, length=100)  # resent across the wrap
    conns, _ = track(w)
    assert conns[0].retransmissions == 1
    assert conns[0].bytes_client == 400


def test_copies_a_loaded_switch_passes_on_late_are_not_retransmissions() -> None:
    w = Wire()
    handshake(w)
    rec = w.tcp(3, C, S, PSH | ACK, seq=101, ack=501, length=100, ifname="ex-local",
                direction="out")
    w.copy(rec, 4000, "ex-port", "in")
    w.copy(rec, 8000, "pe-1", "out")  # 8 ms after the first, with the same IP ID
    late = w.tcp(20, S, C, ACK, seq=501, ack=201, ifname="tap1", direction="in")
    w.copy(late, 40_000, "eth0", "out")  # 40 ms on, but the same IP ID
    conns, findings = track(w)
    assert (conns[0].retransmissions, conns[0].copies) == (0, 3)
    assert kinds(findings) == ["multi-interface-copy"]


@pytest.mark.parametrize(("first", "again", "ip_id"), [
    (("tap1", None), (40_000, "eth0", None), 0),  # nothing ties them, far beyond a copy's gap
    (("eth0", "out"), (100, "eth0", "out"), -1),  # the same device, the same way: sent twice
], ids=["late-untied", "same-device"])
def test_repeats_that_cannot_be_copies_are_retransmissions(
        first: tuple[str, str | None], again: tuple[float, str, str | None], ip_id: int) -> None:
    w = Wire()
    handshake(w)
    rec = w.tcp(3, C, S, PSH | ACK, seq=101, ack=501, length=100, ifname=first[0],
                direction=first[1], ip_id=ip_id)
    w.copy(rec, *again)
    conns, _ = track(w)
    assert (conns[0].retransmissions, conns[0].copies) == (1, 0)
