"""Real resets from tcpdump's own test suite are not called injected.

Every suite pcap whose expected output shows a RST (``Flags [R``) is read as pcap and as this
machine's ``tcpdump -n -v`` text of it, and ``reset-injected`` must not fire on any: these are
resets their senders' stacks really made, with the fields stacks give them (a socket's TOS and
window; without a socket, IP ID 0, window 0 and the TOS of the packet answered).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from truth import SUITE_DIR, suite_tests

from conftest import require_tool
from nettrail.analyze.findings_host import RESET_INJECTED, host_findings
from nettrail.capture import open_capture
from nettrail.model.packet import RST, PacketRecord


def _reset_pcaps() -> list[str]:
    if not (SUITE_DIR / "tests.tsv").is_file():
        return []
    return sorted({t.pcap for t in suite_tests()
                   if "Flags [R" in (SUITE_DIR / t.output).read_text(errors="replace")})


PCAPS = _reset_pcaps()


def _records(tmp_path: Path, name: str, text: bool) -> list[PacketRecord]:
    path = SUITE_DIR / name
    if text:
        require_tool("tcpdump")
        out = subprocess.run(["tcpdump", "-n", "-v", "-r", str(path)], capture_output=True,
                             text=True, check=False, timeout=60).stdout
        path = tmp_path / (name + ".txt")
        path.write_text(out)
    return list(open_capture(str(path), "suite"))


def _require_suite() -> None:
    if not PCAPS:
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")


@pytest.mark.parametrize("text", [False, True], ids=["pcap", "tcpdump-v"])
@pytest.mark.parametrize("name", PCAPS or ["(no suite)"])
def test_real_resets_are_not_called_injected(tmp_path: Path, name: str, text: bool) -> None:
    _require_suite()
    recs = _records(tmp_path, name, text)
    found = [f.summary for f in host_findings("suite", recs) if f.kind == RESET_INJECTED]
    assert found == []


def test_the_suite_holds_resets_the_rule_weighs() -> None:
    """Three of those RSTs come after other packets of their sender in the same connection
    (so TOS and window are compared, and fit); and the refusals that answer a SYN with a
    nonzero TOS (BGP's 0xc0, OpenFlow's 0xa0) carry that TOS, not 0: a stack without a socket
    resets with the TOS of the packet it answers, which the rule accepts."""
    _require_suite()
    weighed = 0
    reflected = []
    for name in PCAPS:
        recs = [r for r in open_capture(str(SUITE_DIR / name), "suite")
                if r.tcp is not None and r.ip is not None]
        for rst in recs:
            assert rst.ip is not None and rst.tcp is not None
            if not rst.tcp.flags & RST:
                continue
            key = (rst.ip.src, rst.tcp.sport, rst.ip.dst, rst.tcp.dport)
            own = [r for r in recs if _key(r) == key and r.tcp is not None
                   and not r.tcp.flags & RST]
            peer = [r.ip.tos for r in recs if r.ip is not None and _key(r, True) == key]
            weighed += bool(own)
            if not own and peer and peer[-1]:
                reflected.append(rst.ip.tos == peer[-1])
    assert weighed >= 3
    assert len(reflected) >= 4 and all(reflected)


def _key(r: PacketRecord, reverse: bool = False) -> tuple[object, ...]:
    assert r.ip is not None and r.tcp is not None
    if reverse:
        return (r.ip.dst, r.tcp.dport, r.ip.src, r.tcp.sport)
    return (r.ip.src, r.tcp.sport, r.ip.dst, r.tcp.dport)
