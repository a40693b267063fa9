"""``describe(record)``: the evidence line, checked against what tcpdump itself prints."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import require_tool
from nettrail.analyze.describe import describe, describe_headers
from nettrail.capture import open_capture
from nettrail.model.packet import (
    PROTO_ICMP,
    Headers,
    ICMPHeader,
    IPHeader,
    QuotedHeader,
)

LAB_ETH = Path(__file__).parents[1] / "fixtures" / "captures" / "lab-eth.pcap"


def test_tcp_lines_match_tcpdump_minus_options() -> None:
    """Every plain TCP line equals ``tcpdump -nS`` without its options and payload name;
    tcpdump leaves out the seq of a bare ACK, we always print it."""
    tcpdump = require_tool("tcpdump")
    theirs = subprocess.run([tcpdump, "-nS", "-r", str(LAB_ETH)], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    ours = [(describe(r), r) for r in open_capture(str(LAB_ETH), "p")]
    compared = 0
    for line in theirs:
        m = re.match(r"\S+ IP6? (.*Flags.*)", line)
        if m is None:
            continue
        want = re.sub(r" options \[[^]]*\],", "", m.group(1))
        want = re.sub(r"(length \d+): .*$", r"\1", want)
        candidates = [o for o, r in ours if (r.inner is None and _bare(o) == want)
                      or o == want]
        assert candidates, f"no line of ours matches {want!r}"
        compared += 1
    assert compared >= 20


def _bare(text: str) -> str:
    """Our line without the seq of a bare ACK, as tcpdump prints it."""
    if "Flags [.]" in text and text.endswith("length 0"):
        return re.sub(r" seq \d+,", "", text)
    return text


def test_vxlan_shows_outer_and_inner() -> None:
    vx = [describe(r) for r in open_capture(str(LAB_ETH), "p") if r.inner is not None]
    assert ("198.51.100.1.56966 > 198.51.100.2.4789: UDP, length 82: VXLAN vni 42: "
            "198.18.0.1.45988 > 198.18.0.2.8080: Flags [S], seq 1615880918, win 64860, "
            "length 0") in vx


def test_icmp_frag_needed_with_quoted_header() -> None:
    inner = IPHeader(4, "198.51.100.2", "203.0.113.10", 6, 63, 7, 1500, True, 0, False)
    icmp = ICMPHeader(4, 3, 4, 1400, QuotedHeader(inner, 40000, 22))
    ip = IPHeader(4, "198.18.0.1", "198.51.100.2", PROTO_ICMP, 64, 1, 576, False, 0, False)
    assert describe_headers(Headers(None, ip, icmp)) == (
        "198.18.0.1 > 198.51.100.2: ICMP unreachable - need to frag (mtu 1400) for "
        "198.51.100.2.40000 > 203.0.113.10.22")
