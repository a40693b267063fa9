"""Host-side findings on real captures: a reset injected by a router (iptables REJECT with
tcp-reset in a forwarding namespace), a SYN-ACK dropped by the client's own INPUT chain
after tcpdump saw it arrive, a healthy download sent with segmentation offload, and one
reordered on the way.
Scenarios: tests/lab/scenarios/*.toml (test-only)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_tool
from nettrail.analyze.flows import OUT_OF_ORDER
from nettrail.capture import open_capture
from nettrail.lab.handle import LabHandle, RunResult
from nettrail.lab.pytest_plugin import LabFactory
from nettrail.model.analysis import Analysis
from nettrail.model.packet import PacketRecord, TCPHeader
from nettrail.run import analyze_files

pytestmark = [pytest.mark.lab, pytest.mark.root, pytest.mark.slow]

SCENARIOS = Path(__file__).parent / "scenarios"


def _run(lab_scenario: LabFactory, name: str, out: Path) -> tuple[RunResult, Analysis]:
    handle = lab_scenario(str(SCENARIOS / f"{name}.toml"))
    result = handle.run(out)
    handle.down()
    assert result.traffic.as_expected, result.traffic.detail
    return result, analyze_files(list(result.captures), ifnames=result.ifnames).analysis


def test_a_reset_made_by_a_router_is_called_injected_with_its_ttl(
        lab_scenario: LabFactory, tmp_path: Path) -> None:
    _result, analysis = _run(lab_scenario, "rst-injected", tmp_path)
    assert analysis.diagnosis is not None
    assert analysis.diagnosis.kinds[0] == "reset-injected"
    found = {f.details["point"]: f for f in analysis.findings if f.kind == "reset-injected"}
    # at the server: the client's packets arrive forwarded once (TTL 63), the RST does not
    assert "TTL 64 where 203.0.113.10's other packets here have 63" in found["server"].summary
    assert found["mid"].details["origin"] == "mid"  # it leaves the router first
    assert "client" not in found  # the client never saw it


def test_a_synack_dropped_after_capture_is_not_called_lost(
        lab_scenario: LabFactory, tmp_path: Path) -> None:
    _result, analysis = _run(lab_scenario, "synack-dropped", tmp_path)
    assert analysis.diagnosis is not None
    assert analysis.diagnosis.kinds[0] == "dropped-after-capture"
    assert "lost-between-points" not in analysis.diagnosis.kinds
    found = next(f for f in analysis.findings if f.kind == "dropped-after-capture")
    assert found.details == {"point": "client", "packet": "SYN-ACK", "host": "203.0.113.10"}


def _sent_again(ns: str) -> int:
    """The segments the TCP stack of namespace ``ns`` has sent again (``RetransSegs`` of its
    /proc/net/snmp, counted in MSS-size segments: at least one per packet sent again)."""
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"], check=True,
                         capture_output=True, text=True).stdout
    names, values = [line.split()[1:] for line in out.splitlines() if line.startswith("Tcp:")]
    return int(values[names.index("RetransSegs")])


@pytest.mark.parametrize("gro", [False, True], ids=["pieces", "gro-at-client"])
def test_a_download_sent_with_segmentation_offload_is_healthy(
        lab_scenario: LabFactory, tmp_path: Path, gro: bool) -> None:
    """The server's capture shows segments of many MSS (TSO/GSO is on, as on most hosts);
    mid's egress cannot take them (TSO and GSO off there), so the kernel cuts them up on the
    way out, and mid's and the client's captures show the pieces. It was "an MTU black hole
    between mid and client" (segments of 65,212 bytes never past mid), and mid counted each
    piece a retransmission (277) and the bytes twice. With GRO on the client's interface,
    the client's capture shows the pieces merged again, into segments of other sizes."""
    handle = lab_scenario(str(SCENARIOS / "tso-healthy.toml"))
    subprocess.run(["ip", "netns", "exec", handle.ns("mid"), "ethtool", "-K", "eth0", "tso",
                    "off", "gso", "off"], check=True, capture_output=True)
    subprocess.run(["ip", "netns", "exec", handle.ns("client"), "ethtool", "-K", "eth0",
                    "gro", "on" if gro else "off"], check=True, capture_output=True)
    before = _sent_again(handle.ns("server"))
    result = handle.run(tmp_path)  # the lab stays up for the other variant (module fixture)
    sent_again = _sent_again(handle.ns("server")) - before
    assert result.traffic.as_expected, result.traffic.detail
    analysis = analyze_files(list(result.captures), ifnames=result.ifnames).analysis
    big = max(r.headers.l4.payload_len for r in _tcp(result, "server"))
    assert big > 1448, "the server's capture shows no offloaded segment: nothing was tested"
    assert analysis.diagnosis is None, analysis.diagnosis
    assert not [f for f in analysis.findings if f.kind == "mtu-blackhole"]
    # A loaded machine may drop a piece (a veth backlog full): the server's kernel then
    # really sends again, and says how many segments; no point may count more.
    for conn in analysis.connections:
        assert conn.retransmissions <= sent_again, (conn, sent_again)
    for point in ("mid", "client"):
        conn = next(c for c in analysis.connections if c.point == point)
        # the bytes seen, those sent again included
        assert conn.bytes_server >= 400000 if sent_again else conn.bytes_server == 400000, conn
    if gro:
        sizes = {r.headers.l4.payload_len for r in _tcp(result, "client")}
        assert max(sizes) > 1448, "GRO merged nothing at the client: nothing was tested"


def _tcp(result: RunResult, point: str) -> list[PacketRecord]:
    path = next(p for name, p in result.captures if name == point)
    return [r for r in open_capture(str(path), point)
            if r.headers.l4 is not None and type(r.headers.l4) is TCPHeader]


def _tcp_ext(ns: str, name: str) -> int:
    """Counter ``name`` of the TcpExt lines of namespace ``ns``'s /proc/net/netstat."""
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/netstat"], check=True,
                         capture_output=True, text=True).stdout
    names, values = [line.split()[1:] for line in out.splitlines()
                     if line.startswith("TcpExt:")]
    return int(values[names.index(name)])


def _hold_back(ns: str) -> None:
    """On ``ns``'s eth0, hold back some of the packets going out behind the others: those
    whose IP ID has bit 6 set wait in an HTB class of 50 Mbit/s, the rest pass at 10 Gbit/s
    (reordering as per-packet load balancing makes it, without netem)."""
    tc = ["ip", "netns", "exec", ns, "tc"]
    steps = [
        ("qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb", "default", "10"),
        ("class", "add", "dev", "eth0", "parent", "1:", "classid", "1:10", "htb", "rate",
         "10gbit"),
        ("class", "add", "dev", "eth0", "parent", "1:", "classid", "1:20", "htb", "rate",
         "50mbit", "ceil", "50mbit"),
        ("filter", "add", "dev", "eth0", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
         "match", "u16", "0x0040", "0x0040", "at", "4", "flowid", "1:20"),
    ]
    for step in steps:
        done = subprocess.run([*tc, *step], capture_output=True, text=True)
        if done.returncode and "unknown" in done.stderr.lower():
            pytest.skip(f"the kernel has no {step[-1] if step[0] == 'filter' else 'htb'} "
                        f"traffic control (CONFIG_NET_SCH_HTB, CONFIG_NET_CLS_U32): "
                        f"{done.stderr.strip()}")
        assert done.returncode == 0, (step, done.stderr)


def _pieces_sent_again(result: RunResult) -> int:
    """How many of the data segments the client's capture shows are pieces of segments the
    server sent again, by the server's own capture: a segment there that does not move the
    highest sequence sent on is sent again (no reordering before the sender's capture), and
    a piece is tied to its segment by its bytes and its IP ID (Linux numbers the pieces of
    an offloaded segment on from the segment's)."""
    sent, high = [], None
    for r in _tcp(result, "server"):
        tcp, ip = r.headers.l4, r.headers.ip
        assert isinstance(tcp, TCPHeader) and ip is not None and tcp.seq is not None
        if not tcp.payload_len or tcp.sport != 8000:
            continue
        end = tcp.seq + tcp.payload_len
        again = high is not None and end <= high
        high = end if high is None else max(high, end)
        sent.append((tcp.seq, end, ip.ip_id or 0, -(-tcp.payload_len // 1448), again))
    count = 0
    for r in _tcp(result, "client"):
        tcp, ip = r.headers.l4, r.headers.ip
        assert isinstance(tcp, TCPHeader) and ip is not None and tcp.seq is not None
        if not tcp.payload_len or tcp.sport != 8000:
            continue
        whole = [a for s, e, i, n, a in sent
                 if s <= tcp.seq < e and 0 <= ((ip.ip_id or 0) - i) & 0xFFFF < n]
        assert len(whole) == 1, (r, whole)
        count += whole[0]
    return count


def test_a_download_reordered_on_the_way_is_neither_dropped_nor_sent_again_more(
        lab_scenario: LabFactory, tmp_path: Path) -> None:
    """mid holds back some of the server's segments behind the others on its way to the
    client (``_hold_back``). The client's TCP takes them out of order, discards by PAWS the
    late ones older than a timestamp it has taken (RFC 7323), and the server sends again what
    the client's SACKs do not cover; the download completes. It was "DIAGNOSIS: the data
    segment reached client and was dropped inside it" (look at the client's firewall), from
    every data segment of the connection chosen twice among the suspects; with that fixed,
    from a late segment PAWS discarded. And the client counted the late first sendings as
    retransmissions too: 263 where 168 pieces sent again reached it."""
    handle = lab_scenario(str(SCENARIOS / "tso-healthy.toml"))
    try:
        subprocess.run(["ip", "netns", "exec", handle.ns("mid"), "ethtool", "-K", "eth0",
                        "tso", "off", "gso", "off"], check=True, capture_output=True)
        _hold_back(handle.ns("mid"))
        before = _sent_again(handle.ns("server"))
        paws = _tcp_ext(handle.ns("client"), "PAWSEstab")
        out_of_order = _tcp_ext(handle.ns("client"), "TCPOFOQueue")
        result = handle.run(tmp_path)
        sent_again = _sent_again(handle.ns("server")) - before
        paws = _tcp_ext(handle.ns("client"), "PAWSEstab") - paws
        out_of_order = _tcp_ext(handle.ns("client"), "TCPOFOQueue") - out_of_order
    finally:
        handle.down()  # the next test gets the lab without the held-back class
    assert result.traffic.as_expected, result.traffic.detail
    assert out_of_order > 0, "the client took nothing out of order: nothing was tested"
    analysis = analyze_files(list(result.captures), ifnames=result.ifnames).analysis
    assert analysis.diagnosis is None, (analysis.diagnosis, paws)
    assert not [f for f in analysis.findings if f.root_cause], analysis.findings
    for conn in analysis.connections:
        assert conn.retransmissions <= sent_again, (conn, sent_again)
    truth = _pieces_sent_again(result)
    client = next(c for c in analysis.connections if c.point == "client")
    assert abs(client.retransmissions - truth) <= truth // 10 + 2, (client, truth)
    # the late first sendings are named where they arrived late: at the client, never at
    # the server, whose capture sees its segments in the order it sends them
    late = {f.details["point"]: int(f.details["count"]) for f in analysis.findings
            if f.kind == OUT_OF_ORDER}
    assert late.get("client", 0) > 0 and "server" not in late, late
    data = sum(1 for r in _tcp(result, "client") if r.headers.l4.payload_len)
    assert client.retransmissions + late["client"] <= data, (client, late, data)
    # the same captures as tcpdump prints them: without -v (no IP ID: the TCP timestamps
    # tell, to the millisecond, so late first sendings of the same millisecond as the
    # segments they come behind may count) and with it
    tcpdump = require_tool("tcpdump")
    for flags in ([], ["-v"]):
        texts = []
        for name, path in result.captures:
            text = tmp_path / f"{name}{''.join(flags)}.txt"
            text.write_text(subprocess.run([tcpdump, "-n", *flags, "-r", str(path)],
                                           check=True, capture_output=True, text=True).stdout)
            texts.append((name, str(text)))
        analysis = analyze_files(texts).analysis
        assert analysis.diagnosis is None, (flags, analysis.diagnosis)
        assert not [f for f in analysis.findings if f.root_cause], (flags, analysis.findings)
        client = next(c for c in analysis.connections if c.point == "client")
        if flags:
            assert abs(client.retransmissions - truth) <= truth // 10 + 2, (client, truth)


_STALLED = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.10", 9000))
s.listen(0)
print("listening", flush=True)
time.sleep(float(sys.argv[1]))
"""
_CONNECT = """
import socket
for timeout in (2.0, 3.5):  # the first waits in the accept queue, the second finds it full
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect(("198.51.100.10", 9000))
        print("connected", flush=True)
    except OSError as e:
        print("failed", e, flush=True)
"""


def test_syns_a_full_listen_queue_drops_are_dropped_inside_the_server(
        lab_scenario: LabFactory, tmp_path: Path) -> None:
    """A server application that stops accepting (listen backlog 0, never accept()): the
    first connection waits in its accept queue, the next one's SYNs are dropped by the
    server's kernel (TcpExtListenOverflows), each sending arriving in the server's own
    capture and none answered. The diagnosis names the SYN dropped inside the server, not
    a loss in the network nor "inconclusive"; from the pcaps and from their tcpdump text."""
    from nettrail.lab import capture
    handle = lab_scenario(str(SCENARIOS / "tso-healthy.toml"))
    caps = []
    try:
        server_ns, client_ns = handle.ns("server"), handle.ns("client")
        overflows = _tcp_ext(server_ns, "ListenOverflows")
        listener = subprocess.Popen(["ip", "netns", "exec", server_ns, sys.executable, "-c",
                                     _STALLED, "30"], stdout=subprocess.PIPE, text=True)
        try:
            assert listener.stdout is not None and listener.stdout.readline() == "listening\n"
            caps = [capture.start(p, handle.ns(p), tmp_path / f"{p}.pcap")
                    for p in ("client", "mid", "server")]
            out = subprocess.run(["ip", "netns", "exec", client_ns, sys.executable, "-c",
                                  _CONNECT], capture_output=True, text=True, check=True).stdout
            for cap in caps:
                capture.stop(cap)
        finally:
            listener.kill()
            listener.wait()
        overflows = _tcp_ext(server_ns, "ListenOverflows") - overflows
    finally:
        for cap in caps:
            capture.stop(cap)
        handle.down()
    assert out.splitlines()[0] == "connected" and out.splitlines()[1].startswith("failed"), out
    assert overflows >= 2, "the server's kernel dropped no SYN for a full queue: not tested"
    inputs = [(p, str(tmp_path / f"{p}.pcap")) for p in ("client", "mid", "server")]
    tcpdump = require_tool("tcpdump")
    texts = []
    for name, path in inputs:
        text = tmp_path / f"{name}.txt"
        text.write_text(subprocess.run([tcpdump, "-n", "-r", path], check=True,
                                       capture_output=True, text=True).stdout)
        texts.append((name, str(text)))
    for given in (inputs, texts, [inputs[0], inputs[2]]):
        analysis = analyze_files(given).analysis
        assert analysis.diagnosis is not None, given
        assert analysis.diagnosis.kinds[0] == "dropped-after-capture", analysis.diagnosis
        found = next(f for f in analysis.findings if f.kind == "dropped-after-capture")
        assert found.details == {"point": "server", "packet": "SYN",
                                 "host": "198.51.100.10"}, found
        assert "listen queue" in found.summary
        assert not [f for f in analysis.findings if f.kind == "lost-between-points"]


def _refused(handle: LabHandle, tmp_path: Path, points: tuple[str, ...], host: str,
             rule: list[str], sock: str, to: str) -> None:
    """With ``rule`` run in ``host``'s namespace, ``points`` captured (``tmp_path/P.pcap``),
    the client connects (``sock``, to address ``to``, Python's) and is refused; the lab is
    taken down after."""
    from nettrail.lab import capture
    caps = []
    try:
        subprocess.run(["ip", "netns", "exec", handle.ns(host), *rule], check=True,
                       capture_output=True)
        caps = [capture.start(p, handle.ns(p), tmp_path / f"{p}.pcap") for p in points]
        out = subprocess.run(["ip", "netns", "exec", handle.ns("client"), sys.executable, "-c",
                              f"import socket\ns = {sock}\ns.settimeout(5)\n"
                              f"print(s.connect_ex({to}))"],
                             capture_output=True, text=True, check=True).stdout
    finally:
        for cap in caps:
            capture.stop(cap)
        handle.down()
    assert out.strip() != "0", "the connection was not refused: nothing was tested"


@pytest.mark.parametrize(("host", "chain", "reject_with", "code"), [
    ("server", "INPUT", "icmp-port-unreachable", "3"),
    ("mid", "FORWARD", "icmp-admin-prohibited", "13"),
])
def test_a_syn_a_firewall_rejects_with_icmp_is_rejected_where_the_rule_is(
        lab_scenario: LabFactory, tmp_path: Path, host: str, chain: str, reject_with: str,
        code: str) -> None:
    """iptables REJECT (its default answers with ICMP port unreachable; a router's with
    admin prohibited) on the way to a port: the client's connect is refused at once, and the
    SYN, seen at every point up to the rule, is answered only by the ICMP the rule's host
    made. It was "syn-unanswered" and no diagnosis of it."""
    handle = lab_scenario(str(SCENARIOS / "tso-healthy.toml"))
    _refused(handle, tmp_path, ("client", "mid", "server"), host,
             ["iptables", "-A", chain, "-p", "tcp", "--dport", "9000", "-j", "REJECT",
              "--reject-with", reject_with], "socket.socket()", "('198.51.100.10', 9000)")
    address = "198.51.100.10" if host == "server" else "203.0.113.1"
    for given in ([(p, str(tmp_path / f"{p}.pcap")) for p in ("client", "mid", "server")],
                  [(p, str(tmp_path / f"{p}.pcap")) for p in ("client", host)]):
        analysis = analyze_files(given).analysis
        assert analysis.diagnosis is not None and analysis.diagnosis.kinds[0] == "rejected", (
            given, analysis.diagnosis)
        (found,) = [f for f in analysis.findings if f.kind == "rejected"]
        assert found.details == {"point": host, "host": address, "code": code,
                                 "packet": "SYN"}


def _link_local(ns: str, dev: str) -> str:
    """The link-local IPv6 address of ``dev`` in ``ns`` (IPv6 turned on for it: the lab
    turns it off), once it is no longer tentative (duplicate address detection done): the
    kernel's own, none added."""
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                    f"net.ipv6.conf.{dev}.disable_ipv6=0"], check=True)
    out = ""
    for _ in range(100):
        out = subprocess.run(["ip", "-n", ns, "-6", "-o", "addr", "show", "dev", dev, "scope",
                              "link"], capture_output=True, text=True, check=True).stdout
        if out and "tentative" not in out:
            return out.split()[3].split("/")[0]
        subprocess.run(["sleep", "0.1"], check=True)
    raise AssertionError(f"no usable link-local address on {dev} in {ns}: {out!r}")


def test_a_syn_ip6tables_rejects_is_rejected_where_the_rule_is(
        lab_scenario: LabFactory, tmp_path: Path) -> None:
    """ip6tables REJECT (its default: ICMPv6 destination unreachable, type 1, code 4 port
    unreachable; ICMPv6's type 3 is time exceeded) answers an IPv6 SYN: the same call as for
    IPv4, with ICMPv6's code and words (the other codes: ``test_findings_host``). The
    addresses are the link-local ones the kernel gives each end of client-mid."""
    code, words = "4", "ICMP6 port unreachable"
    handle = lab_scenario(str(SCENARIOS / "tso-healthy.toml"))
    try:
        mid = _link_local(handle.ns("mid"), "eth0")
        _link_local(handle.ns("client"), "eth0")
    except BaseException:
        handle.down()
        raise
    _refused(handle, tmp_path, ("client", "mid"), "mid",
             ["ip6tables", "-A", "INPUT", "-p", "tcp", "--dport", "9000", "-j", "REJECT"],
             "socket.socket(socket.AF_INET6)",
             f"('{mid}', 9000, 0, socket.if_nametoindex('eth0'))")
    tcpdump = require_tool("tcpdump")
    texts = []
    for p in ("client", "mid"):
        text = tmp_path / f"{p}.txt"
        text.write_text(subprocess.run([tcpdump, "-n", "-r", str(tmp_path / f"{p}.pcap")],
                                       check=True, capture_output=True, text=True).stdout)
        texts.append((p, str(text)))
    pcaps = [(p, str(tmp_path / f"{p}.pcap")) for p in ("client", "mid")]
    for given in (pcaps, texts, pcaps[1:], texts[1:]):
        analysis = analyze_files(given).analysis
        assert analysis.diagnosis is not None and analysis.diagnosis.kinds[0] == "rejected", (
            given, analysis.diagnosis)
        assert analysis.diagnosis.headline == (
            f"mid ({mid}) rejected the connection: it answered the SYN with {words}")
        (found,) = [f for f in analysis.findings if f.kind == "rejected"]
        assert found.details == {"point": "mid", "host": mid, "code": code, "packet": "SYN"}
        assert f"the SYN to [{mid}]:9000 was answered with {words} from {mid}" in found.summary
