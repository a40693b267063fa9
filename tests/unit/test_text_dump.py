"""The packets' bytes tcpdump prints after each packet line (``-A``, ``-AA``, ``-x``, ``-X``):
skipped as the packet's, never read as lines of their own.

The texts are the real tcpdump's, of a capture built here whose payloads hold what looks like
other lines: a line ending in ``=`` right before the next packet's (a quoted-printable soft
break: the next packet was joined to it and lost), HTML (``<br>`` split a line), a line that
starts like a packet (``GET / HTTP/1.1``), tab-indented and empty lines, and a packet of over
8,192 bytes (what GRO hands tcpdump). Every form reads the packets the plain text gives, with
no line counted as unreadable. tcpdump's own suite (``print-A.out``, ``print-AA.out``, the same
capture as ``print-x.out``) is read the same way.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from capkit import BIG, MAC, dump_hazards, pcap, sll
from nettrail.model.packet import PacketRecord
from textread import read_into_table, read_records


def _texts(tmp: Path, frames: list[bytes], linktype: int = 1) -> dict[str, Path]:
    if shutil.which("tcpdump") is None:
        pytest.skip("needs tcpdump (the texts are the real tcpdump's)")
    cap = tmp / "payloads.pcap"
    cap.write_bytes(pcap(((1_700_000_000_000_000_000 + n * 1000, f) for n, f in
                          enumerate(frames)), linktype))
    out = {}
    for flags in ("", "-A", "-AA", "-x", "-X", "-XX", "-v", "-v -A"):
        done = subprocess.run(["tcpdump", "-n", *flags.split(), "-r", str(cap)],
                              capture_output=True, check=True)
        out[flags] = path = tmp / f"text{flags.replace(' ', '')}.txt"
        path.write_bytes(done.stdout)
    return out


def _packets(records: list[PacketRecord]) -> list[tuple[object, ...]]:
    return [(r.ts_ns, r.headers, r.inner, r.wire_len) for r in records]


@pytest.mark.parametrize("flags", ["-A", "-AA", "-x", "-X", "-XX"])
@pytest.mark.parametrize("link", ["ethernet", "cooked"])
def test_bytes_after_each_line_read_as_the_plain_text(flags: str, link: str,
                                                      tmp_path: Path) -> None:
    frames = dump_hazards()
    if link == "cooked":  # -i any: a Linux cooked header, 16 bytes, before -AA's IP header
        frames = [sll(f[14:], int.from_bytes(f[12:14], "big"), addr=MAC) for f in frames]
    texts = _texts(tmp_path, frames, 1 if link == "ethernet" else 113)
    if flags in ("-A", "-AA"):
        assert b"\nkey=\n" in texts[flags].read_bytes()  # the hazard is in the text
    want, want_stats, _ = read_records(str(texts[""]))
    assert len(want) == 18 and not want_stats.skipped  # every packet of the capture
    got, stats, error = read_records(str(texts[flags]))
    assert not error
    assert _packets(got) == _packets(want)
    assert stats.skipped == want_stats.skipped, stats.warnings
    said = [w for w in stats.warnings if "bytes as tcpdump -A prints them" in w]
    assert len(said) == (1 if "A" in flags else 0)
    assert not [w for w in stats.warnings if "removed" in w or "joined" in w]
    _table, (from_table, table_stats, _) = read_into_table(str(texts[flags]))
    assert _packets(from_table) == _packets(want) and table_stats.skipped == stats.skipped


def test_crlf_ends_and_a_large_first_packet(tmp_path: Path) -> None:
    """``-A`` text saved with CRLF line ends reads the same. A packet of over 8,192 bytes
    first in the file, before any dump vouched for the file, leaves its bytes unread and named
    as such (as before ``text_dump``: unreadable lines, or the rest of a wrapped line), but no
    packet changes or goes, and the dumps after it are found."""
    frames = dump_hazards()
    texts = _texts(tmp_path, frames)
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(texts["-A"].read_bytes().replace(b"\n", b"\r\n"))
    want, _, _ = read_records(str(texts[""]))
    got, stats, _ = read_records(str(crlf))
    assert _packets(got) == _packets(want) and not stats.skipped
    big_first = _texts(tmp_path, [max(frames, key=len), *frames])
    want, _, _ = read_records(str(big_first[""]))
    got, stats, _ = read_records(str(big_first["-A"]))
    assert _packets(got) == _packets(want)
    lines = range(2, BIG.count(b"\n") + 3)  # the large packet's lines after its own
    named = [w for w in stats.warnings if int(w.split(" line ")[1].split(":")[0]) in lines]
    assert named, stats.warnings  # read as before text_dump: not silently
    assert [w for w in stats.warnings if "bytes as tcpdump -A prints them" in w]


def test_verbose_decodes_read_whole(tmp_path: Path) -> None:
    """``tcpdump -v`` prints an HTTP message after its packet's lines, a tab before each of
    its lines; an empty one is a tab alone. It ended the packet there, and every line of the
    message after it was counted as unreadable (tcpdump's own ``whois-v.out`` and
    ``ipv4_tcp_http_xml.out`` too). With ``-A`` as well, the bytes come after the message."""
    texts = _texts(tmp_path, dump_hazards())
    assert b"\n\t\n" in texts["-v"].read_bytes()
    want, want_stats, _ = read_records(str(texts["-v"]))
    assert len(want) == 18 and not want_stats.skipped, want_stats.warnings
    got, stats, _ = read_records(str(texts["-v -A"]))
    assert _packets(got) == _packets(want) and not stats.skipped, stats.warnings
