"""Capture files (pcap, pcapng, tcpdump text) to PacketRecords.

``open_capture(path, point)`` detects the format and returns a ``Capture``: iterate it once to
stream the records; ``capture.stats`` tells what was read, skipped and why reading stopped.
A fault in the file (truncated, garbage, unsupported) is a ``CaptureError`` naming the file and
byte offset (or line), stored in ``stats.error`` and raised after every good record before it
was yielded. No other exception type leaves a reader.
"""

from __future__ import annotations

import os
import re
import stat
import struct
from collections.abc import Collection, Iterator, Mapping, Sequence

from nettrail.capture.base import CaptureStats
from nettrail.capture.spool import descriptor
from nettrail.capture.text_hosts import HostLines, TextHosts, hosts_in
from nettrail.errors import CaptureError, InputError
from nettrail.model.packet import PacketRecord

__all__ = [
    "Capture",
    "CaptureStats",
    "captures_date_ns",
    "detect_format",
    "first_record",
    "holds_no_packet",
    "open_capture",
    "parse_point_arg",
    "parse_point_args",
    "sniff",
]

PCAP_MAGICS = frozenset(
    {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"}
)
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_POINT_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_COMPRESSED = {b"\x1f\x8b": ("gzip", "gunzip -k"), b"\xfd7zXZ\x00": ("xz", "unxz -k"),
               b"BZh": ("bzip2", "bunzip2 -k"), b"\x28\xb5\x2f\xfd": ("zstd", "unzstd"),
               b"\x04\x22\x4d\x18": ("lz4", "unlz4")}
"""The magic bytes of compressed files people are sent captures in, with what undoes each."""
_SNIFF = 4096


def detect_format(path: str) -> str:
    """``pcap``, ``pcapng`` or ``tcpdump-text`` by the file's magic bytes or content."""
    return _sniff(path, False)[0]


def sniff(path: str) -> tuple[str, TextHosts | None]:
    """``detect_format``'s format, and of a tcpdump text of several hosts' lines its hosts
    (``text_hosts``): the file opened once."""
    return _sniff(path, True)


def _sniff(path: str, hosts: bool) -> tuple[str, TextHosts | None]:
    try:
        if path == "-" and not os.path.exists(path):  # open_inputs saves it first (spool)
            raise CaptureError("standard input is read only as one of the inputs of a run",
                               path=path)
        mode = os.stat(path).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            raise CaptureError("a named pipe, not a file: nettrail reads each capture more than "
                               f"once; save it to a file first, or give it as standard input "
                               f"(- < {path})", path=path)
        with open(path, "rb") as f:
            head = f.read(_SNIFF)
            fmt = _format(path, head)
            return fmt, (hosts_in(f, head) if hosts and fmt == "tcpdump-text" else None)
    except OSError as exc:
        raise CaptureError(f"cannot read: {exc.strerror or exc}", path=path) from exc


def _format(path: str, head: bytes) -> str:
    """The format of a file that starts with ``head``."""
    if not head:
        raise CaptureError("empty file", path=path, offset=0)
    if len(head) < 4 and any(m.startswith(head) for m in (*PCAP_MAGICS, PCAPNG_MAGIC)):
        raise CaptureError(f"truncated file header ({len(head)} bytes)", path=path, offset=0)
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # what PowerShell's > writes
        raise CaptureError("UTF-16 text: convert it to UTF-8 first (iconv -f UTF-16 -t UTF-8)",
                           path=path, offset=0)
    order = utf16_order(head)
    if order:
        raise CaptureError(f"UTF-16{order} text without a byte-order mark: convert it to UTF-8 "
                           f"first (iconv -f UTF-16{order} -t UTF-8)", path=path, offset=0)
    for magic, (kind, tool) in _COMPRESSED.items():
        if head.startswith(magic):
            raise CaptureError(f"{kind}-compressed file: decompress it first ({tool} {path})",
                               path=path, offset=0)
    if _looks_like_text(head):
        return "tcpdump-text"
    raise CaptureError(f"not a pcap, pcapng or tcpdump text file (starts 0x{head[:4].hex()})",
                       path=path, offset=0)


_PACKET_BLOCKS = frozenset({2, 3, 6})
"""pcapng's blocks that hold a packet: obsolete, simple and enhanced packet blocks."""


def holds_no_packet(path: str) -> bool:
    """Whether ``path`` is a pcap or pcapng file of its headers alone, no packet in it (what
    ``tcpdump -G`` writes for an interval without traffic: such files of one host are the
    same bytes). Only small files are looked at; False when it cannot be told."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF + 1)
    except OSError:
        return False
    if head[:4] in PCAP_MAGICS:
        return len(head) == 24
    if head[:4] != PCAPNG_MAGIC or len(head) > _SNIFF or len(head) < 12:
        return False
    order = "<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    at = 0
    while at + 8 <= len(head):
        kind, size = struct.unpack_from(order + "II", head, at)
        if kind in _PACKET_BLOCKS or size < 12:
            return False
        at += size
    return at == len(head)


def utf16_order(head: bytes) -> str | None:
    """``LE`` or ``BE`` when ``head`` reads as UTF-16 text of that byte order without a
    byte-order mark (``iconv -t UTF-16LE`` of a tcpdump text), else None.

    It does when at least 19 of 20 of its 16-bit units are printable ASCII, tabs or line ends:
    one byte of every pair NUL, the other not, which neither UTF-8 text nor a binary capture
    shows.
    """
    size = len(head) // 2 * 2
    if size < 4 or head.count(0) * 4 < size:  # not one byte in two NUL, as ASCII would be
        return None
    for order, codec in (("LE", "utf-16-le"), ("BE", "utf-16-be")):
        text = head[:size].decode(codec, errors="replace")
        plain = sum(1 for ch in text if " " <= ch <= "~" or ch in "\t\r\n")
        if plain * 20 >= len(text) * 19:
            return order
    return None


def _looks_like_text(head: bytes) -> bool:
    """Mostly printable UTF-8; a NUL byte or invalid UTF-8 only after whole lines of text.

    Text that turns binary later (a NUL or invalid UTF-8 after some good lines) is still
    text: the text reader keeps the good lines and names the line where the binary data
    starts.
    """
    nul = head.find(b"\x00")
    if nul >= 0:
        head = head[: head.rfind(b"\n", 0, nul) + 1]
        if not head:
            return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end < len(head) or exc.reason != "unexpected end of data":
            good = head[: head.rfind(b"\n", 0, exc.start) + 1]
            head = good or head  # invalid in the first line: judged by the ratio below
    text = head.decode("utf-8", errors="replace")
    bad = sum(1 for ch in text if ch == "\ufffd" or (ch < " " and ch not in "\t\r\n\f"))
    return bad * 20 <= len(text)


def parse_point_arg(arg: str) -> tuple[str, str]:
    """``host1=a.pcap`` -> (``host1``, ``a.pcap``); ``dir/a.pcap`` -> (``a``, ``dir/a.pcap``).

    The left side is taken as a point name only when it is a plain name
    (``[A-Za-z0-9_.-]+``) and the whole argument is not itself an existing file.
    """
    name, path = _split_point_arg(arg)
    return name or default_point(path), path


def _split_point_arg(arg: str) -> tuple[str, str]:
    """(point, path) of ``arg`` as :func:`parse_point_arg` reads it, the point "" when the
    argument names none."""
    name, sep, path = arg.partition("=")
    if sep and _POINT_NAME.fullmatch(name) and not os.path.exists(arg):
        if not path:
            raise InputError(f"missing file after '=' in {arg!r}")
        return name, path
    if not arg:
        raise InputError("empty capture file argument")
    return "", arg


def parse_point_args(args: Sequence[str], taken: Collection[str] = ()) -> list[tuple[str, str]]:
    """(point, path) of each argument, as :func:`parse_point_arg` reads one; but files named
    by their stem that share it in different directories (``netnode/capture.pcap
    compute/capture.pcap``: one file name on every host) are points of their own, named by
    their directories (``netnode``, ``compute``), where one name would make them one point.
    Files of one stem in one directory (``cap.pcap``, ``cap.pcap1``: ``tcpdump -C``) stay
    one point. ``taken``: the names of points given otherwise, not to be reused."""
    pairs = [_split_point_arg(arg) for arg in args]
    named = set(taken) | {name for name, _path in pairs if name}
    dirs: dict[str, set[str]] = {}
    for name, path in pairs:
        if not name:
            dirs.setdefault(default_point(path), set()).add(_folder(path))
    named |= {stem for stem, folders in dirs.items() if len(folders) == 1}
    places: dict[tuple[str, str], str] = {}
    for stem, folders in dirs.items():
        if len(folders) > 1:
            names = _place_names(stem, folders, named)
            places.update(names)
            named |= set(names.values())  # the next stem's folders are told from these
    return [(name or places.get((default_point(path), _folder(path)), default_point(path)),
             path) for name, path in pairs]


def _folder(path: str) -> str:
    return os.path.dirname(os.path.realpath(path))


def _place_names(stem: str, folders: Collection[str], taken: Collection[str],
                 ) -> dict[tuple[str, str], str]:
    """A point name for each of ``folders`` holding files of ``stem``: the fewest last parts
    of the folder's path that tell it apart from the others (``netnode``; ``a-x`` for
    ``a/x`` beside ``b/x``), with the stem after it where that name is taken."""
    parts = {f: [p for p in f.split(os.sep) if p] for f in folders}
    for depth in range(1, max(len(p) for p in parts.values()) + 1):
        names = {f: "-".join(p[-depth:]) or stem for f, p in parts.items()}
        if len(set(names.values())) == len(names):
            break
    return {(stem, f): f"{n}-{stem}" if n in taken or n == stem else n
            for f, n in names.items()}


def default_point(path: str) -> str:
    """The point name of a file given without one: its name without the extension;
    ``stdin`` for standard input, ``fdN`` for another descriptor (``<(...)``)."""
    fd = descriptor(path)
    if fd is not None:
        return "stdin" if fd == 0 else f"fd{fd}"
    base = os.path.basename(path.rstrip("/")) or path
    stem, _ext = os.path.splitext(base)
    return stem or base


class Capture:
    """One capture file as a one-pass, streaming iterable of PacketRecords."""

    def __init__(
        self,
        path: str,
        point: str,
        fmt: str,
        ifnames: Mapping[int, str] | None = None,
        day_ns: int = 0,
        lines_of: HostLines | None = None,
    ) -> None:
        self.path = path
        self.point = point
        self.format = fmt
        self.ifnames = dict(ifnames or {})
        self.day_ns = day_ns
        self.lines_of = lines_of
        """In a text of several hosts' lines, the lines of the host that is this point."""
        self.known_dropped = 0
        """Packets its capture dropped by what was said beside the file (a run's manifest)."""
        self.stats = CaptureStats(path=path, point=point, format=fmt)

    def __iter__(self) -> Iterator[PacketRecord]:
        """Yield the good records; on a fault store it in ``stats.error`` and raise it.

        Each iteration reads the file again from the start and refills ``stats`` in place.
        """
        self.reset_stats()
        if self.format == "pcap":
            from nettrail.capture.pcap import read_pcap

            return read_pcap(self.path, self.point, self.stats, self.ifnames)
        if self.format == "pcapng":
            from nettrail.capture.pcapng import read_pcapng

            return read_pcapng(self.path, self.point, self.stats, self.ifnames)
        return self._text()

    def reset_stats(self) -> None:
        """Empty ``stats`` before a new pass over the file."""
        s = self.stats
        s.packets = 0
        s.interfaces.clear()
        s.skipped.clear()
        s.warnings.clear()
        s.error = None
        s.dropped = self.known_dropped

    def _text(self) -> Iterator[PacketRecord]:
        from nettrail.capture.tcpdump_text import read_text

        try:
            yield from read_text(self.path, self.point, self.stats, day_ns=self.day_ns,
                                 lines_of=self.lines_of)
        except CaptureError as exc:
            self.stats.error = exc
            raise

    def again(self) -> Capture:
        """A fresh capture of the same file and lines, read from the start with statistics of
        its own."""
        return Capture(self.path, self.point, self.format, self.ifnames, self.day_ns,
                       self.lines_of)

    def __repr__(self) -> str:
        return f"Capture({self.path!r}, point={self.point!r}, format={self.format!r})"


def open_capture(
    path: str,
    point: str | None = None,
    ifnames: Mapping[int, str] | None = None,
    day_ns: int = 0,
) -> Capture:
    """Open capture file ``path`` as capture point ``point`` (default: the file's stem).

    ``ifnames`` names interface indexes of Linux cooked v2 records (``tcpdump -i any``);
    unknown indexes are named ``if<N>``. ``day_ns`` is the date (midnight UTC, ns since the
    epoch) given to tcpdump text that prints only the time of day. Raises CaptureError when
    the file cannot be read or is of no known format.
    """
    fmt = detect_format(path)
    return Capture(path, point or default_point(path), fmt, ifnames, day_ns)


DAY_NS = 86_400 * 1_000_000_000


def first_date_ns(paths: Sequence[str]) -> int:
    """Midnight UTC (ns) of the first packet of the first binary capture among ``paths``,
    else of the first text capture that prints dates (``-tt``, ``-tttt``).

    Text captures that print only the time of day are dated with it, so that they line up
    with the other captures of the same incident; 0 (1970-01-01) when there is none.
    """
    captures = []
    for path in paths:
        try:
            captures.append(open_capture(path))
        except CaptureError:
            continue
    return captures_date_ns(captures)


def captures_date_ns(captures: Sequence[Capture]) -> int:
    """``first_date_ns`` of captures already opened (each read until its first record)."""
    for binary in (True, False):
        for capture in captures:
            if (capture.format == "tcpdump-text") == binary:
                continue
            record = first_record(capture)
            if record is not None and (binary or record.ts_ns >= 2 * DAY_NS):
                return record.ts_ns - record.ts_ns % DAY_NS  # (undated text: on day 0)
    return 0


def first_record(capture: Capture) -> PacketRecord | None:
    """The first record of an opened capture, read afresh (None: none can be read)."""
    try:
        for record in capture.again():
            return record
    except CaptureError:
        pass
    return None
