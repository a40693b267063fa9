"""A capture point given alone gets a diagnosis, as several points do: the root cause its own
packets show (a SYN refused, a RST a device on the way injected), "inconclusive" with what is
missing when a connection failed and nothing there explains it, nothing when all is well.
Captures of the crosspoint fixtures (recorded in real namespaces) and their tcpdump texts,
with fewer fields."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from nettrail.analyze.diagnose import FLAGS, SEQ, diagnose
from nettrail.analyze.one_point import joined_lacks, lacks
from nettrail.analyze.pipeline import analyze_records
from nettrail.capture.inputs import open_inputs
from nettrail.capture.points import read_points
from nettrail.model.analysis import Analysis
from nettrail.model.table import table_from_records
from nettrail.run import analyze_files

CROSS = Path(__file__).parents[1] / "fixtures" / "crosspoint"


def _alone(path: Path, name: str = "here") -> Analysis:
    return analyze_files([(name, str(path))]).analysis


def _text(tmp_path: Path, pcap: Path, *flags: str) -> Path:
    """``pcap`` as the real tcpdump prints it with ``flags``."""
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed")
    out = subprocess.run(["tcpdump", "-n", *flags, "-r", str(pcap)], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    path = tmp_path / f"{pcap.stem}{''.join(flags)}.txt"
    path.write_text(out)
    return path


def test_a_refused_connection_alone(tmp_path: Path) -> None:
    for path in (CROSS / "refused-client.pcap", _text(tmp_path, CROSS / "refused-client.pcap")):
        d = _alone(path).diagnosis
        assert d is not None and d.kinds == ("refused",)
        assert d.headline.startswith("the connection was refused")
        assert "from the server's address" in d.headline  # what one point can tell
        assert [e.note for e in d.chain] == ["SYN", "RST from the server"]


def test_an_injected_reset_alone_names_the_device_in_between() -> None:
    d = _alone(CROSS / "incident-client.pcap", "client").diagnosis
    assert d is not None and d.kinds == ("reset-injected",)
    assert "posing as 203.0.113.10" in d.headline
    assert d.explanation.startswith("client: the RST from 203.0.113.10")  # its name as written


@pytest.mark.parametrize("name", ["lost-client", "lost-netnode", "mtu-vm", "incident-netnode"])
def test_a_failure_nothing_explains_is_inconclusive(name: str) -> None:
    d = _alone(CROSS / f"{name}.pcap").diagnosis
    assert d is not None and d.kinds == ("inconclusive",)
    assert d.headline.startswith("inconclusive: 203.0.113.2:")
    assert d.explanation == "Missing: a capture point on each side of where its packets stop."


def test_a_text_without_sequence_numbers_says_they_are_missing(tmp_path: Path) -> None:
    text = tmp_path / "netnode.txt"
    text.write_text((CROSS / "incident-asis-host1.txt").read_text())
    d = _alone(text, "netnode").diagnosis
    assert d is not None and d.kinds == ("inconclusive",)
    assert d.explanation == "Missing: no sequence numbers at point netnode."


def test_a_text_without_flags_says_failures_cannot_be_seen(tmp_path: Path) -> None:
    """``tcpdump -q`` prints no flags: a point whose handshakes all look alike cannot show a
    failure, and says so, rather than that all is well."""
    d = _alone(_text(tmp_path, CROSS / "healthy-client.pcap", "-q"), "client").diagnosis
    assert d is not None and d.kinds == ("inconclusive",)
    assert "no TCP flags in the capture text of point client" in d.explanation


@pytest.mark.parametrize("name", ["healthy-client", "healthy-netnode", "healthy-vm"])
def test_a_healthy_point_has_no_diagnosis(name: str, tmp_path: Path) -> None:
    for path in (CROSS / f"{name}.pcap", _text(tmp_path, CROSS / f"{name}.pcap")):
        assert _alone(path).diagnosis is None


def test_what_a_table_lacks(tmp_path: Path) -> None:
    """``lacks`` reads the columns as cross-point analysis reads the records: a binary capture
    lacks nothing; a text without seq (or flags) lacks them; no TCP, no answer."""
    stripped = tmp_path / "stripped.txt"
    stripped.write_text((CROSS / "healthy-asis-host1.txt").read_text())
    for path, want in ((CROSS / "healthy-client.pcap", frozenset()),
                       (stripped, frozenset({SEQ})),
                       (_text(tmp_path, CROSS / "healthy-client.pcap", "-q"),
                        frozenset({FLAGS, SEQ}))):
        points, errors = read_points(open_inputs([("p", str(path))]))
        assert not errors
        assert lacks(points[0].table) == want, path
    assert lacks(table_from_records("p", [])) is None
    assert joined_lacks([None, frozenset({SEQ, FLAGS}), frozenset({SEQ})]) == {SEQ}
    assert joined_lacks([None, None]) is None
    assert analyze_records({"p": []}).diagnosis is None
    assert diagnose([]) is None


SUITE = Path(__file__).parents[3] / "shared" / "tcpdump-tests"


@pytest.mark.parametrize(("name", "headline"), [
    ("geneve-gcp.out", None),  # "Flags [none], seq 760929856": flags printed, none set
    ("bgp_vpn_rt-oobr.out", None),
    ("tcp-handshake-nano.out", "inconclusive: the TCP packets at here carry no flags"),  # -q
])
def test_flags_printed_as_none_are_flags(name: str, headline: str | None) -> None:
    """tcpdump's own texts: a packet printed ``Flags [none]`` with its seq has flags (none
    set), not the flags ``-q`` leaves out."""
    if not (SUITE / name).is_file():
        pytest.skip(f"needs tcpdump's test suite at {SUITE}")
    d = _alone(SUITE / name).diagnosis
    if headline is None:
        assert d is None
    else:
        assert d is not None and d.headline.startswith(headline)


def test_an_inconclusive_diagnosis_counts_the_other_failures(tmp_path: Path) -> None:
    """The headline names the first connection that failed; the others that failed at its
    point are counted, each once."""
    lines = [f"08:19:46.{n:06d} IP 203.0.113.{2 + n % 3}.{40000 + n} > 198.51.100.4.22: "
             f"Flags [S], seq {n}, win 64240, length 0" for n in range(1, 5)]
    lines.append(lines[0].replace("08:19:46", "08:19:47"))  # the first SYN sent again
    text = tmp_path / "syns.txt"
    text.write_text("\n".join(lines) + "\n")
    d = _alone(text).diagnosis
    assert d is not None and d.kinds == ("inconclusive",)
    assert d.headline.startswith("inconclusive: 203.0.113.3:40001 > 198.51.100.4:22 failed")
    assert d.explanation.endswith(" (3 other connections also failed at here.)")
    one = tmp_path / "one.txt"
    one.write_text(lines[0] + "\n")
    d = _alone(one).diagnosis
    assert d is not None and "other connection" not in d.explanation
