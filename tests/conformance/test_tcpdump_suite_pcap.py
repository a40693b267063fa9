"""tcpdump's own test suite, pcap half: our pcap/pcapng reader agrees with tshark per packet.

For every distinct pcap of the suite that holds TCP (tshark's reading, see ``truth``), every TCP
packet tshark decodes is a TCP record of ours with the same frame number, time, innermost
addresses and ports, flags (AE included), raw seq and ack and payload length; and no frame is
TCP for us and not for tshark. Both readings are held to it: the records the readers stream
and the packet table ``analyze`` reads (its column decoder and the general one). ``nettrail
analyze`` on each such pcap exits 0 or 1, or 2 with one line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from truth import SUITE_DIR, TruthRow, require_suite, suite_tests, truth_for

from conftest import require_tool
from nettrail.capture import detect_format, open_capture
from nettrail.capture.base import CaptureStats
from nettrail.capture.table_pcap import read_pcap_table
from nettrail.capture.table_pcapng import read_pcapng_table
from nettrail.errors import CaptureError
from nettrail.model.packet import PacketRecord
from nettrail.model.table import PacketTable

# Pcaps whose packet times tshark and a faithful reader cannot agree on, and why: there the
# records must say their time is unusable (time_ok False) and every other field must agree.
NO_TIME: dict[str, str] = {
    "timestamp_invalid_micro.pcap": "microsecond fractions of 1000000 and 2147483648: no time "
    "at all (tcpdump prints '(invalid us)'; tshark prints a time of its own making)",
    "timestamp_invalid_nano.pcap": "nanosecond fractions of 1000000000 and more: no time at "
    "all (tcpdump prints '(invalid ns)'; tshark prints one before 1970)",
}


def tcp_pcaps() -> dict[Path, list[TruthRow]]:
    """The suite's distinct pcaps that hold TCP, with tshark's rows."""
    require_suite()
    pcaps = sorted({SUITE_DIR / t.pcap for t in suite_tests()})
    return {p: rows for p, rows in truth_for(pcaps).items() if rows}


def read_records(path: Path) -> tuple[dict[int, PacketRecord], str | None]:
    """Our records of ``path`` by frame number, and the fault that ended reading, if any."""
    capture = open_capture(str(path), "suite")
    records: dict[int, PacketRecord] = {}
    try:
        for rec in capture:
            records[rec.frame] = rec
    except CaptureError as exc:
        return records, str(exc)
    return records, None


def read_table(path: Path) -> tuple[dict[int, PacketRecord], str | None]:
    """The records of the packet table of ``path`` (what ``analyze`` reads) by frame number,
    and the fault that ended reading, if any."""
    table = PacketTable("suite")
    reader = read_pcapng_table if detect_format(str(path)) == "pcapng" else read_pcap_table
    fault = None
    try:
        reader(str(path), table, CaptureStats(str(path), "suite"))
    except CaptureError as exc:
        fault = str(exc)
    return {rec.frame: rec for rec in table.records()}, fault


def disagreements(path: Path, truth: list[TruthRow], table: bool = False) -> list[str]:
    """Every packet of ``path`` where our reading (the packet table's with ``table``, else
    the records') and tshark's differ, one line each."""
    records, fault = read_table(path) if table else read_records(path)
    out = []
    wanted = {row.frame for row in truth}
    for row in truth:
        rec = records.get(row.frame)
        tcp = rec.tcp if rec is not None else None
        ip = rec.ip if rec is not None else None
        if rec is None or tcp is None or ip is None:
            out.append(f"{path.name}#{row.frame}: not a TCP record ({fault or 'decoded'})")
            continue
        time = rec.ts_ns
        if not rec.time_ok and path.name in NO_TIME:
            time = row.time_ns
        elif not rec.time_ok:
            out.append(f"{path.name}#{row.frame}: time called unusable")
        ours = TruthRow(row.frame, time, ip.src, ip.dst, tcp.sport, tcp.dport, tcp.flags,
                        tcp.seq if row.seq is not None else None,
                        tcp.ack if row.ack is not None else None,
                        tcp.payload_len if row.plen is not None else None)
        if ours != row:
            out.append(f"{path.name}#{row.frame}: ours {ours} tshark {row}")
    for frame, rec in sorted(records.items()):
        if frame not in wanted and rec.tcp is not None:
            out.append(f"{path.name}#{frame}: TCP for us, not for tshark")
    return out


def test_pcap_reader_agrees_with_tshark() -> None:
    """Every TCP packet of every TCP-bearing pcap of the suite reads as tshark reads it."""
    pcaps = tcp_pcaps()
    assert len(pcaps) >= 100, "tcpdump's suite holds more than 100 TCP-bearing pcaps"
    failures = []
    for path, truth in pcaps.items():
        failures.extend(disagreements(path, truth))
    assert not failures, f"{len(failures)} packets disagree:\n" + "\n".join(failures[:40])


def test_packet_table_agrees_with_tshark() -> None:
    """The same for the packet table ``analyze`` reads: every TCP packet of every TCP-bearing
    pcap of the suite is a row read as tshark reads it (payload length included)."""
    pcaps = tcp_pcaps()
    assert sum(row.plen is not None for rows in pcaps.values() for row in rows) >= 1500
    failures = []
    for path, truth in pcaps.items():
        failures.extend(disagreements(path, truth, table=True))
    assert not failures, f"{len(failures)} packets disagree:\n" + "\n".join(failures[:40])


def test_every_suite_capture_reads_or_stops_with_one_line() -> None:
    """Each of the suite's captures (with TCP or not) reads, or stops at a one-line fault."""
    with_tcp = tcp_pcaps()
    faults = {}
    for path in sorted({SUITE_DIR / t.pcap for t in suite_tests()}):
        _records, fault = read_records(path)  # anything but a CaptureError fails the test
        if fault is not None:
            faults[path] = fault
    # Today every fault is a link type we do not decode (802.11, Frame Relay, SLIP...), and
    # none of those files holds TCP for tshark.
    assert all("\n" not in f and "unsupported link type" in f for f in faults.values())
    assert not set(faults) & set(with_tcp)


def test_analyze_never_crashes_on_suite_pcaps() -> None:
    """``nettrail analyze`` on every TCP-bearing pcap: exit 0/1, or 2 with one line."""
    paths = [str(p) for p in tcp_pcaps()]
    script = (
        "import sys, io, contextlib\n"
        "from nettrail.cli.main import main\n"
        "for p in sys.argv[1:]:\n"
        "    out, err = io.StringIO(), io.StringIO()\n"
        "    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
        "        try:\n"
        "            code = main(['analyze', p])\n"
        "        except SystemExit as exc:\n"
        "            code = exc.code\n"
        "    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]\n"
        "    print(p, code, len(lines), lines[-1] if lines else '', sep='\\t')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True,
                          text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bad = []
    for line in proc.stdout.splitlines():
        path, code, nlines, last = line.split("\t")
        if code not in ("0", "1", "2", "None") or (code == "2" and nlines != "1"):
            bad.append(f"{Path(path).name}: exit {code}, {nlines} stderr lines: {last}")
    assert len(proc.stdout.splitlines()) == len(paths)
    assert not bad, "\n".join(bad)


if __name__ == "__main__":  # a report of every disagreement, for working on the readers
    for p, rows in tcp_pcaps().items():
        for line in disagreements(p, rows) + disagreements(p, rows, table=True):
            print(line)



def _tcpdump_link_type(path: Path) -> str:
    """What tcpdump names the link type of ``path``: ``FRELAY (Frame Relay)``, or ``149``."""
    err = subprocess.run(["tcpdump", "-r", str(path), "-c", "1"], capture_output=True,
                         text=True, check=False).stderr
    found = re.search(r"link-type (.*), snapshot length", err)
    assert found is not None, err
    return found.group(1)


def test_an_unread_link_type_is_named_as_tcpdump_names_it() -> None:
    """Every capture of the suite whose link type nettrail does not read is refused with the
    name and description tcpdump (libpcap) gives that link type, or its number where tcpdump
    has none to give."""
    require_suite()
    require_tool("tcpdump")
    named = 0
    for path in sorted({SUITE_DIR / t.pcap for t in suite_tests()}):
        _records, fault = read_records(path)
        if fault is None or "unsupported link type" not in fault:
            continue
        name, _, words = _tcpdump_link_type(path).partition(" ")  # no words: a number
        want = f"unsupported link type {name}" if not words else f"({name}: {words[1:-1]})"
        assert want in fault, (path.name, words, fault)
        named += bool(words)
    assert named >= 20, named
