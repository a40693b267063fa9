"""tcpdump's suite texts with a line number before each line, as ``cat -n`` and ``nl`` print
them (``%6d`` and a tab; ``nl`` leaves empty lines unnumbered): every packet reads as it does
from the text without them, into records and into a table, and one warning says so.

Some suite texts carry tcpdump ``-#``'s own packet numbers as well (whois.out): both columns
go. Measured over all 807 suite ``.out`` texts when this was written: none read differently.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from truth import SUITE_DIR

from nettrail.model.packet import PacketRecord
from textread import read_into_table, read_records

TEXTS = ["whois.out", "whois-v.out", "mptcp-fclose.out", "dns_tcp-vv.out", "ssh.out",
         "of10_pf5240-vv.out", "tcp_rst_diag_payload-v.out", "print-A.out", "print-xx.out",
         "geneve-vni.out", "ldp-common-session.out", "icmp-cksum-oobr-1.out"]


def _key(records: list[PacketRecord]) -> list[tuple[object, ...]]:
    return [(r.frame, r.ts_ns, r.headers, r.inner, r.wire_len) for r in records]


def numbered(lines: list[str], blank: str) -> str:
    """``lines`` numbered as ``cat -n`` does, with ``blank`` for an empty line (``nl``'s
    seven spaces, or numbered)."""
    out = []
    for n, line in enumerate(lines, 1):
        out.append(blank if not line and blank else f"{n:6d}\t{line}")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("name", TEXTS)
@pytest.mark.parametrize("blank", ["", "       "], ids=["cat-n", "nl"])
def test_line_numbers_change_no_packet(name: str, blank: str, tmp_path: Path) -> None:
    path = SUITE_DIR / name
    if not path.is_file():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    lines = path.read_text(encoding="utf-8", errors="surrogateescape").split("\n")
    if lines[-1:] == [""]:
        lines.pop()
    out = tmp_path / f"n-{name}"
    out.write_text(numbered(lines, blank), encoding="utf-8", errors="surrogateescape")
    want, want_stats, want_error = read_records(str(path))
    got, stats, error = read_records(str(out))
    assert want, f"{name}: no packet read from the text itself"
    assert _key(got) == _key(want)
    assert bool(error) == bool(want_error)
    assert stats.skipped == want_stats.skipped
    said = [w for w in stats.warnings if "line numbers" in w]
    assert len(said) == 1 and said[0].endswith("(cat -n, nl) removed"), stats.warnings
    _table, (from_table, _, _) = read_into_table(str(out))
    assert _key(from_table) == _key(want)
