"""tshark's reading of tcpdump's own test suite: the truth a reader of pcap or text is held to.

``SUITE_DIR`` is ``shared/tcpdump-tests`` next to the repository (``../shared/tcpdump-tests``
from the repo root; from a git worktree nested deeper, the nearest ancestor that has it).
``suite_tests()`` lists the suite's tests from ``tests.tsv``; ``tcp_truth(pcap)`` is one
``TruthRow`` per TCP packet tshark decodes, cached on disk by the pcap's content hash
(``$XDG_CACHE_HOME/nettrail-conformance`` or ``~/.cache/nettrail-conformance``), and
``truth_for(pcaps)`` fills that cache for many pcaps with a small pool of tshark processes.

Choices, the same for every pcap:

- Tunnels: the innermost occurrence is the truth. tshark lists every occurrence of a field,
  outermost first (``ip.src`` = ``outer,inner``); we take the last one of each field, and the
  address family of the innermost IP layer in ``frame.protocols`` before ``tcp`` (IPv6 inside
  IPv4 gives the IPv6 addresses, IPv4 inside IPv6 the IPv4 ones).
- A TCP header quoted inside an ICMP or ICMPv6 error is not a TCP packet: such frames are left
  out (tcpdump prints them as ICMP lines, a reader gives an ICMP record).
- ``flags`` is tshark's ``tcp.flags`` (12 bits; AE, formerly NS, is 0x100); ``seq``/``ack`` are
  the raw numbers, ``None`` where tshark gives none (a header cut short by the snap length).
- ``time_ns`` is ``frame.time_epoch`` in integer nanoseconds.
- A pcap tshark reads only in part (cut short) keeps the rows printed before the fault.
"""

from __future__ import annotations

import csv
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
_CACHE_VERSION = "1"
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


def _last(field: str) -> str:
    """The innermost (last) occurrence of a tshark field; '' when absent."""
    return field.rsplit(",", 1)[-1] if field else ""


def _time_ns(text: str) -> int:
    """``frame.time_epoch`` (``1361916199.190965000``) in integer nanoseconds."""
    whole, _, frac = text.partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def _row(fields: list[str]) -> TruthRow | None:
    """One tshark line as a TruthRow; None for a TCP header quoted inside ICMP."""
    frame, when, ip_src, ip6_src, sport, ip_dst, ip6_dst, dport, flags, seq, ack, protos = fields
    layers = protos.split(":")
    upto = layers[: len(layers) - layers[::-1].index("tcp") - 1] if "tcp" in layers else layers
    if "icmp" in upto or "icmpv6" in upto:
        return None
    inner_v6 = next((p == "ipv6" for p in reversed(upto) if p in ("ip", "ipv6")), False)
    src, dst = (ip6_src, ip6_dst) if inner_v6 else (ip_src, ip_dst)
    seq_s, ack_s = _last(seq), _last(ack)
    return TruthRow(
        frame=int(frame),
        time_ns=_time_ns(when),
        src=_last(src),
        dst=_last(dst),
        sport=int(_last(sport)),
        dport=int(_last(dport)),
        flags=int(_last(flags), 16),
        seq=int(seq_s) if seq_s else None,
        ack=int(ack_s) if ack_s else None,
    )


def _run_tshark(pcap_path: Path) -> list[TruthRow]:
    """tshark's TCP rows for one pcap (the rows before a fault when it is cut short)."""
    cmd = ["tshark", "-r", str(pcap_path), "-Y", "tcp", "-T", "fields"]
    for field in _FIELDS:
        cmd += ["-e", field]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) != len(_FIELDS) or not fields[4] or not fields[7]:
            continue
        row = _row(fields)
        if row is not None:
            rows.append(row)
    return rows


def tcp_truth(pcap_path: Path) -> list[TruthRow] | None:
    """tshark's TCP packets in ``pcap_path`` (cached by content hash); None when it holds none."""
    digest = hashlib.sha256(Path(pcap_path).read_bytes()).hexdigest()
    cached = _cache_dir() / f"{digest}.v{_CACHE_VERSION}.json"
    if cached.is_file():
        data = json.loads(cached.read_text())
    else:
        data = [list(row) for row in _run_tshark(Path(pcap_path))]
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(cached)
    return [TruthRow(*row) for row in data] or None


def truth_for(pcaps: Iterable[Path], workers: int = 2) -> dict[Path, list[TruthRow] | None]:
    """``tcp_truth`` of many pcaps, computed by a small pool of tshark processes."""
    paths = list(dict.fromkeys(Path(p) for p in pcaps))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(paths, pool.map(tcp_truth, paths), strict=True))
