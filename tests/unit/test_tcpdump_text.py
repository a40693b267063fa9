"""tcpdump text reader: line shapes, times, sequence numbers, pasted text, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from nettrail.capture.base import CaptureStats
from nettrail.capture.tcpdump_text import read_text
from nettrail.errors import CaptureError
from nettrail.model.packet import (
    ACK,
    PSH,
    RST,
    SYN,
    ICMPHeader,
    PacketRecord,
    TCPHeader,
    UDPHeader,
)

DAY = 86_400 * 10**9
SYN_LINE = ("IP 198.51.100.4.51512 > 203.0.113.223.22: Flags [S], seq 2921520146, win 64240, "
            "options [mss 1460,sackOK,TS val 3372154325 ecr 0,nop,wscale 7], length 0")


class Read:
    """The outcome of reading one text: records, stats and the error raised, if any."""

    def __init__(self, tmp_path: Path, text: str | bytes, **kw: int) -> None:
        path = tmp_path / "capture.txt"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        self.path = str(path)
        self.stats = CaptureStats(path=self.path, point="host1")
        self.records: list[PacketRecord] = []
        self.error: CaptureError | None = None
        try:
            self.records.extend(read_text(self.path, "host1", self.stats, **kw))
        except CaptureError as exc:
            self.error = exc

    @property
    def tcp(self) -> list[TCPHeader]:
        """The TCP headers, in order."""
        return [r.tcp for r in self.records if r.tcp is not None]

    def warned(self, text: str) -> list[str]:
        """Warnings containing ``text``."""
        return [w for w in self.stats.warnings if text in w]


def test_common_tcp_line(tmp_path: Path) -> None:
    r = Read(tmp_path, f"08:41:07.120331 {SYN_LINE}\n")
    assert r.error is None and r.stats.format == "tcpdump-text" and r.stats.packets == 1
    rec = r.records[0]
    assert (rec.point, rec.file, rec.frame, rec.linktype, rec.data) == (
        "host1", r.path, 1, -1, None)
    assert rec.ts_ns == (8 * 3600 + 41 * 60 + 7) * 10**9 + 120331000
    ip = rec.headers.ip
    assert ip is not None and (ip.version, ip.src, ip.dst, ip.proto) == (
        4, "198.51.100.4", "203.0.113.223", 6)
    assert ip.ip_id is None and ip.ttl is None
    tcp = rec.tcp
    assert tcp is not None
    assert (tcp.sport, tcp.dport, tcp.flags, tcp.seq, tcp.ack, tcp.window, tcp.payload_len) == (
        51512, 22, SYN, 2921520146, None, 64240, 0)
    o = tcp.options
    assert (o.mss, o.wscale, o.sack_ok, o.ts_val, o.ts_ecr) == (1460, 7, True, 3372154325, 0)
    assert o.order == ("mss", "sackOK", "TS", "nop", "wscale")
    assert rec.wire_len == 14 + 20 + 40 + 0  # Ethernet + IPv4 + TCP with 20 bytes of options
    assert r.stats.warnings == [] and not r.stats.skipped


def test_flags_with_nothing_after(tmp_path: Path) -> None:
    r = Read(tmp_path, "08:41:07.120331 IP 198.51.100.4.51512 > 203.0.113.223.22: Flags [S],\n"
                       "08:41:08.120331 IP 203.0.113.223.22 > 198.51.100.4.51512: Flags [R.]\n")
    assert [(t.flags, t.seq, t.ack, t.window, t.payload_len) for t in r.tcp] == [
        (SYN, None, None, None, 0), (RST | ACK, None, None, None, 0)]
    assert r.stats.warnings == []


def test_interface_column_and_directions(tmp_path: Path) -> None:
    lines = [f"08:00:00.00000{i} {col}{SYN_LINE}" for i, col in enumerate(
        ["qg-7c1e2a4b-9f In  ", "qr-5d3f0c11-2e Out ", "br-ex B   ", "tap0 M   ", "eth0 P   "])]
    lines.append("08:00:00.000009 Out 52:54:00:12:34:56 ethertype IPv4 (0x0800), length 74: "
                 + SYN_LINE[3:])
    r = Read(tmp_path, "\n".join(lines) + "\n")
    assert [(x.ifname, x.direction) for x in r.records] == [
        ("qg-7c1e2a4b-9f", "in"), ("qr-5d3f0c11-2e", "out"), ("br-ex", "in"), ("tap0", "in"),
        ("eth0", "in"), (None, "out")]
    assert r.records[-1].wire_len == 74


def test_ipv6_and_port_names(tmp_path: Path) -> None:
    r = Read(tmp_path, "10:00:00.000001 IP6 2001:db8::1.40000 > 2001:db8::2.ssh: Flags [S], seq 1,"
                       " win 100, length 0\n"
                       "10:00:00.000002 IP 198.51.100.1.domain > 198.51.100.2.https: Flags [.], "
                       "ack 1, win 5, length 0\n"
                       "10:00:00.000003 IP6 ::ffff:198.51.100.1.80 > 2001:DB8::2.40000: Flags [P.],"
                       " seq 1:11, ack 1, win 5, length 10\n")
    assert [(t.sport, t.dport) for t in r.tcp] == [(40000, 22), (53, 443), (80, 40000)]
    ips = [x.headers.ip for x in r.records]
    assert [(i.src, i.dst) for i in ips if i] == [
        ("2001:db8::1", "2001:db8::2"), ("198.51.100.1", "198.51.100.2"),
        ("::ffff:198.51.100.1", "2001:db8::2")]
    assert r.records[0].wire_len == 14 + 40 + 20


def test_verbose_two_line_form(tmp_path: Path) -> None:
    r = Read(tmp_path,
             "08:10:55.545140 IP (tos 0x0, ttl 64, id 10658, offset 0, flags [DF], proto TCP (6), "
             "length 60)\n"
             "    198.51.100.1.49638 > 203.0.113.2.8080: Flags [S], cksum 0x6666 (incorrect -> "
             "0x7d5e), seq 3904856265, win 64240, options [mss 1460,sackOK,TS val 2764675500 ecr "
             "0,nop,wscale 10], length 0\n"
             "08:10:55.596877 IP (tos 0xc0, ttl 63, id 61963, offset 0, flags [none], proto ICMP "
             "(1), length 576)\n"
             "    198.51.100.2 > 198.51.100.1: ICMP 203.0.113.2 unreachable - need to frag (mtu "
             "1400), length 556\n"
             "\tIP (tos 0x0, ttl 64, id 0, offset 0, flags [DF], proto UDP (17), length 1480)\n"
             "    198.51.100.1.53391 > 203.0.113.2.7000:  rx type 120 (1452)\n"
             "08:10:55.749375 IP6 (flowlabel 0x0bfa5, hlim 64, next-header ICMPv6 (58) payload "
             "length: 1240) 2001:db8:1::2 > 2001:db8:1::1: [icmp6 sum ok] ICMP6, packet too big, "
             "mtu 1280\n")
    assert r.stats.warnings == [] and len(r.records) == 3
    syn, frag, ptb = r.records
    assert syn.frame == 1 and frag.frame == 3 and ptb.frame == 7
    ip = syn.headers.ip
    assert ip is not None and (ip.ttl, ip.ip_id, ip.length, ip.df) == (64, 10658, 60, True)
    assert syn.wire_len == 74
    icmp = frag.l4
    assert isinstance(icmp, ICMPHeader) and icmp.is_frag_needed and icmp.mtu == 1400
    q = icmp.quoted
    assert q is not None and (q.ip.src, q.ip.dst, q.ip.proto, q.ip.ip_id, q.sport, q.dport) == (
        "198.51.100.1", "203.0.113.2", 17, 0, 53391, 7000)
    assert frag.wire_len == 590
    v6 = ptb.l4
    assert isinstance(v6, ICMPHeader) and v6.is_frag_needed and v6.mtu == 1280
    assert ptb.headers.ip is not None and ptb.headers.ip.length == 1280


def test_short_icmp_and_udp_forms(tmp_path: Path) -> None:
    r = Read(tmp_path,
             "09:00:00.000001 IP 203.0.113.2 > 198.51.100.1: ICMP 203.0.113.2 udp port domain "
             "unreachable, length 65\n"
             "09:00:00.000002 IP 198.51.100.1 > 203.0.113.2: ICMP echo request, id 4660, seq 7, "
             "length 64\n"
             "09:00:00.000003 IP 198.51.100.1.59830 > 203.0.113.2.53: 16962+ A? example.com. "
             "(29)\n"
             "09:00:00.000004 IP 198.51.100.1.59830 > 203.0.113.2.5000: UDP, length 5\n"
             "09:00:00.000005 IP 198.51.100.1.123 > 203.0.113.5.123: NTPv4, Client, length 48\n")
    unreach, echo, dns, udp, ntp = (x.l4 for x in r.records)
    assert isinstance(unreach, ICMPHeader) and (unreach.type, unreach.code) == (3, 3)
    assert unreach.quoted is not None and unreach.quoted.dport == 53
    assert unreach.quoted.ip.src == "198.51.100.1" and unreach.quoted.ip.proto == 17
    assert isinstance(echo, ICMPHeader) and (echo.type, echo.ident, echo.sequence) == (8, 4660, 7)
    assert r.records[1].wire_len == 14 + 20 + 64
    assert [(u.dport, u.payload_len) for u in (dns, udp, ntp) if isinstance(u, UDPHeader)] == [
        (53, 29), (5000, 5), (123, 48)]
    v6 = Read(tmp_path, "09:00:00.000006 IP6 2001:db8::1 > 2001:db8::7: ICMP6, destination "
                        "unreachable, unreachable port, 2001:db8::9 udp port 33434, length 68\n")
    icmp6 = v6.records[0].l4
    assert isinstance(icmp6, ICMPHeader) and (icmp6.type, icmp6.code) == (1, 4)
    assert icmp6.quoted is not None and (icmp6.quoted.ip.src, icmp6.quoted.ip.dst) == (
        "2001:db8::7", "2001:db8::9")
    assert (icmp6.quoted.ip.proto, icmp6.quoted.dport) == (17, 33434)


def test_tcp_fields_without_flags_are_unreadable_not_udp(tmp_path: Path) -> None:
    r = Read(tmp_path,  # tcpdump's mptcp-fclose.out with "Flags [...], " cut out
             "15:40:43.780384 IP 10.1.1.2.37479 > 10.2.1.2.2002: seq 1895673170, win 14600, "
             "length 0\n"
             "15:40:43.780390 IP 10.2.1.2.2002 > 10.1.1.2.37479: ack 1, win 227, options "
             "[nop,nop,TS val 38334 ecr 38233], length 0\n"
             "15:40:43.780400 IP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), "
             "length 52)\n    10.2.1.2.2002 > 10.1.1.2.37479: cksum 0x1234 (correct), seq 1, "
             "ack 1, win 227, length 0\n"
             "15:40:43.780410 client.1284 > server.22: 1:369(368) ack 1 win 32120\n"
             "15:40:43.780420 IP 198.51.100.1.59830 > 203.0.113.2.53: 16962+ A? example.com. "
             "(29)\n"
             "15:40:43.780430 IP 198.51.100.1.123 > 203.0.113.5.123: NTPv4, Client, length 48\n")
    assert [(x.frame, x.headers.ip and x.headers.ip.proto) for x in r.records] == [
        (6, 17), (7, 17)]
    assert r.stats.skipped["unparsed-line"] == 4
    assert [w.split(": ", 1)[0].rsplit(" ", 1)[1] for w in r.warned("without 'Flags [...]'")] \
        == ["1", "2", "3", "5"]
    assert r.error is None


def test_vxlan_inner_frame_same_line_and_next_line(tmp_path: Path) -> None:
    r = Read(tmp_path,
             "08:10:55.850487 IP 198.51.100.1.56334 > 198.51.100.2.4789: VXLAN, flags [I] "
             "(0x08), vni 100 IP 198.18.0.1.40000 > 198.18.0.2.22: Flags [S], seq 5, win 10, "
             "length 0\n"
             "08:10:55.850572 IP 198.51.100.2.56334 > 198.51.100.1.4789: VXLAN, flags [I] "
             "(0x08), vni 100\n"
             "IP 198.18.0.2 > 198.18.0.1: ICMP echo reply, id 4660, seq 3, length 64\n"
             "08:10:55.850600 IP 198.51.100.1.52250 > 198.51.100.2.4789: VXLAN, flags [I] "
             "(0x08), vni 7\n"
             "ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 28\n")
    assert r.stats.warnings == [] and [x.frame for x in r.records] == [1, 2, 4]
    a, b, c = r.records
    assert (a.vni, b.vni, c.vni) == (100, 100, 7)
    assert a.tcp is not None and a.tcp.dport == 22 and a.ip is not None
    assert a.ip.src == "198.18.0.1" and a.headers.ip is not None
    assert a.headers.ip.src == "198.51.100.1"
    assert isinstance(a.headers.l4, UDPHeader) and a.headers.l4.dport == 4789
    assert isinstance(b.l4, ICMPHeader) and b.l4.type == 0
    assert b.wire_len == 14 + 20 + 8 + 8 + 14 + 20 + 64
    assert c.inner is not None and c.inner.arp is not None and c.inner.arp.target_ip == "198.18.0.2"


def test_ethernet_vlan_and_arp(tmp_path: Path) -> None:
    r = Read(tmp_path,
             "09:30:00.000001 52:54:00:12:34:56 > 52:54:00:ab:cd:ef, ethertype 802.1Q (0x8100), "
             "length 78: vlan 100, p 0, ethertype IPv4 (0x0800), 198.51.100.7.40022 > "
             "198.51.100.9.443: Flags [S], seq 1000, win 29200, length 0\n"
             "09:30:00.000002 52:54:00:ab:cd:ef > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), "
             "length 42: Request who-has 198.51.100.9 tell 198.51.100.7, length 28\n"
             "09:30:00.000003 ARP, Reply 198.51.100.9 is-at 52:54:00:ab:cd:ef, length 28\n")
    syn, req, rep = r.records
    eth = syn.headers.eth
    assert eth is not None and (eth.src, eth.dst, eth.vlans, eth.ethertype) == (
        "52:54:00:12:34:56", "52:54:00:ab:cd:ef", (100,), 0x0800)
    assert syn.wire_len == 78
    assert req.headers.arp is not None and req.headers.ip is None
    assert (req.headers.arp.op, req.headers.arp.sender_ip, req.headers.arp.sender_mac) == (
        1, "198.51.100.7", "52:54:00:ab:cd:ef")
    assert rep.headers.arp is not None and (rep.headers.arp.op, rep.headers.arp.sender_mac) == (
        2, "52:54:00:ab:cd:ef")
    assert rep.wire_len == 42


# --- times -------------------------------------------------------------------------------------

def test_time_formats(tmp_path: Path) -> None:
    epoch = Read(tmp_path, f"1795594254.514309 {SYN_LINE}\n").records[0].ts_ns
    assert epoch == 1795594254_514309000
    date = Read(tmp_path, f"2026-11-25 08:10:54.514309 {SYN_LINE}\n").records[0].ts_ns
    assert date == 1795594254_514309000 - 1795594254_514309000 % DAY + (8 * 3600 + 654) * 10**9 \
        + 514309000
    nano = Read(tmp_path, f"08:10:54.514309123 {SYN_LINE}\n")
    assert nano.records[0].ts_ns == (8 * 3600 + 654) * 10**9 + 514309123
    assert nano.stats.warnings == []
    given_day = Read(tmp_path, f"00:00:01.000000 {SYN_LINE}\n", day_ns=20 * DAY)
    assert given_day.records[0].ts_ns == 20 * DAY + 10**9


def test_epoch_times_near_zero_are_tcpdump_tt(tmp_path: Path) -> None:
    # tcpdump -tt of a pcap whose clock starts at 0 (resp_4_infiniteloop, a simulator)
    r = Read(tmp_path, f"0.000000 {SYN_LINE}\n"
                       "\t3.1024 > 2.1234 CONNECT, length 76\n"  # a decode's line: no time
                       f"1.500000 {SYN_LINE}\n9.999999 {SYN_LINE}\n10.000001 {SYN_LINE}\n"
                       f"99999.000001 {SYN_LINE}\n100000.000002 {SYN_LINE}\n")
    assert r.error is None and r.stats.skipped == {}
    assert [(x.frame, x.ts_ns) for x in r.records] == [
        (1, 0), (3, 1_500_000_000), (4, 9_999_999_000), (5, 10_000_001_000),
        (6, 99999_000_001_000), (7, 100000_000_002_000)]
    assert all(x.time_ok for x in r.records)
    assert r.stats.warnings == [f"{r.path} line 1: timestamp '0.000000': read as tcpdump -tt "
                                "seconds since 1970-01-01 (a capture whose clock started at 0; "
                                "-ttt and -ttttt print 00:00:00.000000)"]
    falling = Read(tmp_path, "".join(f"0.00{i % 3}000 {SYN_LINE}\n" for i in range(9)))
    assert len(falling.records) == 9
    assert falling.warned("went down 2 times in 9 packets: not one clock's times (deltas?)")


def test_delta_times(tmp_path: Path) -> None:
    r = Read(tmp_path, f" 00:00:00.000000 {SYN_LINE}\n 00:00:00.096053 {SYN_LINE}\n"
                       f" 00:00:01.000001 {SYN_LINE}\n")
    assert [x.ts_ns for x in r.records] == [0, 96053000, 1096054000]
    assert not any(x.time_ok for x in r.records)  # or -ttttt? three rising values cannot tell
    assert "too few packets to tell" in r.warned("line 1:")[0]


def test_delta_times_that_go_down_are_deltas(tmp_path: Path) -> None:
    r = Read(tmp_path, f" 00:00:00.000000 {SYN_LINE}\n 00:00:00.127522 {SYN_LINE}\n"
                       f" 00:00:00.000088 {SYN_LINE}\n")
    assert [x.ts_ns for x in r.records] == [0, 127522000, 127610000]
    assert all(x.time_ok for x in r.records)
    assert r.warned("line 1:") == [
        f"{r.path} line 1: times since the previous packet (-ttt): the text tells no time of "
        "day, so its packets are placed from 1970-01-01 00:00:00 UTC, and its clock against "
        "other points only lines its packets up with theirs"]


def test_times_since_the_first_packet(tmp_path: Path) -> None:
    text = "".join(f" 00:00:0{i}.{i * 1111:06d} {SYN_LINE}\n" for i in range(10))
    r = Read(tmp_path, text)  # tcpdump -ttttt: never going down, rising nine times
    assert [x.ts_ns for x in r.records] == [i * 10**9 + i * 1111000 for i in range(10)]
    assert all(x.time_ok for x in r.records)
    assert "times since the first packet (-ttttt): the text tells no time of day" in \
        r.warned("line 1:")[0]


def test_midnight_advances_the_day(tmp_path: Path) -> None:
    r = Read(tmp_path, f"23:59:59.999990 {SYN_LINE}\n00:00:00.000010 {SYN_LINE}\n"
                       f"23:59:59.999995 {SYN_LINE}\n00:00:00.000020 {SYN_LINE}\n")
    assert [x.ts_ns for x in r.records] == [
        DAY - 10_000, DAY + 10_000, DAY - 5_000, DAY + 20_000]


def test_a_jump_forward_of_over_12_hours_is_a_gap_not_the_day_before(tmp_path: Path) -> None:
    r = Read(tmp_path, f"08:00:00.000000 {SYN_LINE}\n23:59:59.000000 {SYN_LINE}\n")
    assert [x.ts_ns for x in r.records] == [8 * 3600 * 10**9, DAY - 10**9]


def test_only_one_line_is_joined_as_a_wrap_the_rest_is_named(tmp_path: Path) -> None:
    r = Read(tmp_path, f"08:00:00.000000 {SYN_LINE}\nthis is junk\nmore junk %%%\n"
                       f"08:00:01.000000 {SYN_LINE}\n")
    assert [x.frame for x in r.records] == [1, 4]
    assert r.stats.skipped["unparsed-line"] == 1
    assert r.warned("more junk") == [f"{r.path} line 3: not a tcpdump packet line: "
                                      "'more junk %%%'"]


def test_no_times_are_line_order(tmp_path: Path) -> None:
    r = Read(tmp_path, f"{SYN_LINE}\n{SYN_LINE}\neth0 Out {SYN_LINE}\n")
    assert [x.ts_ns for x in r.records] == [0, 1000, 2000]
    assert not any(x.time_ok for x in r.records)
    assert r.records[2].ifname == "eth0"
    assert len(r.warned("line 1: no timestamps")) == 1


def test_mangled_timestamp_keeps_its_place_by_order(tmp_path: Path) -> None:
    text = (f"14:10:54.514300 {SYN_LINE}\n4:10:54.614309 {SYN_LINE}\n"
            f"14:10:54.714300 {SYN_LINE}\n")
    r = Read(tmp_path, text)
    assert [x.time_ok for x in r.records] == [True, False, True]
    assert r.records[1].ts_ns == r.records[0].ts_ns  # the previous time: order only
    assert r.records[2].ts_ns % DAY == (14 * 3600 + 654) * 10**9 + 714300000
    assert "line 2:" in r.warned("mangled?")[0]


def test_time_hours_away_from_both_neighbours_is_mangled(tmp_path: Path) -> None:
    lines = ["14:10:54.514300", "04:10:54.614309", "14:10:54.714300", "14:10:55.000000"]
    r = Read(tmp_path, "".join(f"{t} {SYN_LINE}\n" for t in lines))
    assert [x.time_ok for x in r.records] == [True, False, True, True]
    assert "hours away" in r.warned("line 2:")[0]


def test_a_real_gap_of_hours_is_kept(tmp_path: Path) -> None:
    lines = ["04:10:54.514300", "04:10:54.614309", "14:10:54.714300", "14:10:55.000000"]
    r = Read(tmp_path, "".join(f"{t} {SYN_LINE}\n" for t in lines))
    assert all(x.time_ok for x in r.records)


def test_invalid_fraction_is_not_a_time(tmp_path: Path) -> None:
    text = (f"    1  17:16:09.999999 {SYN_LINE}\n"
            f"    2  17:16:10.1000000 (invalid us) {SYN_LINE}\n")
    r = Read(tmp_path, text)
    assert [x.time_ok for x in r.records] == [True, False]
    assert r.records[1].ts_ns == r.records[0].ts_ns


def test_short_fractions_throughout_are_fine(tmp_path: Path) -> None:
    lines = ["14:10:54.514", "14:10:54.614", "14:10:54.714"]
    r = Read(tmp_path, "".join(f"{t} {SYN_LINE}\n" for t in lines))
    assert all(x.time_ok for x in r.records) and not r.warned("mangled")


# --- sequence numbers --------------------------------------------------------------------------

HANDSHAKE = [
    "IP 198.51.100.1.5000 > 203.0.113.2.80: Flags [S], seq 3904856265, win 64240, length 0",
    "IP 203.0.113.2.80 > 198.51.100.1.5000: Flags [S.], seq 1030395500, ack 3904856266, win 64704,"
    " length 0",
]
RELATIVE = [
    "IP 198.51.100.1.5000 > 203.0.113.2.80: Flags [.], ack 1, win 63, length 0",
    "IP 198.51.100.1.5000 > 203.0.113.2.80: Flags [P.], seq 1:41, ack 1, win 63, length 40",
    "IP 203.0.113.2.80 > 198.51.100.1.5000: Flags [P.], seq 1:1201, ack 41, win 64, length 1200",
]
ABSOLUTE = [
    "IP 198.51.100.1.5000 > 203.0.113.2.80: Flags [.], ack 1030395501, win 63, length 0",
    "IP 198.51.100.1.5000 > 203.0.113.2.80: Flags [P.], seq 3904856266:3904856306, ack 1030395501,"
    " win 63, length 40",
    "IP 203.0.113.2.80 > 198.51.100.1.5000: Flags [P.], seq 1030395501:1030396701, ack 3904856306,"
    " win 64, length 1200",
]
EXPECTED = [(None, 1030395501), (3904856266, 1030395501), (1030395501, 3904856306)]


def _lines(lines: list[str]) -> str:
    return "".join(f"08:00:00.{i:06d} {x}\n" for i, x in enumerate(lines))


@pytest.mark.parametrize("tail", [RELATIVE, ABSOLUTE], ids=["relative", "absolute-S"])
def test_relative_and_absolute_seq_give_the_same_numbers(tmp_path: Path, tail: list[str]) -> None:
    r = Read(tmp_path, _lines(HANDSHAKE + tail))
    assert [(t.seq, t.ack) for t in r.tcp[2:]] == EXPECTED
    assert not any(t.seq_relative for t in r.tcp)
    assert r.tcp[3].flags == PSH | ACK and r.tcp[3].payload_len == 40


def test_excerpt_keeps_relative_numbers_flagged(tmp_path: Path) -> None:
    r = Read(tmp_path, _lines(RELATIVE))
    assert [(t.seq, t.ack, t.seq_relative) for t in r.tcp] == [
        (None, 1, True), (1, 1, True), (1, 41, True)]


# --- pasted text -------------------------------------------------------------------------------

def test_pasted_html_quotes_crlf_and_wraps(tmp_path: Path) -> None:
    text = ("<pre><span class='t'>08:41:07.120331</span> IP 198.51.100.4.51512 &gt; "
            "203.0.113.223.22: Flags [S], seq 2921520146, win 64240, length 0<br>"
            "08:41:07.145871&nbsp;IP 203.0.113.223.22 &gt; 198.51.100.4.51512: Flags [R.], seq 0, "
            "ack 2921520147, win 0, length 0</pre>\r\n"
            "> 08:41:08.000001 IP 198.51.100.4.51513 > 203.0.113.223.22: Flags [S], seq 7, "
            "win\r\n"
            "64240, length 0\r\n"
            ">> 08:41:09.000001 IP 198.51.100.4.51514 > 203.0.113.223.2\r\n"
            "2: Flags [S], seq 8, win 64240, length 0\r\n")
    r = Read(tmp_path, text)
    assert [(x.frame, x.tcp.sport, x.tcp.dport, x.tcp.window) for x in r.records if x.tcp] == [
        (1, 51512, 22, 64240), (1, 22, 51512, 0), (2, 51513, 22, 64240), (4, 51514, 22, 64240)]
    for note in ("line 1: HTML markup removed", "line 1: HTML entities decoded",
                 "line 2: leading '>' quote marks removed", "line 3: read as the rest of line 2",
                 "line 5: read as the rest of line 4", "line 1: CRLF line ends"):
        assert r.warned(note), note
    assert not r.stats.skipped


def test_indented_lines_and_skipped_deltas(tmp_path: Path) -> None:
    r = Read(tmp_path, f"  08:00:00.000001 {SYN_LINE}\n  08:00:00.000002 {SYN_LINE}\n"
                       "    08:00:00.000003 LLDP, length 204: switch01\n")
    assert [x.frame for x in r.records] == [1, 2]
    assert len(r.warned("indented packet line read")) == 3
    deltas = Read(tmp_path, f" 00:00:00.000000 {SYN_LINE}\n 00:00:00.000005 LLDP, length 4: s\n"
                            " 00:00:00.000007 IP 198.51.100.1.bad > 198.51.100.1.5: Flags [S]\n"
                            f" 00:00:00.000010 {SYN_LINE}\n")
    assert [x.ts_ns for x in deltas.records] == [0, 22000]


def test_banners_are_quiet_and_other_protocols_counted(tmp_path: Path) -> None:
    r = Read(tmp_path,
             "tcpdump: verbose output suppressed, use -v[v]... for full protocol decode\n"
             "listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262144 "
             "bytes\n"
             f"08:00:00.000001 {SYN_LINE}\n"
             "08:00:00.000002 LLDP, length 204: switch01\n"
             "08:00:00.000003 LLDP, length 204: switch01\n"
             "08:00:00.000004 IP 198.51.100.7 > 224.0.0.22: igmp v3 report, 1 group record(s)\n"
             "08:00:00.000005 STP 802.1d, Config, Flags [none], bridge-id 8000.52:54:00:00:00:01"
             ".8001, length 35\n"
             "^C\n3 packets captured\n3 packets received by filter\n0 packets dropped by kernel\n")
    assert r.stats.packets == 1 and dict(r.stats.skipped) == {"other-protocol": 4}
    assert [w.split(": ", 1)[1] for w in r.stats.warnings] == [
        "LLDP packets are not read (counted as other-protocol)",
        "IGMP packets are not read (counted as other-protocol)",
        "STP packets are not read (counted as other-protocol)"]


def test_quick_form_and_command_lines(tmp_path: Path) -> None:
    r = Read(tmp_path, "sudo tcpdump -q -ni eth0\n"
                       "tcpdump -q -ni eth0\n"
                       "08:00:00.000001 IP 198.51.100.1.5000 > 203.0.113.2.53: UDP, length 29\n"
                       "08:00:00.000002 IP 198.51.100.1.5001 > 203.0.113.2.53: udp 29\n"
                       "08:00:00.000003 IP 198.51.100.1.5002 > 203.0.113.2.22: tcp 40\n")
    assert [(x.l4.sport, x.l4.payload_len) for x in r.records if isinstance(x.l4, UDPHeader)] == [
        (5000, 29), (5001, 29)]
    quiet = r.records[2].tcp  # tcpdump -q: TCP with no flags, seq or window printed
    assert quiet is not None and (quiet.dport, quiet.payload_len, quiet.seq) == (22, 40, None)
    assert not r.stats.skipped
    assert [w.split(": ", 1)[1] for w in r.stats.warnings] == [
        "TCP printed without flags, numbers or window (tcpdump -q, or cut short): how its "
        "connection went cannot be told from it"]


def test_unreadable_lines_are_counted_and_warnings_capped(tmp_path: Path) -> None:
    bad = "".join(f"08:00:00.{i:06d} IP 198.51.100.{i}.nosuchsvc > 198.51.100.1.5: Flags [S]\n"
                  for i in range(12))
    r = Read(tmp_path, f"08:00:00.000000 {SYN_LINE}\n" + bad)
    assert r.stats.packets == 1 and r.stats.skipped["unparsed-line"] == 12
    assert len(r.warned("cannot read this packet")) == 5
    assert r.stats.warnings[-1].endswith(": 7 more lines with unreadable lines")
    assert "line 2: cannot read this packet: unknown service name 'nosuchsvc'" in \
        r.stats.warnings[0]


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "reason", "line", "records"), [
    (b"", "empty file", None, 0),
    (f"08:00:00.000001 {SYN_LINE}\n08:00:00.000002 {SYN_LINE}\n".encode()
     + b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00\n", "NUL bytes", 3, 2),
    (f"08:00:00.000001 {SYN_LINE}\n".encode() + b"\xff\xfe garbage\n", "invalid UTF-8", 2, 1),
    (b"Hello,\nplease look at the capture\n", "not tcpdump text: no packet in 2 lines", None, 0),
])
def test_fatal_faults_keep_good_records(tmp_path: Path, data: bytes, reason: str,
                                        line: int | None, records: int) -> None:
    r = Read(tmp_path, data)
    assert r.error is not None and reason in r.error.reason
    assert r.stats.error is r.error
    assert (r.error.path, r.error.line, r.error.records) == (r.path, line, records)
    assert len(r.records) == records == r.stats.packets
    assert str(r.error).startswith(r.path + (f" line {line}" if line else "") + ": ")


def test_missing_file_is_a_capture_error(tmp_path: Path) -> None:
    stats = CaptureStats(path=str(tmp_path / "nope.txt"), point="p")
    with pytest.raises(CaptureError, match="cannot read"):
        list(read_text(str(tmp_path / "nope.txt"), "p", stats))
    assert stats.error is not None


@pytest.mark.parametrize("name", ["real-n.txt", "real-any.txt", "real-names.txt",
                                  "handwritten.txt", "pasted-chat.txt"])
def test_fast_path_gives_the_same_records_as_the_general_one(
        tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).parent.parent / "fixtures" / "text" / name).read_bytes()
    fast = Read(tmp_path, text)
    monkeypatch.setattr("nettrail.capture.text_fast._LINE", _NEVER)
    slow = Read(tmp_path, text)
    assert fast.records == slow.records and fast.stats == slow.stats
    assert len(fast.records) > 4


class _Never:
    """A pattern that matches nothing: every line takes the general path."""

    @staticmethod
    def match(_line: str) -> None:
        return None


_NEVER = _Never()


def test_unicode_digits_in_a_port_are_a_warning_not_a_crash(tmp_path: Path) -> None:
    # Found by the property test: '²' passes str.isdigit() but not int().
    path = tmp_path / "sup.txt"
    path.write_text("08:17:25.980500 IP 198.51.100.1.36582 > 203.0.113.2.8080: "
                    "Flags [S], seq 1, win 64240, length 0\n"
                    "08:17:25.980536 IP 198.51.100.1.\u00b236582 > 203.0.113.2.8080: "
                    "Flags [S], seq 1, win 64240, length 0\n")
    stats = CaptureStats(path=str(path), point="p")
    records = list(read_text(str(path), "p", stats))
    assert [r.frame for r in records] == [1]
    assert stats.error is None and sum(stats.skipped.values()) == 1


# --- more forms --------------------------------------------------------------------------------

def test_relative_seq_that_wraps_goes_before_the_base(tmp_path: Path) -> None:
    behind = ("IP 198.51.100.1.5000 > 203.0.113.2.80: Flags [P.], seq 4294867297:4294867304, "
              "ack 1, win 63, length 7")
    lines = [*HANDSHAKE, *RELATIVE, behind]
    r = Read(tmp_path, "".join(f"08:00:00.{i:06d} {x}\n" for i, x in enumerate(lines)))
    tcp = r.records[-1].tcp
    assert tcp is not None and not tcp.seq_relative
    assert (tcp.seq, tcp.payload_len) == ((3904856266 - 99_999 - 1) % 2**32, 7)


def test_small_bases_are_told_from_relative_numbers(tmp_path: Path) -> None:
    lines = [  # whois.pcap: the server's ISN is 9920001, the client's first ACK says "ack 1"
        "IP 10.0.2.15.44188 > 192.0.47.59.43: Flags [S], seq 2239453442, win 29200, length 0",
        "IP 192.0.47.59.43 > 10.0.2.15.44188: Flags [S.], seq 9920001, ack 2239453443, "
        "win 65535, options [mss 1460], length 0",
        "IP 10.0.2.15.44188 > 192.0.47.59.43: Flags [.], ack 1, win 29200, length 0",
    ]
    r = Read(tmp_path, "".join(f"17:25:19.{i:06d} {x}\n" for i, x in enumerate(lines)))
    tcp = r.records[2].tcp
    assert tcp is not None and (tcp.ack, tcp.seq_relative) == (9920002, False)


def test_a_base_near_the_wrap_is_told_from_relative_numbers(tmp_path: Path) -> None:
    """A server ISN within 2**24 of 2**32 (4280176585, from a real lab capture): the client's
    "ack 1" is also "just ahead" of that base, past the wrap, and the file stayed undecided:
    the ACK was read as 1 where tshark says 4280176586 (about one connection in 256)."""
    lines = [
        "IP 10.0.2.15.44188 > 192.0.47.59.43: Flags [S], seq 2239453442, win 29200, length 0",
        "IP 192.0.47.59.43 > 10.0.2.15.44188: Flags [S.], seq 4280176585, ack 2239453443, "
        "win 65535, options [mss 1460], length 0",
        "IP 10.0.2.15.44188 > 192.0.47.59.43: Flags [.], ack 1, win 29200, length 0",
        "IP 10.0.2.15.44188 > 192.0.47.59.43: Flags [P.], seq 1:11, ack 1, win 29200, length 10",
    ]
    r = Read(tmp_path, "".join(f"17:25:19.{i:06d} {x}\n" for i, x in enumerate(lines)))
    assert [(t.ack, t.seq_relative) for t in r.tcp[2:]] == [(4280176586, False)] * 2
    assert r.tcp[3].seq == 2239453443


def test_a_base_set_by_a_pure_ack_after_a_syn(tmp_path: Path) -> None:
    lines = [  # ipoib.pcap: no SYN-ACK in the capture; the pure ACK sets the bases
        "IP 192.168.56.10.34170 > 192.168.56.24.22: Flags [SEW], seq 798232822, win 32983, "
        "length 0",
        "IP 192.168.56.10.34170 > 192.168.56.24.22: Flags [.], ack 3051049339, win 33232, "
        "length 0",
        "IP 192.168.56.10.34170 > 192.168.56.24.22: Flags [P.], seq 0:26, ack 1, win 33232, "
        "length 26",
    ]
    r = Read(tmp_path, "".join(f"16:32:45.{i:06d} {x}\n" for i, x in enumerate(lines)))
    tcp = r.records[2].tcp
    assert tcp is not None and (tcp.seq, tcp.ack) == (798232823, 3051049339)


def test_a_wrap_inside_a_word_and_negative_deltas(tmp_path: Path) -> None:
    r = Read(tmp_path, " 00:00:00.000000 IP 198.51.100.1.5000 > 203.0.113.2.80: Flags [P.], "
                       "seq 1:41, ack 1, wi\nn 63, length 40\n"
                       f" 00:00:00.000010 {SYN_LINE}\n-00:00:00.000004 {SYN_LINE}\n")
    first = r.records[0].tcp
    assert first is not None and (first.window, first.payload_len) == (63, 40)
    assert [x.ts_ns for x in r.records] == [0, 10_000, 6_000]  # deltas, one going back


def test_tcpdump_numbers_and_quiet_lines(tmp_path: Path) -> None:
    r = Read(tmp_path, "    1  1418145369.924505 IP 131.155.215.69.46656 > 137.116.81.94.80: "
                       "tcp 0\n    2  1418145370.052027 IP 137.116.81.94.80 > "
                       "131.155.215.69.46656: tcp 0\n")
    assert [x.ts_ns for x in r.records] == [1418145369924505000, 1418145370052027000]
    assert [x.frame for x in r.records] == [1, 2] and len(r.stats.warnings) == 1


def test_other_link_headers_of_tcpdump_e(tmp_path: Path) -> None:
    bodies = [
        "Out ethertype IPv4 (0x0800), length 76: 131.155.215.69.46656 > 137.116.81.94.80: "
        "Flags [S], seq 797190859, win 27200, length 0",
        "AF IPv4 (2), length 52: 192.0.2.1.39829 > 192.168.0.1.8080: Flags [R.], seq 1:9, "
        "ack 334797553, win 0, length 8",
        "IP (0x0021), length 177: 12.4.4.4.2051 > 12.1.1.1.179: Flags [P.], seq 1:2, ack 1, "
        "win 16384, length 1",
        "ip: 127.0.0.1.179 > 127.0.0.1.59631: Flags [P.], seq 0:231, ack 0, win 8192, "
        "length 231",
        "IPOIB, ethertype IPv4 (0x0800), length 104: 192.168.56.10.34170 > 192.168.56.24.22: "
        "Flags [S], seq 1, win 32983, length 0",
        "be 50 c3 65: 10.80.131.1.1026 > 146.190.240.163.80: Flags [S], seq 2, win 1872, "
        "length 0",
        "MPLS (0x0281), length 79: MPLS (label 100656, tc 6, [S], ttl 64) 12.4.4.4.4100 > "
        "12.8.8.8.179: Flags [P.], seq 3:22, ack 5, win 16384, length 19",
    ]
    r = Read(tmp_path, "".join(f"08:00:00.{i:06d} {b}\n" for i, b in enumerate(bodies)))
    assert len(r.records) == len(bodies) and not r.stats.skipped
    assert [x.wire_len for x in r.records] == [76, 52, 177, 14 + 20 + 20 + 231, 104, 65, 79]


def test_a_length_inside_a_decode_is_not_the_datagrams(tmp_path: Path) -> None:
    r = Read(tmp_path, "    1  1971-09-12 02:15:12.999999 IP 255.10.0.1.63476 > 127.0.0.1.2049: "
                       "NFS request xid 1168185174 80 readdirplus [credentials length 4294967295 "
                       "> 80] (invalid) [|nfs]\n")  # tcpdump's suite, nfs_large_credentials_length
    udp = r.records[0].l4
    assert isinstance(udp, UDPHeader) and udp.payload_len == 0


def test_big_tcp_presumed_lengths_and_caplen_and_ipnet(tmp_path: Path) -> None:
    r = Read(tmp_path,  # tcpdump's suite: bigtcp-ipv6, dns_udp_2 (--lengths), e1000g-e (IPNET)
             "    1  2025-10-02 15:09:21.939724 IP6 (flowlabel 0x81ccd, hlim 61, next-header TCP"
             " (6), payload length 0) [real length 80040, presumed BIG TCP] 2604:1380:4091:ce00:"
             ":b.43267 > 2604:1380:4091:ce00::d.41219: Flags [P.], seq 2265425561:2265505529, "
             "ack 3850636772, win 426, length 79968\n"
             "    2  caplen 98 len 98 2025-10-02 15:09:21.939725 IP 192.168.1.11.43966 > "
             "209.87.249.18.53: 22836+ [1au] A? www.tcpdump.org. (56)\n"
             "    3  2025-10-02 15:09:21.939726 4294967295 > 0, family IPv4 (2), length 108: "
             "129.146.106.55 > 10.5.233.117: ICMP echo request, id 6901, seq 0, length 64\n")
    assert len(r.records) == 3 and not r.stats.warnings
    big = r.records[0].tcp
    assert big is not None and big.payload_len == 79968 and r.records[0].wire_len > 80000
    assert r.records[2].wire_len == 108


def test_tcpdump_text_with_no_readable_packet_is_not_called_prose(tmp_path: Path) -> None:
    r = Read(tmp_path, "    1  2022-11-15 10:23:33.663606 IP  [version 6 != 4] (invalid)\n")
    assert r.error is not None and not r.records
    assert r.error.reason.startswith("no packet could be read in 1 lines, first: line 1 (")


def test_a_wrap_before_a_comma_reads_every_field(tmp_path: Path) -> None:
    """A break just before ``, seq`` / ``, ack``: joined with a space, the fields after it
    would be left unread; the join that reads them all is taken."""
    r = Read(tmp_path, "17:25:19.066204 IP 10.0.2.15.44188 > 192.0.47.59.43: Flags [S]\n"
                       ", seq 2239453442, win 29200, options [mss 1460,sackOK,TS val 2943013729 "
                       "ecr 0,nop,wscale 6], length 0\n"
                       "15:40:42.793339 IP 192.168.5.5.8080 > 10.1.1.2.37479: Flags [S.], seq "
                       "2868811558\n, ack 1895673171, win 14280, options [mss 1460,sackOK,TS val "
                       "4294943148 ecr 38230,nop,wscale 6,mptcp 12 capable v0 csum "
                       "{0xd005b1ab34bad344}], length 0\n"
                       "15:40:42.794230 IP 10.1.1.2.37479 > 192.168.5.5.8080: Flags [P.]\n"
                       ", seq 1:2, ack 1, win 229, options [nop,nop,TS val 38230 ecr 4294943148,"
                       "mptcp 20 dss ack 3386645601 seq 2976985014 subseq 1 len 1 csum 0x9e91], "
                       "length 1: HTTP\n")
    syn, synack, data = r.tcp
    assert (syn.seq, syn.window, syn.options.ts_val) == (2239453442, 29200, 2943013729)
    assert (synack.seq, synack.ack, synack.window) == (2868811558, 1895673171, 14280)
    assert (data.seq, data.payload_len, data.window) == (1895673171, 1, 229)
    assert not r.stats.skipped
    assert len(r.warned("a wrapped line?")) == 3


def test_tcp_fields_left_unread_make_the_line_unreadable(tmp_path: Path) -> None:
    """A segment whose fields stop at a token tcpdump does not print there is named, not read
    as the fields before it."""
    r = Read(tmp_path, "08:00:00.000000 IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S] , seq 1, win 2, "
                       "length 0\n08:00:00.000001 IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, "
                       "win 2, opt ions [mss 1460], length 0\n"
                       f"08:00:00.000002 {SYN_LINE}\n")
    assert [x.frame for x in r.records] == [3]
    assert r.stats.skipped["unparsed-line"] == 2
    assert len(r.warned("TCP fields that cannot be read")) == 2


def test_a_verbose_ip_header_field_that_is_no_number_is_named(tmp_path: Path) -> None:
    """``-v``'s header with a field mangled (two spaces before the id) is named, not read as
    a packet without that field."""
    head = "IP (tos 0x0, ttl 64, id {}, offset 0, flags [DF], proto TCP (6), length 40)"
    tail = "    10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 2, length 0\n"
    r = Read(tmp_path, f"08:00:00.000000 {head.format(' 1499')}\n{tail}"
                       f"08:00:00.000001 {head.format('1500')}\n{tail}")
    assert [x.frame for x in r.records] == [3]
    assert r.records[0].headers.ip is not None and r.records[0].headers.ip.ip_id == 1500
    assert r.stats.skipped["unparsed-line"] == 1
    assert len(r.warned("the IP header's id is not a number: 'id  1499'")) == 1


def test_a_line_wrapped_inside_its_options_is_not_read_across_the_break(
        tmp_path: Path) -> None:
    """The common line's pattern read the options up to the next ``]``, across the line
    end: a line wrapped inside its options was taken with its wrapped rest as one row, and
    at the end of a file reading it stopped with an AssertionError (a traceback)."""
    wrapped = ("08:17:25.980610 IP 198.51.100.1.36582 > 203.0.113.2.8080: Flags [.], ack 1, "
               "win 63, options [nop,nop,TS val 1\n56276806 ecr 2399244231], length 0\n")
    for text in (wrapped, wrapped + f"08:17:26.000000 {SYN_LINE}\n"):
        r = Read(tmp_path, text)
        assert r.records[0].frame == 1
        assert r.tcp[0].options.ts_val == 156276806
        assert len(r.warned("read as the rest of line 1")) == 1


def test_what_tcpdump_prints_after_or_among_the_fields_still_reads(tmp_path: Path) -> None:
    lines = [
        "Flags [P.], seq 96201:96233, ack 83737, win 2990, length 32LDP, Label-Space-ID: "
        "192.168.0.2:0, pdu-length: 28",
        "Flags [none], cksum 0xf547 (correct), seq 760929856, [ack 2028584922 != 0 while ACK "
        "flag not set], win 512, length 0",
        "Flags [S], seq 653223703, win 64240, options [mss 1460,sackOK,mptcp 4 capable v1 "
        "flags [H]], length 0",
        "Flags [.U], seq 8:9, ack 8, win 12, urg 1, options [unknown-48 0x3030 [|tcp]",
        "Flags [S], seq 1, win 2 [|tcp]",
    ]
    r = Read(tmp_path, "".join(f"08:00:00.{i:06d} IP 10.0.0.1.1 > 10.0.0.2.2: {x}\n"
                               for i, x in enumerate(lines)))
    assert not r.stats.skipped
    assert [t.window for t in r.tcp] == [2990, 512, 64240, 12, 2]
    assert r.tcp[0].payload_len == 32 and r.tcp[2].options.order[-1] == "opt-mptcp"


def test_a_line_that_is_not_the_rest_is_named_and_the_packet_read_without_it(
        tmp_path: Path) -> None:
    r = Read(tmp_path, "08:00:00.000000 IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S]\n"
                       "this line is not tcpdump output\n")
    assert r.stats.skipped["unparsed-line"] == 1 and len(r.records) == 1
    assert r.warned("line 2: not a tcpdump packet line, nor the rest of line 1 (read without "
                    "it): 'this line is not tcpdump output'")


def test_a_line_wrapped_in_three_or_four_reads_every_field(tmp_path: Path) -> None:
    """Further lines are joined while the lines so far do not read as a whole, or where the
    break is one a field reads across (a comma, a number); a word split in two is not read as
    a datagram's text (``Fla gs [S]``)."""
    r = Read(tmp_path,
             "17:25:19.066204 IP 10.0.2.15.44188 > 192.0.47.59.43: Flags [S]\n"
             ", seq 2239453442, win 29200, options [mss 1460,sackOK,TS val 2943013729 ecr 0,no\n"
             "p,wscale 6], length 0\n"
             "15:40:42.768187 IP 10.1.1.2.37479 > 10.2.1.2.2002: Fla\n"
             "gs [S], seq 1895673170, win 14600, options [mss 1460,sackOK,TS val 38230\n"
             " ecr 0,nop,wscale 6,mptcp 12 capable v0 flags [AH] csum {0x9b59be3d695e6\n"
             "6a7}], length 0\n"
             "13:45:50.158874 IP (tos 0xc0, ttl 64, id 0, offset 0, flags [D\n"
             "F], proto TCP (6), length 40)\n"
             "    172.18.0.3.179 > 172.18.0.2.44538: Flags [R.], seq 0\n"
             ", ack 1813951548, win 0, length 0\n"
             "13:45:51.000000 IP 172.18.0.3.179 > 172.18.0.2.44538: Flags [P.], seq 1:2531, "
             "ack 1, win 510, length 25\n30: BGP\n")
    syn, mptcp, rst, bgp = r.tcp
    assert (syn.seq, syn.window, syn.options.ts_val, syn.options.wscale) == (
        2239453442, 29200, 2943013729, 6)
    assert (mptcp.flags, mptcp.seq, mptcp.options.ts_val) == (SYN, 1895673170, 38230)
    assert (rst.ack, rst.window) == (1813951548, 0)
    assert bgp.payload_len == 2530
    assert not r.stats.skipped


def test_lines_that_do_not_read_as_the_rest_are_each_named(tmp_path: Path) -> None:
    r = Read(tmp_path, "08:00:00.000000 IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S]\n"
                       "Hello team,\nthe connection keeps dropping\n"
                       f"08:00:01.000000 {SYN_LINE}\n")
    assert [x.frame for x in r.records] == [1, 4]
    assert r.stats.skipped["unparsed-line"] == 2
    assert len(r.warned("nor the rest of line 1")) == 2


def test_a_packet_of_another_protocol_takes_one_line_as_its_rest(tmp_path: Path) -> None:
    r = Read(tmp_path, "08:00:00.000000 IP 10.0.0.1 > 224.0.0.22: igmp v3 report, 1 group\n"
                       "record(s)\nError code    =  0 (0x0)\nFlags1        =  0xFF\n"
                       f"08:00:01.000000 {SYN_LINE}\n")
    assert [x.frame for x in r.records] == [5]
    assert dict(r.stats.skipped) == {"other-protocol": 1, "unparsed-line": 2}
    assert len(r.warned("not a tcpdump packet line: 'Error code")) == 1
