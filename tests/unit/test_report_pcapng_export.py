"""``report.pcapng.export``: the records ``capture.inputs`` reads again, an interface per
point/interface, comments."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from test_report_pcapng import tshark_fields

from nettrail.capture import open_capture
from nettrail.capture.inputs import open_inputs
from nettrail.errors import CaptureError
from nettrail.model.analysis import Analysis, ClockOffset, Hop, NatTranslation, PacketPath
from nettrail.model.finding import Evidence, Finding, Severity
from nettrail.model.flow import Endpoint, FlowKey
from nettrail.model.packet import (
    RST,
    SYN,
    EthHeader,
    Headers,
    IPHeader,
    PacketRecord,
    TCPHeader,
    TCPOptions,
)
from nettrail.report.frames import synthesize
from nettrail.report.hops import flags_of
from nettrail.report.pcapng import export

T0 = 1_764_058_200_000_000_000
CLIENT = Endpoint("198.51.100.10", 40000)
FIP = Endpoint("203.0.113.10", 80)
VM = Endpoint("198.18.0.5", 80)
TEXT = """\
2025-11-25 08:10:00.000480 eth0  In  IP 198.51.100.10.40000 > 198.18.0.5.80: Flags [S], \
seq 1000, win 64240, options [mss 1460,sackOK,TS val 123 ecr 0,nop,wscale 7], length 0
2025-11-25 08:10:00.000590 eth1  Out IP 203.0.113.10.80 > 198.51.100.10.40000: Flags [S.], \
seq 5000, ack 1001, win 65160, options [mss 1460,sackOK,TS val 9 ecr 123,nop,wscale 7], length 0
"""


def _tcp_frame(src: Endpoint, dst: Endpoint, flags: int, seq: int) -> bytes:
    headers = Headers(
        EthHeader("02:00:00:00:0a:01", "02:00:00:00:0a:02", (), 0x0800),
        IPHeader(4, src.addr, dst.addr, 6, 64, 7, None, True, 0, False),
        TCPHeader(src.port, dst.port, flags, seq, 0, 64240, 0,
                  TCPOptions(None, None, False, (), None, None, ())),
    )
    return synthesize(headers)[0]


def write_pcap(path: Path, packets: list[tuple[int, bytes]]) -> None:
    """A nanosecond pcap file of Ethernet frames."""
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for ts, data in packets:
            sec, nsec = divmod(ts, 1_000_000_000)
            f.write(struct.pack("<IIII", sec, nsec, len(data), len(data)) + data)


def _hop(rec: PacketRecord, src: Endpoint, dst: Endpoint) -> Hop:
    return Hop(rec.point, rec.ifname, rec.ts_ns, rec.file, rec.frame, f"{rec.where}", src, dst)


@pytest.fixture
def captured(tmp_path: Path) -> tuple[Analysis, list[tuple[str, str]], list[PacketRecord]]:
    """A client pcap and a compute-node text capture, and an analysis over their records."""
    pcap = tmp_path / "client.pcap"
    write_pcap(pcap, [(T0, _tcp_frame(CLIENT, FIP, SYN, 1000)),
                      (T0 + 900_000, _tcp_frame(FIP, CLIENT, RST, 1))])
    text = tmp_path / "compute.txt"
    text.write_text(TEXT)
    captures = [("client", str(pcap)), ("compute-node", str(text))]
    records = [r for point, path in captures for r in open_capture(path, point)]
    c_syn, c_rst, t_syn, _ = records
    key = FlowKey.of(6, CLIENT, FIP)
    path = PacketPath(7, (_hop(c_syn, CLIENT, FIP), _hop(t_syn, CLIENT, VM)), 0.9, key)
    finding = Finding("rst-from-router-namespace", Severity.ERROR, "reset",
                      (Evidence("client", c_rst.file, c_rst.frame, c_rst.ts_ns, "RST"),),
                      root_cause=True, connection=key)
    analysis = Analysis(
        points=(), connections=(), findings=(finding,), paths=(path,),
        nat=(NatTranslation("dnat", "request", FIP, VM, "client", "compute-node", None, 1, key),),
        clock=(ClockOffset("compute-node", "client", 25_000_000.0, 100_000.0, 3),),
    )
    return analysis, captures, records


def test_export_through_tshark(tmp_path: Path, captured: tuple[Analysis, list[tuple[str, str]],
                                                              list[PacketRecord]]) -> None:
    analysis, captures, _ = captured
    out = tmp_path / "view.pcapng"
    with out.open("wb") as f:
        export(analysis, open_inputs(captures).records(), f)
    rows = tshark_fields(out, "frame.interface_name", "frame.time_epoch", "tcp.flags.str",
                         "ip.dst", "frame.comment")
    # merged by timestamp: client SYN, compute SYN, compute SYN-ACK, client RST
    assert [r[0] for r in rows] == ["client", "compute-node/eth0", "compute-node/eth1", "client"]
    assert [r[1].replace(".", "") for r in rows] == [
        str(T0), str(T0 + 480_000), str(T0 + 590_000), str(T0 + 900_000)]
    assert [r[3] for r in rows] == ["203.0.113.10", "198.18.0.5", "198.51.100.10",
                                    "198.51.100.10"]
    comments = [r[4] for r in rows]
    assert all(c.startswith("nettrail: ") for c in comments)
    assert "packet #7 sighting 1/2 (client > compute-node)" in comments[0]
    assert "packet #7 sighting 2/2" in comments[1]
    assert "DNAT dst 203.0.113.10:80 → 198.18.0.5:80" in comments[1]
    assert "bytes synthesized from text headers" in comments[1]
    assert "not matched at another point" in comments[2]
    assert "finding: rst-from-router-namespace" in comments[3]
    assert "synthesized" not in comments[0] + comments[3]


def test_export_round_trip_through_our_reader(
    tmp_path: Path, captured: tuple[Analysis, list[tuple[str, str]], list[PacketRecord]]
) -> None:
    analysis, captures, records = captured
    out = tmp_path / "view.pcapng"
    with out.open("wb") as f:
        export(analysis, open_inputs(captures).records(), f)
    capture = open_capture(str(out), "view")
    back = list(capture)
    assert capture.stats.error is None
    assert sorted(capture.stats.interfaces.values()) == ["client", "compute-node/eth0",
                                                         "compute-node/eth1"]
    by_time = sorted(records, key=lambda r: r.ts_ns)
    assert [r.ts_ns for r in back] == [r.ts_ns for r in by_time]
    assert back[0].data == by_time[0].data and back[3].data == by_time[3].data  # original bytes
    assert sum(1 for r in back if r.comment) == 4
    syn = back[1].tcp
    assert syn is not None and (syn.seq, syn.flags, syn.options.mss) == (1000, SYN, 1460)
    assert flags_of(Hop("p", None, 0, "f", 1, "x > y: Flags [S.], seq 1")) == "S."


def test_export_bad_capture_is_one_capture_error(
    tmp_path: Path, captured: tuple[Analysis, list[tuple[str, str]], list[PacketRecord]]
) -> None:
    analysis, captures, _ = captured
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(Path(captures[0][1]).read_bytes()[:-5])  # cut inside the last packet
    out = tmp_path / "view.pcapng"
    with out.open("wb") as f, pytest.raises(CaptureError) as err:
        export(analysis, open_inputs([("client", str(bad))]).records(), f)
    assert str(bad) in str(err.value)
    assert len(tshark_fields(out, "frame.comment")) == 1  # the good packet before the fault


def test_the_clock_comment_says_what_measured_each_clock() -> None:
    from nettrail.report.pcapng import _clock_comment

    analysis = Analysis((), (), (), clock=(
        ClockOffset("compute", "client", -25_000_000.0, 100_000.0, 0, source="probes"),
        ClockOffset("ns", "client", 0.0, 0.0, 3, source="host"),
        ClockOffset("vm", "client", 0.0, 200_000.0, 4)))
    text = _clock_comment(analysis)
    assert text is not None
    assert "compute clock -25.000 ms vs client (±0.100 ms, 0 samples, by SSH clock probes)" in text
    assert "ns clock +0.000 ms vs client (±0.000 ms, 3 samples, the reference's host)" in text
    assert "vm clock +0.000 ms vs client (±0.200 ms, 4 samples)" in text
