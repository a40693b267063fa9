"""tcpdump's own test suite: the compiled scanner (``capture/_scan.c``) cuts every text into
the rows the pattern does, and the reader with it reads every text to the records, table and
analysis it reads without it. The suite's ``.out`` files print no times (no line of them is of
the common form), so this machine's tcpdump prints every suite capture too, with times, as
``-n`` and as ``-n -tt -e -v`` (lines the reader rewrites into the common form)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from truth import SUITE_DIR

from conftest import require_tool
from nettrail.analyze.table_flows import track_table
from nettrail.capture import text_block, text_fast
from nettrail.capture.scanner import COMPILED
from textread import read_into_table, read_records

FLAGS = [["-n"], ["-n", "-tt", "-e", "-v"]]
"""How tcpdump prints the captures. ``-e -v`` lines are not of the common form as printed: the
reader rewrites them into it (``text_link``), then cuts them with the scanner."""


def _captures() -> list[Path]:
    captures = sorted([*SUITE_DIR.glob("*.pcap"), *SUITE_DIR.glob("*.pcapng")])
    if not captures:
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    assert COMPILED is not None, "the scanner is not built: make scan"
    return captures


def test_scanner_cuts_every_output_as_the_pattern() -> None:
    _captures()
    assert COMPILED is not None
    outs = sorted(SUITE_DIR.glob("*.out"))
    differ = [out.name for out in outs
              if COMPILED.scan(data := out.read_bytes()) != text_fast._PATTERN.findall(data)]
    assert not differ, f"{len(differ)} outputs cut differently, e.g. {differ[:5]}"
    assert len(outs) > 700


@pytest.mark.parametrize("flags", FLAGS, ids=["".join(f) for f in FLAGS])
def test_printed_captures_read_the_same_with_the_scanner(
        tmp_path: Path, flags: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every suite capture printed with ``flags``: cut as the pattern cuts it, and read to the
    same records, table and analysis with the scanner and without it."""
    captures = _captures()
    tcpdump = require_tool("tcpdump")
    assert COMPILED is not None
    texts = []
    for capture in captures:
        text = tmp_path / f"{capture.name}.txt"
        with text.open("wb") as out:
            subprocess.run([tcpdump, *flags, "-r", str(capture)], stdout=out,
                           stderr=subprocess.DEVNULL, check=False)
        texts.append(str(text))
    common, cut_differ = 0, []
    for text in texts:
        data = Path(text).read_bytes()
        rows = text_fast._PATTERN.findall(data)
        common += sum(1 for row in rows if row[0])
        if COMPILED.scan(data) != rows:
            cut_differ.append(text)
    assert not cut_differ, f"{len(cut_differ)} texts cut differently, e.g. {cut_differ[:5]}"
    with_it = {text: (read_records(text), read_into_table(text)) for text in texts}
    monkeypatch.setattr(text_fast, "COMPILED", None)
    monkeypatch.setattr(text_block, "COMPILED", None)
    differ, packets = [], 0
    for text in texts:
        records = read_records(text)
        table, by_columns = read_into_table(text)
        records_c, (table_c, by_columns_c) = with_it[text]
        packets += len(records[0])
        if (records, by_columns) != (records_c, by_columns_c) \
                or track_table(table) != track_table(table_c):
            differ.append(Path(text).name)
    assert not differ, f"{len(differ)} texts read differently, e.g. {differ[:5]}"
    assert packets > 5_000
    assert common > 1_000 or "-e" in flags
