"""tshark's reading of tcpdump's own test suite: the truth a reader of pcap or text is held to.

``SUITE_DIR`` is ``shared/tcpdump-tests`` next to the repository (``../shared/tcpdump-tests``
from the repo root; from a git worktree nested deeper, the nearest ancestor that has it).
``suite_tests()`` lists the suite's tests from ``tests.tsv``; ``tcp_truth(pcap)`` is one
``TruthRow`` per TCP packet tshark decodes, cached on disk by the pcap's content hash and
tshark's version (in ``$XDG_CACHE_HOME/nettrail-conformance`` or
``~/.cache/nettrail-conformance``); ``truth_for(pcaps)`` fills that cache for many pcaps with
a small pool of tshark processes.

Choices, the same for every pcap:

- Tunnels: the packet is the first TCP layer in ``frame.protocols`` and the innermost IP layer
  before it (Geneve, GRE, MPLS, IP-in-IP: the encapsulated IP). tshark lists every occurrence of
  a field, outermost first (``ip.src`` = ``outer,inner``): we take the occurrence of that IP
  layer's family counted in ``frame.protocols``, and the first TCP occurrence (a TCP packet
  carried as data after it, e.g. in an OpenFlow packet-in, is payload, not the packet).
- A TCP header that is only a copy of another packet, quoted inside an ICMP or ICMPv6 error or
  sampled by sFlow, is not a TCP packet: such frames are left out (tcpdump prints them as ICMP
  or sFlow lines, a reader gives an ICMP or UDP record).
- ``flags`` is tshark's ``tcp.flags`` without its three reserved bits: the eight flags and AE
  (formerly NS) as 0x100; ``seq``/``ack`` are the raw numbers, ``None`` where tshark gives none
  (a header cut short by the snap length). A header cut short before its flags is no row.
- ``plen`` is ``tcp.len``, the TCP payload length: what the IP length leaves after the headers,
  or what the frame's length on the wire leaves where that is less (a datagram cut short
  before it was captured), not what the snap length left; ``None`` where tshark gives none.
- ``time_ns`` is ``frame.time_epoch`` in integer nanoseconds.
- A pcap tshark reads only in part (cut short) keeps the rows printed before the fault.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest

_REPO = Path(__file__).resolve().parents[2]
_CACHE_VERSION = "3"  # the cache holds tshark's fields; rows are made from them on load
FLAG_BITS = 0x1FF  # the eight flags and AE; the three reserved bits are no flags
_COPIES = frozenset({"icmp", "icmpv6", "sflow"})  # carry a copy of a packet, not a packet
_FIELDS = (
    "frame.number",
    "frame.time_epoch",
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "ip.dst",
    "ipv6.dst",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "frame.protocols",
    "tcp.len",
)


def _suite_dir() -> Path:
    """``shared/tcpdump-tests`` beside the repo, or beside the nearest ancestor that has it."""
    for base in _REPO.parents:
        candidate = base / "shared" / "tcpdump-tests"
        if candidate.is_dir():
            return candidate
    return _REPO.parent / "shared" / "tcpdump-tests"


SUITE_DIR: Path = _suite_dir()


class SuiteTest(NamedTuple):
    """One test of tcpdump's suite: its name, pcap, expected output and tcpdump arguments."""

    name: str
    pcap: str
    output: str
    args: str


class TruthRow(NamedTuple):
    """One TCP packet as tshark decodes it (innermost IP/TCP of a tunnel)."""

    frame: int
    time_ns: int
    src: str
    dst: str
    sport: int
    dport: int
    flags: int
    seq: int | None
    ack: int | None
    plen: int | None = None


def require_suite() -> None:
    """Skip unless tcpdump's suite and tshark are both here, naming the one missing."""
    if not (SUITE_DIR / "tests.tsv").is_file():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    if shutil.which("tshark") is None:
        pytest.skip("needs the tshark tool")


def suite_tests() -> list[SuiteTest]:
    """Every test listed in the suite's ``tests.tsv``, in its order."""
    with (SUITE_DIR / "tests.tsv").open(newline="") as fh:
        rows = csv.DictReader(fh, delimiter="\t")
        return [SuiteTest(r["name"], r["pcap"], r["output"], r["tcpdump_args"]) for r in rows]


def _cache_dir() -> Path:
    """Where computed truths are kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nettrail-conformance"


@functools.cache
def _tshark_version() -> str:
    """tshark's version (part of the cache key: another tshark may decode otherwise)."""
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0] if out.stdout else "unknown"
    return hashlib.sha256(first.encode()).hexdigest()[:12]


def _nth(field: str, index: int) -> str:
    """Occurrence ``index`` of a tshark field listing several (the last one if fewer)."""
    values = field.split(",") if field else [""]
    return values[min(index, len(values) - 1)]


def _time_ns(text: str) -> int:
    """``frame.time_epoch`` (``1361916199.190965000``) in integer nanoseconds."""
    whole, _, frac = text.partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def _row(fields: list[str]) -> TruthRow | None:
    """One tshark line as a TruthRow; None for a TCP header that is only a copy (ICMP, sFlow)."""
    (frame, when, ip_src, ip6_src, sport, ip_dst, ip6_dst, dport, flags, seq, ack, protos,
     plen) = fields
    layers = protos.split(":")
    if "tcp" not in layers or not flags:  # no flags: a header cut short after the ports
        return None
    upto = layers[: layers.index("tcp")]
    if any(layer in _COPIES for layer in upto):
        return None
    ips = [layer for layer in upto if layer in ("ip", "ipv6")]
    if not ips:
        return None
    family = ips[-1]
    index = ips.count(family) - 1
    src, dst = (ip_src, ip_dst) if family == "ip" else (ip6_src, ip6_dst)
    seq_s, ack_s, plen_s = _nth(seq, 0), _nth(ack, 0), _nth(plen, 0)
    return TruthRow(
        frame=int(frame),
        time_ns=_time_ns(when),
        src=_nth(src, index),
        dst=_nth(dst, index),
        sport=int(_nth(sport, 0)),
        dport=int(_nth(dport, 0)),
        flags=int(_nth(flags, 0), 16) & FLAG_BITS,
        seq=int(seq_s) if seq_s else None,
        ack=int(ack_s) if ack_s else None,
        plen=int(plen_s) if plen_s else None,
    )


def _run_tshark(pcap_path: Path) -> list[list[str]]:
    """tshark's TCP lines for one pcap, as fields (the lines before a fault when cut short)."""
    cmd = ["tshark", "-r", str(pcap_path), "-Y", "tcp", "-T", "fields"]
    for field in _FIELDS:
        cmd += ["-e", field]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line.split("\t") for line in proc.stdout.splitlines()]
    return [f for f in lines if len(f) == len(_FIELDS) and f[4] and f[7]]


def tcp_truth(pcap_path: Path) -> list[TruthRow] | None:
    """tshark's TCP packets in ``pcap_path`` (cached by content hash); None when it holds none."""
    digest = hashlib.sha256(Path(pcap_path).read_bytes()).hexdigest()
    cached = _cache_dir() / f"{digest}.{_tshark_version()}.v{_CACHE_VERSION}.json"
    if cached.is_file():
        data = json.loads(cached.read_text())
    else:
        data = _run_tshark(Path(pcap_path))
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(cached)
    rows = [row for row in map(_row, data) if row is not None]
    return rows or None


def truth_for(pcaps: Iterable[Path], workers: int = 2) -> dict[Path, list[TruthRow] | None]:
    """``tcp_truth`` of many pcaps, computed by a small pool of tshark processes."""
    paths = list(dict.fromkeys(Path(p) for p in pcaps))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(paths, pool.map(tcp_truth, paths), strict=True))
