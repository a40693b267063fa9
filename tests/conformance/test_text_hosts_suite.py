"""Every text of tcpdump's own test suite as one host's lines of a pdsh text (``h1: ...``), as
two hosts' lines interleaved a line at a time (each text with the next one; as pdsh prints them
and as ``kubectl logs --prefix`` does, ``[pod/a/tcpdump] ...``), and as the second
host's block of what ansible and pssh -i print (the next text the first's, what tcpdump said
after each: glued to its last line by ansible, after ``Stderr:`` by pssh): each host reads as
its own file does, into records and into a table: the same packets, numbered as in the joined
file, the same lines unread and the same warnings (``capture.text_hosts``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from itertools import zip_longest
from pathlib import Path

import pytest
from truth import SUITE_DIR

from nettrail.capture.base import CaptureStats
from nettrail.capture.tcpdump_text import read_text, read_text_table
from nettrail.capture.text_hosts import HostLines, text_hosts
from nettrail.errors import CaptureError
from nettrail.model.packet import PacketRecord
from nettrail.model.table import PacketTable

OUTS = sorted(p for p in SUITE_DIR.glob("*.out") if p.read_bytes().strip())


def _read(path: str, lines_of: HostLines | None, table: bool
          ) -> tuple[list[PacketRecord], CaptureStats, str]:
    stats = CaptureStats(path=path, point="p")
    records: list[PacketRecord] = []
    error = ""
    try:
        if table:
            got = PacketTable("p")
            try:
                read_text_table(path, "p", stats, got, lines_of=lines_of)
            finally:
                records = list(got.records())
        else:
            records.extend(read_text(path, "p", stats, lines_of=lines_of))
    except CaptureError as exc:
        error = exc.reason.removesuffix(f" (the lines of {lines_of.host})" if lines_of else "")
    return records, replace(stats, error=None, path=""), error


def _as_own(outcome: tuple[list[PacketRecord], CaptureStats, str], path: str, own: str,
            line: dict[int, int]) -> tuple[list[PacketRecord], list[object], str]:
    """An outcome read from the joined file ``path`` as its host's own file ``own`` gives it
    (``line``: the joined file's line numbers to the own file's)."""
    records, stats, error = outcome

    def renumber(text: str) -> str:  # "FILE line N", "FILE:N", "the rest of line N"
        text = re.sub(r"\bline (\d+)", lambda m: f"line {line[int(m.group(1))]}", text)
        return re.sub(re.escape(path) + r":(\d+)", lambda m: f"{own}:{line[int(m.group(1))]}",
                      text).replace(path, own)

    return ([r._replace(file=own, frame=line[r.frame]) for r in records],
            [stats.packets, dict(stats.skipped), [renumber(w) for w in stats.warnings],
             stats.dropped], renumber(error))


def _own(outcome: tuple[list[PacketRecord], CaptureStats, str]
         ) -> tuple[list[PacketRecord], list[object], str]:
    records, stats, error = outcome
    return records, [stats.packets, dict(stats.skipped), list(stats.warnings),
                     stats.dropped], error


def _suite() -> list[Path]:
    if not OUTS:
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    return OUTS


@pytest.mark.parametrize("table", [False, True], ids=["records", "table"])
def test_every_suite_text_as_one_hosts_lines(table: bool, tmp_path: Path) -> None:
    failed = []
    for out in _suite():
        joined = tmp_path / "pdsh.txt"
        joined.write_bytes(b"".join(b"h1: " + line
                                    for line in out.read_bytes().splitlines(keepends=True)))
        found = text_hosts(str(joined))
        if found is None or found.hosts != ["h1"]:
            failed.append((out.name, "not found as one host's lines"))
            continue
        lines = {n: n for n in range(1, out.read_bytes().count(b"\n") + 2)}
        got = _as_own(_read(str(joined), HostLines("h1", found, bare=True), table),
                      str(joined), str(out), lines)
        if got != _own(_read(str(out), None, table)):
            failed.append((out.name, "read otherwise"))
    assert not failed, f"{len(failed)} of {len(OUTS)}: {failed[:10]}"


@pytest.mark.parametrize(("table", "prefix"), [(False, "{}: "), (True, "{}: "),
                                               (True, "[pod/{}/tcpdump] ")],
                         ids=["records-pdsh", "table-pdsh", "table-kubectl"])
def test_every_suite_text_beside_the_next_one(table: bool, prefix: str, tmp_path: Path) -> None:
    """(kubectl's prefix read into a table only: which lines are a host's does not depend on
    the reader, and both readers read pdsh's.)"""
    outs = _suite()
    failed = []
    for a, b in zip(outs, outs[1:] + outs[:1], strict=True):
        joined = tmp_path / "pdsh.txt"
        where: dict[str, dict[int, int]] = {"a": {}, "b": {}}
        parts = []
        for line_a, line_b in zip_longest(a.read_bytes().splitlines(keepends=True),
                                          b.read_bytes().splitlines(keepends=True)):
            for host, line in (("a", line_a), ("b", line_b)):
                if line is not None:
                    parts.append(prefix.format(host).encode() + line.rstrip(b"\r\n") + b"\n")
                    where[host][len(parts)] = len(where[host]) + 1
        joined.write_bytes(b"".join(parts))
        found = text_hosts(str(joined))
        if found is None or sorted(found.hosts) != ["a", "b"]:
            failed.append((a.name, b.name, "not found as two hosts' lines"))
            continue
        for host, own in (("a", a), ("b", b)):
            lines_of = HostLines(host, found, bare=host == found.hosts[0])
            got = _as_own(_read(str(joined), lines_of, table), str(joined), str(own),
                          where[host])
            if got != _own(_read(str(own), None, table)):
                failed.append((a.name, b.name, host))
    assert not failed, f"{len(failed)} of {len(outs)} pairs: {failed[:10]}"


_SAID = b"reading from file %s.pcap, link-type EN10MB (Ethernet), snapshot length 262144\n"
"""What tcpdump says on its standard error reading a capture (the host's name for its file)."""


def _ansible(host: str, out: bytes) -> bytes:
    """What ansible's ad-hoc ``shell`` command prints of a host's ``tcpdump -r``: its output
    and what it said, each without its last line end, glued (``minimal`` callback)."""
    said = _SAID % host.encode()
    return (f"{host} | CHANGED | rc=0 >>\n".encode() + out.rstrip(b"\r\n")
            + said.rstrip(b"\n") + b"\n")


def _pssh(host: str, out: bytes) -> bytes:
    """What pssh -i prints of a host's ``tcpdump -r``: its output, then what it said."""
    said = _SAID % host.encode()
    return f"[1] 10:15:01 [SUCCESS] {host}\n".encode() + out + b"Stderr: " + said


@pytest.mark.parametrize("form", [_ansible, _pssh], ids=["ansible", "pssh"])
def test_every_suite_text_as_a_block_of_ansible_or_pssh(form: Callable[[str, bytes], bytes],
                                                        tmp_path: Path) -> None:
    """Read into a table (which lines are a host's does not depend on the reader)."""
    outs = [o for o in _suite() if o.read_bytes().endswith(b"\n")]
    assert len(outs) > 780
    failed = []
    for a, b in zip(outs[1:] + outs[:1], outs, strict=True):
        first = form("a", a.read_bytes())
        joined = tmp_path / "blocks.txt"
        joined.write_bytes(first + form("b", b.read_bytes()))
        found = text_hosts(str(joined))
        if found is None or found.hosts != ["a", "b"]:
            failed.append((b.name, "not found as two hosts' blocks"))
            continue
        own = tmp_path / "own.txt"  # its output, then what it said (``2>&1``)
        own.write_bytes(b.read_bytes() + _SAID % b"b")
        skip = first.count(b"\n") + 1  # the lines before b's: a's, and its head
        count = b.read_bytes().count(b"\n")
        lines = {skip + n: n for n in range(1, count + 1)}
        if form is _pssh:  # what tcpdump said: a line of its own (ansible's: on the last)
            lines[skip + count + 1] = count + 1
        got = _as_own(_read(str(joined), HostLines("b", found, bare=False), True),
                      str(joined), str(own), lines)
        if got != _own(_read(str(own), None, True)):
            failed.append((b.name, "read otherwise"))
    assert not failed, f"{len(failed)} of {len(outs)}: {failed[:10]}"
