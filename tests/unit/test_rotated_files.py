"""Captures rotated by ``tcpdump -C`` (``cap.pcap``, ``cap.pcap1``, ... ``cap.pcap10``) given as
a shell globs them (``cap.pcap10`` before ``cap.pcap2``): each point's files are read in the
order of their first packets, and the run reads as its whole captures do. Read in the order
given, the incident's client point said "RST from the client": the client's later RST came
before the router's. Files of no packet (``tcpdump -G``'s quiet intervals) are the same bytes,
and not refused as one capture given twice."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from capkit import idb, shb
from nettrail.capture import parse_point_args
from nettrail.cli.main import main
from nettrail.model.analysis import Analysis
from nettrail.run import analyze_files

RUN = Path(__file__).parent.parent / "fixtures" / "labruns" / "dual-l3"
PARTS = 12


def _rotate(src: Path, folder: Path) -> None:
    """``src`` cut into PARTS files of as many packets each, named as ``tcpdump -C`` names
    them (some of them empty when ``src`` has fewer packets)."""
    data = src.read_bytes()
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    records, at = [], 24
    while at < len(data):
        size = struct.unpack_from(order + "I", data, at + 8)[0]
        records.append(data[at : at + 16 + size])
        at += 16 + size
    folder.mkdir()
    n = len(records)
    for k in range(PARTS):
        part = records[k * n // PARTS : (k + 1) * n // PARTS]
        (folder / f"cap.pcap{k or ''}").write_bytes(data[:24] + b"".join(part))


def _read(analysis: Analysis) -> tuple[object, ...]:
    diagnosis = analysis.diagnosis
    return (diagnosis.kinds if diagnosis else None, diagnosis.headline if diagnosis else None,
            sorted((f.kind, f.severity, f.summary) for f in analysis.findings),
            sorted((p.name, p.read_packets) for p in analysis.points),
            sorted((c.outcome, c.packets) for c in analysis.connections))


def test_rotated_files_in_glob_order_read_as_the_whole_captures(tmp_path: Path) -> None:
    whole = [(pcap.stem, str(pcap)) for pcap in sorted(RUN.glob("*.pcap"))]
    for point, path in whole:
        _rotate(Path(path), tmp_path / point)
    globbed = sorted(str(p) for p in tmp_path.glob("*/cap.pcap*"))  # as a shell sorts them
    assert globbed.index(str(tmp_path / "client" / "cap.pcap10")) < globbed.index(
        str(tmp_path / "client" / "cap.pcap2"))
    rotated = parse_point_args(globbed)
    assert {p for p, _ in rotated} == {p for p, _ in whole}
    want = _read(analyze_files(whole).analysis)
    assert want[0] is not None  # the incident's diagnosis
    assert _read(analyze_files(rotated).analysis) == want


def test_files_of_no_packet_are_not_one_capture_given_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files of headers alone, pcap and pcapng, are the same bytes at every host; a copy of a
    file with packets is still refused."""
    pcap_head = (RUN / "client.pcap").read_bytes()[:24]
    files = {"a/cap.pcap": pcap_head, "a/cap.pcap1": pcap_head, "b/cap.pcap": pcap_head,
             "a/ng.pcapng": shb() + idb(), "b/ng.pcapng": shb() + idb(),
             "c/client.pcap": (RUN / "client.pcap").read_bytes()}
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    assert main(["analyze", *(str(tmp_path / name) for name in files)]) == 0
    assert "given twice" not in capsys.readouterr().err
    copy = tmp_path / "d" / "client.pcap"
    copy.parent.mkdir()
    copy.write_bytes(files["c/client.pcap"])
    assert main(["analyze", str(tmp_path / "c" / "client.pcap"), str(copy)]) == 2
    assert "given twice: the same bytes" in capsys.readouterr().err


def test_files_of_one_point_that_overlap_in_time_are_named(tmp_path: Path) -> None:
    """The router's capture cut by interface (one file each, as a capture per interface
    makes them) and given as one point: read one after the other, not merged; one warning
    says so, the first overlap named and the others counted. Rotated files never overlap:
    no such warning."""
    data = (RUN / "netnode.pcap").read_bytes()
    by_iface: dict[int, list[bytes]] = {}
    at = 24
    while at < len(data):
        size = struct.unpack_from("<I", data, at + 8)[0]
        record = data[at : at + 16 + size]
        by_iface.setdefault(struct.unpack_from(">i", record, 16 + 4)[0], []).append(record)
        at += 16 + size
    assert len(by_iface) > 2  # a Linux cooked v2 capture of several interfaces
    files = []
    for index, records in sorted(by_iface.items()):
        path = tmp_path / f"if{index}.pcap"
        path.write_bytes(data[:24] + b"".join(records))
        files.append(("netnode", str(path)))
    warnings = analyze_files(files).analysis.points[0].warnings
    said = [w for w in warnings if "overlap those of" in w]
    assert len(said) == 1 and "more files overlap the one before" in said[0], warnings
    _rotate(RUN / "netnode.pcap", tmp_path / "rotated")
    rotated = [("netnode", str(p)) for p in sorted((tmp_path / "rotated").glob("cap.pcap*"))]
    warnings = analyze_files(rotated).analysis.points[0].warnings
    assert not [w for w in warnings if "overlap" in w], warnings
