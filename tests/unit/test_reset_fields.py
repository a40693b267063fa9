"""reset-injected from the IP and TCP fields of a RST, on packets written with real headers
and read back (pcap, and the real tcpdump's ``-v`` text of it): TTL, IP ID, TOS, window."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from capkit import eth, ipv4, ipv6, pcap, tcp
from nettrail.analyze.findings_host import RESET_INJECTED, host_findings
from nettrail.capture import open_capture
from nettrail.model.finding import Finding
from nettrail.model.packet import PacketRecord

CLIENT, SERVER = "203.0.113.10", "198.51.100.10"
CP, SP = 40000, 22
MS = 1_000_000
T0 = 1_700_000_000 * 1_000_000_000
SYN, RST, PSH, ACK = 0x02, 0x04, 0x08, 0x10


def _frames(rst_tos: int, rst_ttl: int, rst_id: int, rst_win: int) -> list[tuple[int, bytes]]:
    """At the client: an SSH client (TOS 0x10), a server 3 hops away (TTL 61) whose data
    carries TOS 0x08 (ECT(0) set on data: 0x0a), then a RST claiming to come from it."""
    c2s = [(SYN, 1000, 0, 64240, 100, 0x10), (ACK, 1001, 5001, 502, 101, 0x10),
           (PSH | ACK, 1001, 5001, 502, 102, 0x10)]
    s2c = [(SYN | ACK, 5000, 1001, 65160, 0, 0x08), (PSH | ACK, 5001, 1041, 509, 7001, 0x0a),
           (ACK, 5101, 1041, 509, 7002, 0x08)]
    out = []
    for i in range(3):
        flags, seq, ack, win, ip_id, tos = c2s[i]
        seg = tcp(CP, SP, flags, seq, ack, win, payload=b"x" * 40 if flags & PSH else b"")
        out.append((T0 + 2 * i * MS, eth(ipv4(CLIENT, SERVER, 6, seg, ip_id=ip_id, tos=tos))))
        flags, seq, ack, win, ip_id, tos = s2c[i]
        seg = tcp(SP, CP, flags, seq, ack, win, payload=b"y" * 100 if flags & PSH else b"")
        out.append((T0 + (2 * i + 1) * MS,
                    eth(ipv4(SERVER, CLIENT, 6, seg, ttl=61, ip_id=ip_id, tos=tos))))
    rst = tcp(SP, CP, RST, 5101, 0, rst_win)
    out.append((T0 + 10 * MS, eth(ipv4(SERVER, CLIENT, 6, rst, ttl=rst_ttl, ip_id=rst_id,
                                       tos=rst_tos))))
    return out


def _read(tmp_path: Path, frames: list[tuple[int, bytes]], text: bool) -> list[PacketRecord]:
    path = tmp_path / "client.pcap"
    path.write_bytes(pcap(frames))
    if text:
        if shutil.which("tcpdump") is None:
            pytest.skip("tcpdump is not installed")
        out = subprocess.run(["tcpdump", "-n", "-v", "-r", str(path)], capture_output=True,
                             text=True, check=True, timeout=30).stdout
        path = tmp_path / "client.txt"
        path.write_text(out)
    return list(open_capture(str(path), "client"))


def _injected(tmp_path: Path, text: bool, **rst: int) -> list[Finding]:
    recs = _read(tmp_path, _frames(**rst), text)
    return [f for f in host_findings("client", recs) if f.kind == RESET_INJECTED]


TEXT = pytest.mark.parametrize("text", [False, True], ids=["pcap", "tcpdump-v"])


@TEXT
def test_tos_is_read_from_the_bytes_and_from_verbose_text(tmp_path: Path, text: bool) -> None:
    recs = _read(tmp_path, _frames(0x08, 61, 7003, 509), text)
    assert [r.ip.tos for r in recs if r.ip is not None] == [0x10, 0x08, 0x10, 0x0a, 0x10,
                                                           0x08, 0x08]


@TEXT
def test_a_rst_with_a_tos_neither_side_uses_was_injected(tmp_path: Path, text: bool) -> None:
    # as netfilter's REJECT --reject-with tcp-reset makes it: TOS 0, IP ID 0, window 0
    found = _injected(tmp_path, text, rst_tos=0x00, rst_ttl=61, rst_id=0, rst_win=0)
    assert len(found) == 1
    assert found[0].details["address"] == SERVER
    assert found[0].details["fields"] == (
        f"TOS 0x00 where {SERVER}'s other packets here have 0x08/0x0a")


@TEXT
def test_a_rst_with_a_window_far_beyond_its_senders_was_injected(tmp_path: Path,
                                                                  text: bool) -> None:
    found = _injected(tmp_path, text, rst_tos=0x08, rst_ttl=61, rst_id=0, rst_win=40000)
    assert [f.details["fields"] for f in found] == [
        f"window 40000 where {SERVER}'s other packets here announce at most 509"]


@TEXT
def test_every_field_that_does_not_fit_is_named(tmp_path: Path, text: bool) -> None:
    found = _injected(tmp_path, text, rst_tos=0x00, rst_ttl=64, rst_id=103, rst_win=40000)
    assert len(found) == 1
    fields = found[0].details["fields"].split("; ")
    assert fields == [f"TTL 64 where {SERVER}'s other packets here have 61",
                      f"IP ID 103 continuing the other side's (102), not {SERVER}'s",
                      f"TOS 0x00 where {SERVER}'s other packets here have 0x08/0x0a",
                      f"window 40000 where {SERVER}'s other packets here announce at most 509"]
    assert all(f in found[0].summary for f in fields)


@TEXT
@pytest.mark.parametrize(("tos", "ip_id", "win"), [
    (0x08, 7003, 509),  # the server's socket aborts: its TOS, its next IP ID, its window
    (0x0a, 7003, 509),  # the same with an ECN bit: the DSCP is what counts
    (0x10, 0, 0),  # its stack without a socket: the TOS of the packet it answers, window 0
], ids=["socket", "ecn", "no-socket"])
def test_resets_the_server_really_sent_are_not_called_injected(
        tmp_path: Path, text: bool, tos: int, ip_id: int, win: int) -> None:
    assert _injected(tmp_path, text, rst_tos=tos, rst_ttl=61, rst_id=ip_id, rst_win=win) == []


def test_ipv6_traffic_class_is_the_tos(tmp_path: Path) -> None:
    seg = tcp(SP, CP, RST, 5101, 0, 0)
    frame = eth(ipv6("2001:db8::1", "2001:db8::2", 6, seg, tclass=0xb8), etype=0x86DD)
    recs = _read(tmp_path, [(T0, frame)], text=False)
    assert recs[0].ip is not None and recs[0].ip.tos == 0xb8


def test_tcpdump_3_text_gives_the_tos_when_it_prints_the_ip_details(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_text(
        "12:00:00.000000 client.1284 > server.22: S 2549095564:2549095564(0) win 32120 "
        "<mss 1460,sackOK,timestamp 649398 0,nop,wscale 0> (DF) [tos 0x10]  "
        "(ttl 46, id 18387, len 60)\n"
        "12:00:00.010000 server.22 > client.1284: S 9000:9000(0) ack 2549095565 win 32120 "
        "(DF) (ttl 52, id 0, len 44)\n"
        "12:00:00.020000 client.1284 > server.22: . ack 9001 win 32120\n")
    assert [r.ip.tos for r in open_capture(str(path), "p") if r.ip is not None] == [
        0x10, 0, None]


@TEXT
def test_a_rst_after_the_sender_was_reset_is_not_judged_by_its_tos(tmp_path: Path,
                                                                     text: bool) -> None:
    """The incident's client: reset by the router, its socket gone, it answers the server's
    SYN-ACK sent again on the other path (never seen here) with that packet's TOS."""
    frames = _frames(rst_tos=0x08, rst_ttl=61, rst_id=7003, rst_win=509)  # a real reset
    late = tcp(CP, SP, RST, 1041, 0, 0)
    frames.append((T0 + 1000 * MS, eth(ipv4(CLIENT, SERVER, 6, late, ip_id=0, tos=0x00))))
    recs = _read(tmp_path, frames, text)
    assert [f for f in host_findings("client", recs) if f.kind == RESET_INJECTED] == []
    # the same RST with no earlier reset is still judged by its TOS
    frames = [f for i, f in enumerate(frames) if i != len(frames) - 2]
    recs = _read(tmp_path, frames, text)
    found = [f for f in host_findings("client", recs) if f.kind == RESET_INJECTED]
    assert [f.details["address"] for f in found] == [CLIENT]
