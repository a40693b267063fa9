"""``nettrail analyze`` on damaged or unusual capture files: one clear line, exit 2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from capkit import epb, eth, idb, ipv4, pcap, shb, tcp
from nettrail.cli.main import main

FIXTURES = Path(__file__).parents[1] / "fixtures"
LAB_ETH = FIXTURES / "captures" / "lab-eth.pcap"
LAB_MULTI = FIXTURES / "captures" / "lab-multi.pcapng"


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("nettrail: error:")]


def test_text_turning_invalid_utf8_keeps_its_good_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = FIXTURES / "text" / "bad-utf8.txt"
    assert main(["analyze", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "Point bad-utf8: 1 packet (tcpdump-text)" in out
    assert _errors(err) == [f"nettrail: error: {path} line 2: invalid UTF-8 at byte 0 of the "
                            "line: binary data, not tcpdump text"]


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_pcap_cut_inside_its_magic_is_a_truncated_header(
    tmp_path: Path, cut: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cut.pcap"
    path.write_bytes(LAB_ETH.read_bytes()[:cut])
    assert main(["analyze", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert _errors(err) == [f"nettrail: error: {path} at byte 0: truncated file header "
                            f"({cut} bytes)"]


@pytest.mark.parametrize(("cut", "what"), [
    (8, "8 of at least 12 bytes"), (30, "30 of 164 bytes"), (163, "163 of 164 bytes"),
])
def test_pcapng_cut_inside_its_first_block_is_truncated_not_empty(
    tmp_path: Path, cut: int, what: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cut.pcapng"
    path.write_bytes(LAB_MULTI.read_bytes()[:cut])
    assert main(["analyze", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert _errors(err) == [f"nettrail: error: {path} at byte 0: truncated block ({what})"]


def test_fifo_is_refused_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    assert main(["analyze", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert _errors(err) == [f"nettrail: error: {path}: a named pipe, not a file: nettrail reads "
                            "each capture more than once; save it to a file first, or give it "
                            f"as standard input (- < {path})"]


@pytest.mark.parametrize(("manifest", "why"), [
    ('{"points": {"a": {"pcap": "a.pcap"}}}',
     "'points' must be a list of objects with name, pcap and interfaces {ifindex: name}"),
    ('{"points": [{"name": "a", "pcap": "a.pcap"}]}', "missing key 'interfaces'"),
])
def test_damaged_run_manifest_says_what_is_wrong_in_plain_words(
    tmp_path: Path, manifest: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "manifest.json").write_text(manifest)
    assert main(["analyze", str(tmp_path)]) == 2
    assert _errors(capsys.readouterr().err) == [
        f"nettrail: error: {tmp_path}/manifest.json: not a run manifest ({why})"]


SYN_LINE = "08:10:54.514309 IP 198.51.100.4.51512 > 203.0.113.2.22: Flags [S], seq 1, win 5, " \
    "length 0\n"


def test_text_starting_with_a_byte_order_mark_keeps_its_first_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(("\ufeff" + SYN_LINE * 2).encode())
    assert main(["analyze", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "Point bom: 2 packets (tcpdump-text)" in out
    assert f"warning: {path} line 1: a UTF-8 byte-order mark (ignored)" in out
    assert "not analysed" not in out and err == ""


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_text_is_named_as_such(
    tmp_path: Path, encoding: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "u16.txt"
    bom = "\ufeff" if encoding == "utf-16-be" else ""  # "utf-16" writes its own
    path.write_bytes((bom + SYN_LINE).encode(encoding))
    assert main(["analyze", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert _errors(err) == [f"nettrail: error: {path} at byte 0: UTF-16 text: convert it to "
                            "UTF-8 first (iconv -f UTF-16 -t UTF-8)"]


@pytest.mark.parametrize("order", ["LE", "BE"])
def test_utf16_text_without_a_byte_order_mark_is_named_with_its_byte_order(
    tmp_path: Path, order: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "u16.txt"
    path.write_bytes((SYN_LINE * 3).encode(f"utf-16-{order.lower()}"))
    assert main(["analyze", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert _errors(err) == [f"nettrail: error: {path} at byte 0: UTF-16{order} text without a "
                            f"byte-order mark: convert it to UTF-8 first (iconv -f UTF-16{order} "
                            "-t UTF-8)"]
    converted = tmp_path / "u8.txt"
    converted.write_bytes(path.read_bytes().decode(f"utf-16-{order.lower()}").encode())
    assert main(["analyze", str(converted)]) == 0


SYN_FRAME = eth(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1000, 80, 0x02)))
UNKNOWN_LINK = 147  # a user link type: nothing nettrail can decode


def _skipped_captures(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Captures whose every packet is of a link type nettrail cannot read, each with the place
    of its one error line."""
    ng_bytes = shb() + idb(UNKNOWN_LINK) + idb(1) + epb(SYN_FRAME, 10**9)
    made = {"pcap": (pcap([(10**9, SYN_FRAME)], linktype=UNKNOWN_LINK), 20),
            "pcapng": (ng_bytes, len(shb()) + 8)}
    found = {}
    for kind, (data, offset) in made.items():
        path = tmp_path / f"skipped.{kind}"
        path.write_bytes(data)
        found[kind] = (path, f"nettrail: error: {path} at byte {offset}: unsupported link "
                       f"type {UNKNOWN_LINK}")
    return found


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_capture_with_every_packet_of_an_unknown_link_type_prints_no_report(
    tmp_path: Path, kind: str, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, line = _skipped_captures(tmp_path)[kind]
    assert main(["analyze", "--format", fmt, str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert _errors(err) == [line] and err == line + "\n"


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_skipped_capture_beside_a_good_one_leaves_the_good_one_analysed(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, line = _skipped_captures(tmp_path)[kind]
    good = tmp_path / "good.pcapng"
    good.write_bytes(shb() + idb(1) + epb(SYN_FRAME, 10**9))
    assert main(["analyze", str(path), str(good)]) == 2
    out, err = capsys.readouterr()
    assert "Point good: 1 packet (pcapng)" in out
    assert "10.0.0.1:1000 > 10.0.0.2:80  syn-unanswered" in out
    assert _errors(err) == [line]


@pytest.mark.parametrize("bad", ["pcap", "pcapng", "missing"])
def test_a_point_nothing_could_be_read_of_is_left_out_not_analysed_as_seeing_nothing(
    tmp_path: Path, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given first (the clock reference) or between the others, an unreadable point changes
    nothing of the analysis of the readable ones but a warning naming it."""
    run = FIXTURES / "collectruns" / "dual-l3"
    good = [f"{p}={run / p}.pcap" for p in ("client", "compute", "vm")]
    path = (_skipped_captures(tmp_path)[bad][0] if bad != "missing"
            else tmp_path / "gone.pcap")
    assert main(["analyze", "--format", "json", *good]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert alone["diagnosis"] and alone["warnings"] == []
    for where in (0, 2):
        args = [*good[:where], f"router={path}", *good[where:]]
        assert main(["analyze", "--format", "json", *args]) == 2
        out, err = capsys.readouterr()
        assert len(_errors(err)) == 1
        got = json.loads(out)
        assert got.pop("warnings") == [f"point router left out of the analysis: nothing of "
                                       f"{path} could be read"]
        assert got == {k: v for k, v in alone.items() if k != "warnings"}


@pytest.mark.parametrize("stamp", ["", "17:16:09.99999{} "])
def test_quiet_text_packets_are_never_called_copies(
    tmp_path: Path, stamp: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tcpdump -q`` prints no flags or numbers: two packets of a direction within the copy
    window (or without times, placed 1 µs apart) look alike, and are no copies for it."""
    lines = ["IP 131.155.215.69.46656 > 137.116.81.94.80: tcp 0",
             "IP 137.116.81.94.80 > 131.155.215.69.46656: tcp 0",
             "IP 131.155.215.69.46656 > 137.116.81.94.80: tcp 0"]
    path = tmp_path / "quiet.txt"
    path.write_text("".join(stamp.format(i) + line + "\n" for i, line in enumerate(lines)))
    assert main(["analyze", "--format", "json", str(path)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [(c["packets"], c["copies"]) for c in got["connections"]] == [(3, 0)]
    assert [f["kind"] for f in got["findings"]] == []
    assert [c["outcome"] for c in got["connections"]] == ["unknown"]


@pytest.mark.parametrize("options", [
    ("options [nop,nop,TS val 38334 ecr 4294943250], ", "options [nop,nop,TS val 38734 ecr "
     "4294943250], "),
    ("", ""),
])
def test_text_without_times_claims_no_copies(
    tmp_path: Path, options: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``tcpdump -t`` of mptcp-fclose.pcap, lines 8 to 11: lines 9 and 10 are 4 s apart in
    the pcap. Placed 1 µs apart by line order, they are no copies of each other (with or
    without the TS vals that differ)."""
    lines = ["IP 10.2.1.2.2002 > 10.1.1.2.37479: Flags [.], ack 2, win 224, length 0",
             f"IP 10.1.1.2.37479 > 10.2.1.2.2002: Flags [.], ack 2, win 229, {options[0]}length 0",
             f"IP 10.1.1.2.37479 > 10.2.1.2.2002: Flags [.], ack 2, win 229, {options[1]}length 0",
             "IP 10.2.1.2.2002 > 10.1.1.2.37479: Flags [R.], seq 2, ack 2, win 224, length 0"]
    path = tmp_path / "f.t.out"
    path.write_text("".join(line + "\n" for line in lines))
    assert main(["analyze", "--format", "json", str(path)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [c["copies"] for c in got["connections"]] == [0]
    assert "multi-interface-copy" not in [f["kind"] for f in got["findings"]]


@pytest.mark.parametrize(("later", "outcome"), [
    ("", "unknown"),
    ("Flags [R], seq 1, win 0, length 0", "reset-midstream"),
    ("Flags [.], ack 1, win 502, length 0", "midstream"),
])
def test_a_quiet_connection_is_unknown_until_a_packet_prints_flags(
    tmp_path: Path, later: str, outcome: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A connection whose packets print no flags (``tcpdump -q``) did not begin midstream, as
    far as anyone can tell: its outcome is "unknown". A packet of it that does print flags
    (text cut short on some lines only) tells what it can, as it would alone."""
    lines = ["17:16:09.924505 IP 131.155.215.69.46656 > 137.116.81.94.80: tcp 0",
             "17:16:10.052027 IP 137.116.81.94.80 > 131.155.215.69.46656: tcp 0"]
    if later:
        lines.append(f"17:16:10.052115 IP 131.155.215.69.46656 > 137.116.81.94.80: {later}")
    path = tmp_path / "quiet.txt"
    path.write_text("".join(line + "\n" for line in lines))
    assert main(["analyze", "--format", "json", str(path)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [c["outcome"] for c in got["connections"]] == [outcome]
