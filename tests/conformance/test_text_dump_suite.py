"""tcpdump's own ``-A`` and ``-AA`` texts: the packets' bytes after each line are skipped as
the packet's (``text_dump``), and every packet reads as its ``-x`` text of the same capture
gives it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_tcpdump_text_wrapped import KINDS, changed
from truth import SUITE_DIR

from capkit import dump_hazards, pcap
from conftest import require_tool
from nettrail.model.packet import PacketRecord
from textread import read_records


def _packets(records: list[PacketRecord]) -> list[tuple[object, ...]]:
    return [(r.ts_ns, r.headers, r.inner, r.wire_len) for r in records]


@pytest.mark.parametrize("name", ["print-A.out", "print-AA.out"])
def test_suite_ascii_dumps_read_as_its_hex_dump(name: str) -> None:
    """``print-flags.pcap``: HTTP over loopback, its request and reply in the bytes."""
    path, hexed = SUITE_DIR / name, SUITE_DIR / "print-x.out"
    if not path.is_file():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    want, want_stats, _ = read_records(str(hexed))
    got, stats, _ = read_records(str(path))
    assert len(want) == 10
    assert _packets(got) == _packets(want)
    assert not stats.skipped and not want_stats.skipped, stats.warnings


@pytest.mark.parametrize("flags", ["-A", "-AA"])
def test_wrapped_dumps_change_no_tcp_packet(flags: str, tmp_path: Path) -> None:
    """The ``-A`` text of IPv4 and IPv6 connections whose payloads look like lines
    (``capkit.dump_hazards``), wrapped as a terminal or a mail wraps it: every TCP packet
    reads as unwrapped, or a line of it is named. The rest of a wrapped line that starts as a
    packet's bytes could (``ack 1, win 502``: ``a`` is an IPv6 header's first byte, once the
    text is known to be ``-A`` text) is not taken for them."""
    require_tool("tcpdump")
    cap = tmp_path / "hazards.pcap"
    cap.write_bytes(pcap((1_700_000_000_000_000_000 + n * 1000, frame)
                         for n, frame in enumerate(dump_hazards())))
    text = tmp_path / f"hazards{flags}.txt"
    text.write_bytes(subprocess.run(["tcpdump", "-n", flags, "-r", str(cap)],
                                    capture_output=True, check=True).stdout)
    failures = {(width, kind): p for width in (60, 72, 80) for kind in [*KINDS, "columns"]
                if (p := changed(text, tmp_path, width, kind))}
    assert not failures, "\n".join(f"wrapped at {w} ({k}): {len(p)}, e.g. {p[0]}"
                                   for (w, k), p in failures.items())


@pytest.mark.parametrize("name", ["whois-v.out", "ipv4_tcp_http_xml.out",
                                  "ipv4_tcp_http_xml_tso.out"])
def test_suite_verbose_decodes_with_empty_lines_read_whole(name: str) -> None:
    """tcpdump -v's decodes of a whois reply and an HTTP message: an empty line of them is a
    tab alone, and the lines after it are still the packet's, not unreadable ones."""
    path = SUITE_DIR / name
    if not path.is_file():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    records, stats, error = read_records(str(path))
    assert records and not error
    assert not stats.skipped, stats.warnings
