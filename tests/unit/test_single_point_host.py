"""One capture point alone gets its host's findings, as it does beside other points: a RST a
device on the way injected, SYNs its host dropped after the capture saw them. Captures made
here and printed by the real tcpdump, with fewer fields, a mangled line, no times."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_findings_host import _cooked
from test_reset_fields import _frames

from capkit import pcap
from nettrail.analyze.findings_host import DROPPED_AFTER_CAPTURE, RESET_INJECTED
from nettrail.model.analysis import Analysis
from nettrail.model.packet import ACK, SYN
from nettrail.run import analyze_files


def _alone(name: str, path: Path | str) -> Analysis:
    return analyze_files([(name, str(path))]).analysis


def _kinds(a: Analysis) -> list[str]:
    return [f.kind for f in a.findings]


def _printed(tmp_path: Path, frames: list[tuple[int, bytes]], *flags: str) -> Path:
    """The frames as a pcap, printed by tcpdump with ``flags`` into a text file."""
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed")
    cap = tmp_path / "client.pcap"
    cap.write_bytes(pcap(frames))
    out = subprocess.run(["tcpdump", "-n", *flags, "-r", str(cap)], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    path = tmp_path / f"client{''.join(flags)}.txt"
    path.write_text(out)
    return path


INJECTED = {"rst_tos": 0x00, "rst_ttl": 250, "rst_id": 0, "rst_win": 0}
"""A RST with a TTL and TOS its claimed sender's packets never had."""
FITTING = {"rst_tos": 0x08, "rst_ttl": 61, "rst_id": 0, "rst_win": 0}
"""A RST that fits its sender's packets in every field."""


@pytest.mark.parametrize("form", ["pcap", "tcpdump -v", "tcpdump -v, a line mangled"])
def test_a_client_capture_alone_names_a_reset_injected_on_the_way(tmp_path: Path,
                                                                  form: str) -> None:
    frames = _frames(**INJECTED)
    if form == "pcap":
        path = tmp_path / "client.pcap"
        path.write_bytes(pcap(frames))
    else:
        path = _printed(tmp_path, frames, "-v")
        if "mangled" in form:
            lines = path.read_text().splitlines(keepends=True)
            lines.insert(4, "12:00:00.0 IP 198.51.100.10.22 > Flags [\n")
            path.write_text("".join(lines))
    a = _alone("client", path)
    injected = [f for f in a.findings if f.kind == RESET_INJECTED]
    assert len(injected) == 1 and injected[0].root_cause
    assert "injected by a device in between" in injected[0].summary
    assert "TTL 250 where 198.51.100.10's other packets here have 61" in injected[0].summary
    # ahead of the connection's own "reset" finding, which only says whose address it bore
    assert _kinds(a).index(RESET_INJECTED) < _kinds(a).index("reset")


def test_a_reset_that_fits_its_sender_is_not_called_injected_alone(tmp_path: Path) -> None:
    path = tmp_path / "client.pcap"
    path.write_bytes(pcap(_frames(**FITTING)))
    assert RESET_INJECTED not in _kinds(_alone("client", path))


@pytest.mark.parametrize("flags", [(), ("-t", "-v")], ids=["no -v", "-t -v"])
def test_text_without_the_fields_or_the_times_names_no_injection(tmp_path: Path,
                                                                flags: tuple[str, ...]) -> None:
    """Without ``-v`` no TTL, TOS or IP ID is printed (nothing to judge the RST by); with
    ``-t`` no time (which packet came before the RST is not known)."""
    a = _alone("client", _printed(tmp_path, _frames(**INJECTED), *flags))
    assert RESET_INJECTED not in _kinds(a)
    assert "reset" in _kinds(a)


OVERFLOW = [(0, 39999, SYN, 1), (1, 39999, SYN | ACK, 1), (10, 40000, SYN, 5000),
            (1010, 40000, SYN, 5000), (3010, 40000, SYN, 5000)]
"""A connection answered, then a client's SYN sent three times and never answered."""


def test_the_servers_capture_alone_shows_the_syns_dropped_inside_it(tmp_path: Path) -> None:
    a = _alone("server", _cooked(tmp_path, "server", "198.51.100.10", OVERFLOW))
    dropped = [f for f in a.findings if f.kind == DROPPED_AFTER_CAPTURE]
    assert [(f.details["packet"], f.details["host"]) for f in dropped] == [
        ("SYN", "198.51.100.10")]
    assert dropped[0].root_cause
    assert "never answered" in dropped[0].summary
    assert _kinds(a).index(DROPPED_AFTER_CAPTURE) < _kinds(a).index("syn-unanswered")


@pytest.mark.parametrize("variant", ["client's capture", "server one hop away", "nothing sent"])
def test_a_capture_alone_that_cannot_show_the_server_host_names_no_drop(tmp_path: Path,
                                                                       variant: str) -> None:
    """At the client the SYNs leave; where the server's packets leave one hop older the point
    is a router the SYNs may have left by an interface not captured; a server that sent
    nothing is not shown to live at the point."""
    packets = [p for p in OVERFLOW if not p[2] & ACK] if variant == "nothing sent" else OVERFLOW
    here = "203.0.113.10" if variant == "client's capture" else "198.51.100.10"
    ttl = 63 if variant == "server one hop away" else 64
    a = _alone("p", _cooked(tmp_path, "p", here, packets, server_ttl=ttl))
    assert DROPPED_AFTER_CAPTURE not in _kinds(a)
    assert "syn-unanswered" in _kinds(a)


@pytest.mark.parametrize("capture", ["server -i any", "client tcpdump -v"])
def test_a_point_read_in_partitions_gets_the_findings_of_its_whole_table(
        capture: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the memory budget a point's rows go to partitions by connection key: the
    addresses living on its host, its ICMP errors and the packets of each connection are
    then gathered across partitions, for the same findings."""
    from test_partition import as_json, check_same

    if capture.startswith("server"):
        path = Path(_cooked(tmp_path, "server", "198.51.100.10", OVERFLOW))
        kind = DROPPED_AFTER_CAPTURE
    else:
        path = _printed(tmp_path, _frames(**INJECTED), "-v")
        kind = RESET_INJECTED
    assert kind in {f["kind"] for f in as_json(path, None)[0]["findings"]}
    check_same(path, monkeypatch, tmp_path)
