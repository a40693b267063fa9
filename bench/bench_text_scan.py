"""Cutting tcpdump text into fields: Python's regular expressions, the compiled scanner and
polars' (Rust's) expressions.

    python bench/bench_text_scan.py FILE.txt...

The first step of the text reader, and its largest (about a fifth of a read of many short
connections): cutting each line of the common form into its 13 fields. Times, best of 5, the
collector paused (as the reader pauses it), on one thread (``POLARS_MAX_THREADS=1``; run it
under ``taskset -c 0``), CPU time:

- ``re``: the reader's own pattern (``text_fast._LINE``), ``findall`` a block of 4 MiB at a
  time, as the reader does: a tuple of the fields per line;
- ``re+columns``: the same, then the fields turned into columns (``zip(*rows)``), what the
  block reader does next;
- ``compiled``: the reader's compiled scanner (``capture/_scan.c``, ``make scan``), the same
  rows as ``re`` (the tests hold them equal), a block at a time;
- ``compiled+columns``: the same, then ``zip(*rows)``;
- ``polars``: the lines read into a string column (``read_csv`` with a separator no line
  holds), then ``str.extract_groups`` with the same fields (Rust's pattern syntax: no
  possessive repeats, which its engine does not need): one column per field.

Prints seconds and lines per second of each, and the lines each found of the common form.
polars is not a dependency: install it into the environment that runs this (``pip install
polars``); without it only the first two are timed.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable

os.environ.setdefault("POLARS_MAX_THREADS", "1")

from nettrail.capture.scanner import COMPILED
from nettrail.capture.text_fast import _LINE, STAMP

BLOCK = 4 << 20
RUST_LINE = (
    r"^(?:(\d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\d{10})\.(\d{6}) "
    r"(?:([!-=?-~]{1,20} +(?:In|Out|M|P|B|U|\?)) +)?(IP6? [!-~]+ > [!-~]+): "
    r"(?:Flags \[([SFRPU.EWe]+)\](?:, seq (\d{1,10})(?::\d{1,10})?)?(?:, ack (\d{1,10}))?"
    r"(?:, win (\d{1,10}))?(?:, options \[(?:nop,nop,TS val (\d{1,10}) ecr (\d{1,10})"
    r"|([^\]]*))\])?, length (\d{1,10})(?:: [^<]*[^<=])?|(\d[^<]*[^<=]|UDP, length \d+)))$"
)
"""``_LINE``'s fields for Rust's engine (its 13 groups, the line of another form unmatched)."""


def _blocks(data: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(data):
        cut = data.rfind(b"\n", at, at + BLOCK) + 1 or len(data)
        out.append(data[at:cut])
        at = cut
    return out


def with_re(data: bytes) -> int:
    return sum(sum(1 for row in _LINE.findall(b) if row[STAMP]) for b in _blocks(data))


def with_re_columns(data: bytes) -> int:
    n = 0
    for b in _blocks(data):
        columns = list(zip(*_LINE.findall(b), strict=True))
        n += len(columns[STAMP]) - columns[STAMP].count(b"")
    return n


def with_compiled(data: bytes) -> int:
    assert COMPILED is not None
    return sum(sum(1 for row in COMPILED.scan(b) if row[STAMP]) for b in _blocks(data))


def with_compiled_columns(data: bytes) -> int:
    assert COMPILED is not None
    n = 0
    for b in _blocks(data):
        columns = list(zip(*COMPILED.scan(b), strict=True))
        n += len(columns[STAMP]) - columns[STAMP].count(b"")
    return n


def with_polars(data: bytes) -> int:
    import polars as pl

    lines = pl.read_csv(data, has_header=False, separator="\x01", quote_char=None,
                        new_columns=["line"], schema={"line": pl.String})
    fields = lines.select(pl.col("line").str.extract_groups(RUST_LINE)).unnest("line")
    return len(fields) - fields[fields.columns[0]].null_count()


def best(fn: Callable[[bytes], int], data: bytes) -> tuple[float, int]:
    """Best of 5, the collector paused as the reader pauses it."""
    times, found = [], 0
    gc.disable()
    try:
        for _ in range(5):
            start = time.process_time()
            found = fn(data)
            times.append(time.process_time() - start)
    finally:
        gc.enable()
    return min(times), found


def main() -> None:
    methods: list[tuple[str, Callable[[bytes], int]]] = [
        ("re", with_re), ("re+columns", with_re_columns)]
    if COMPILED is not None:
        methods += [("compiled", with_compiled), ("compiled+columns", with_compiled_columns)]
    else:
        print("the compiled scanner is not built (make scan): not timed")
    try:
        start = time.process_time()
        import polars  # noqa: F401
        print(f"import polars: {time.process_time() - start:.2f} s")
        methods.append(("polars", with_polars))
    except ImportError:
        print("polars is not installed: only re is timed")
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            data = f.read()
        lines = data.count(b"\n")
        for name, fn in methods:
            seconds, found = best(fn, data)
            print(f"{os.path.basename(path)} {name}: {seconds:.3f} s, "
                  f"{lines / seconds:,.0f} lines/s, {found} of {lines} lines of the common form")


if __name__ == "__main__":
    main()
