"""This machine's tcpdump, with each printing flag, on suite pcaps of every link type we read.

tcpdump's suite printed its ``.out`` files with a newer tcpdump and mostly ``-tttt``; here the
installed tcpdump prints a few of its pcaps (ARCnet, IPoIB, raw IP, Linux cooked, null, PPP
with MPLS, Ethernet with Geneve and VXLAN, conversations starting mid-stream, a clock started
at 0) with ``-e``, ``-v``/``-vv``/``-vvv``, ``-S``, ``-q``, every ``-t`` variant and ``-nn``,
and each text must read as tshark reads the pcap. ``-q`` does not print what a tunnel
carries: tunnel pcaps are not checked with it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from textkit import compare
from truth import SUITE_DIR, SuiteTest, require_suite, truth_for

from conftest import require_tool

PCAPS = {
    "arcnet-rfc1051-arp-icmp-http.pcap": False,  # ARCnet
    "ipoib.pcap": False,  # IPoIB, a base set by a pure ACK after a SYN
    "scps_invalid.pcap": False,  # raw IPv4
    "bgp-addpath.pcap": False,  # raw IP
    "tcp-handshake-nano.pcap": False,  # Linux cooked, nanoseconds
    "tcp_rst_diag_payload-trunc.pcap": False,  # null (BSD loopback)
    "lspping-fec-ldp.pcap": False,  # PPP, MPLS
    "ldp-common-session.pcap": False,  # Ethernet, starts mid-conversation
    "whois.pcap": False,  # a small sequence base
    "bgp-as-path-oobr.pcap": False,  # times from 0: -tt prints 0.000000
    "geneve.pcap": True,  # Geneve
    "gso-ipv4-vxlan-ipv4.pcap": True,  # VXLAN
}
"""Pcap name: whether it is a tunnel (not checked with -q)."""
FLAGS = [
    ["-e"], ["-v"], ["-vv"], ["-vvv", "-e"], ["-S"], ["-q"], ["-tt"], ["-ttt"], ["-ttttt"],
    ["-t"], ["-nn", "-e", "-v"],
]


@pytest.mark.parametrize("flags", FLAGS, ids=["".join(f) for f in FLAGS])
def test_real_tcpdump_text_agrees_with_tshark(tmp_path: Path, flags: list[str]) -> None:
    """Each pcap printed by this tcpdump with ``flags`` reads as tshark reads it."""
    require_suite()
    tcpdump = require_tool("tcpdump")
    truths = truth_for(SUITE_DIR / p for p in PCAPS)
    failures = {}
    for pcap, tunnel in PCAPS.items():
        if tunnel and "-q" in flags:
            continue
        args = ["-#", "-n", "-r", str(SUITE_DIR / pcap), *flags]
        if not any(f.startswith("-t") for f in flags):
            args.append("-tttt")
        out = tmp_path / f"{pcap}.out"
        with out.open("w") as fh:
            subprocess.run([tcpdump, *args], stdout=fh, stderr=subprocess.DEVNULL, check=True)
        rows = truths[SUITE_DIR / pcap]
        assert rows is not None, f"{pcap} holds no TCP for tshark"
        problems = compare(SuiteTest(pcap, pcap, str(out), " ".join(args)), rows)
        if problems:
            failures[pcap] = problems
    assert not failures, "\n".join(f"{p}: {v[0]} ({len(v)})" for p, v in failures.items())
