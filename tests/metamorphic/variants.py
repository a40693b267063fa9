"""Variants of the lab's recorded runs, each a set of capture files to analyze.

Every variant is derived deterministically from one run in tests/fixtures/labruns/: records are
transformed (points chosen, merged, shifted, doubled, cut, mixed with unrelated traffic), written
back to pcap, and, for text variants, printed by the real tcpdump and edited as people edit
what they paste (names, stripped fields, a mangled timestamp).
"""

from __future__ import annotations

import json
import random
import re
import struct
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from pathlib import Path

from capkit import ipv4, sll2, tcp
from nettrail.capture import open_capture
from nettrail.model.packet import Headers, PacketRecord

RUNS = Path(__file__).parent.parent / "fixtures" / "labruns"
SCENARIOS = ("dual-l3", "netnode-client", "port-closed", "mtu-blackhole", "asym-firewall",
             "healthy", "netnode-client-healthy")
SLL2 = 276
Points = dict[str, list[PacketRecord]]


@dataclass(frozen=True)
class Variant:
    """One variant: its scenario, family and parameter (a readable id), and whether evidence
    was removed (a diagnosis may then be absent)."""

    scenario: str
    family: str
    param: str
    thinned: bool = False
    text: str = ""
    xfail: str = ""

    @property
    def id(self) -> str:
        """The pytest id."""
        return f"{self.scenario}:{self.family}:{self.param}"


@cache
def manifest(scenario: str) -> dict[str, object]:
    """The run's manifest."""
    data: dict[str, object] = json.loads((RUNS / scenario / "manifest.json").read_text())
    return data


def point_names(scenario: str) -> list[str]:
    """The run's capture points, reference first."""
    return [p["name"] for p in manifest(scenario)["points"]]  # type: ignore[attr-defined,index]


@cache
def ifnames(scenario: str) -> dict[str, dict[int, str]]:
    """Interface index -> name per point."""
    return {p["name"]: {int(k): v for k, v in p["interfaces"].items()}  # type: ignore[index]
            for p in manifest(scenario)["points"]}  # type: ignore[attr-defined]


@cache
def _records(scenario: str, point: str) -> tuple[PacketRecord, ...]:
    path = RUNS / scenario / f"{point}.pcap"
    return tuple(open_capture(str(path), point, ifnames(scenario)[point]))


def records(scenario: str) -> Points:
    """Every point's records, reference first."""
    return {p: list(_records(scenario, p)) for p in point_names(scenario)}


# -- record transforms ----------------------------------------------------------------------

def subset(points: Points, names: tuple[str, ...]) -> Points:
    """Only the points ``names`` (in the run's order)."""
    return {p: r for p, r in points.items() if p in names}


def host_view(points: Points) -> Points:
    """One point per host: the router namespace's capture is dropped (a host-wide ``-i any``
    does not see inside it), and so is the VM's (the compute host sees its traffic on the tap
    device)."""
    return {p: r for p, r in points.items() if not p.startswith("qrouter-") and p != "vm"}


def shifted(points: Points, offsets: dict[str, int]) -> Points:
    """Each point's clock moved by ``offsets[point]`` ns."""
    return {p: [r._replace(ts_ns=r.ts_ns + offsets.get(p, 0)) for r in recs]
            for p, recs in points.items()}


def _other_ifindex(data: bytes) -> bytes:
    ifindex = struct.unpack_from("!i", data, 4)[0]
    return data[:4] + struct.pack("!i", ifindex + 100) + data[8:]


def doubled(points: Points, names: tuple[str, ...]) -> Points:
    """At ``names``, every packet seen again 3 us later on another interface (``-i any``)."""
    out: Points = {}
    for p, recs in points.items():
        if p not in names:
            out[p] = recs
            continue
        more = []
        for r in recs:
            more.append(r)
            data = r.data or b""
            if r.linktype == SLL2 and len(data) >= 8:
                more.append(r._replace(ts_ns=r.ts_ns + 3000, data=_other_ifindex(data)))
        out[p] = more
    return out


def cut(points: Points, fraction: float, names: tuple[str, ...] | None = None) -> Points:
    """Captures stopped early: at ``names`` (all when None), nothing after ``fraction`` of the
    way through the reference point's capture."""
    ref = next(iter(points.values()))
    start, end = ref[0].ts_ns, ref[-1].ts_ns
    stop = start + int((end - start) * fraction)
    return {p: [r for r in recs if r.ts_ns <= stop] if names is None or p in names else recs
            for p, recs in points.items()}


UNRELATED = ("198.18.7.1", "198.18.7.2")


def one_way(recs: list[PacketRecord], way: str) -> list[PacketRecord]:
    """A point's TCP packets of one direction only (``c2s``: to the lower port, the
    scenario's service), as a capture filtered by direction or port shows them (``tcpdump
    -Q in``, ``dst port 22``); its other packets as they are."""
    return [r for r in recs
            if r.tcp is None or (r.tcp.dport < r.tcp.sport) == (way == "c2s")]


_V6_PREFIX = bytes.fromhex("20010db8") + bytes(8)
"""2001:db8::/96: each IPv4 address a.b.c.d becomes 2001:db8::a.b.c.d."""


def ipv6(r: PacketRecord) -> PacketRecord:
    """The record's IPv4 packet as IPv6 (addresses mapped into 2001:db8::/96, the TOS as
    traffic class, the TTL as hop limit; no IP ID, which IPv6 lacks): the same traffic over
    IPv6. Packets other than TCP and UDP as they are."""
    data = r.data or b""
    if r.linktype != SLL2 or len(data) < 40 or data[:2] != b"\x08\x00" or data[29] not in (6, 17):
        return r  # (IGMP or ICMP would need other numbers and types in IPv6)
    ip = data[20:]
    ihl = (ip[0] & 15) * 4
    plen = struct.unpack_from("!H", ip, 2)[0] - ihl
    head = struct.pack("!IHBB", (6 << 28) | (ip[1] << 20), plen, ip[9], ip[8])
    v6 = head + _V6_PREFIX + ip[12:16] + _V6_PREFIX + ip[16:20]
    return r._replace(data=b"\x86\xdd" + data[2:20] + v6 + ip[ihl:],
                      wire_len=r.wire_len + 40 - ihl)


def unrelated(points: Points, seed: int) -> Points:
    """Every point also sees another, healthy TCP conversation, interleaved in time."""
    stamps = [r.ts_ns for recs in points.values() for r in recs]
    frames = list(_conversation(random.Random(seed), min(stamps), max(stamps)))
    out: Points = {}
    for i, (p, recs) in enumerate(points.items()):
        # the same packets everywhere, each point 10 us further along their path
        extra = [_frame_record(p, "unrelated", t + i * 10_000, frame) for t, frame in frames]
        out[p] = sorted(recs + extra, key=lambda r: r.ts_ns)
    return out


def _conversation(rnd: random.Random, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    a, b = UNRELATED
    port = rnd.randrange(30000, 60000)
    steps = [(a, b, port, 8080, 0x02, 100, 0, 0), (b, a, 8080, port, 0x12, 500, 101, 0),
             (a, b, port, 8080, 0x10, 101, 501, 0), (a, b, port, 8080, 0x18, 101, 501, 40),
             (b, a, 8080, port, 0x18, 501, 141, 700), (a, b, port, 8080, 0x11, 141, 1201, 0),
             (b, a, 8080, port, 0x11, 1201, 142, 0), (a, b, port, 8080, 0x10, 142, 1202, 0)]
    span = max(end - start, len(steps))
    for i, (src, dst, sp, dp, flags, seq, ack, size) in enumerate(steps):
        t = start + span * (i + 1) // (len(steps) + 1) + rnd.randrange(1000)
        seg = tcp(sp, dp, flags, seq=seq, ack=ack, payload=b"x" * size)
        yield t, sll2(ipv4(src, dst, 6, seg, ip_id=1000 + i), ifindex=1)


def _frame_record(point: str, file: str, ts: int, frame: bytes) -> PacketRecord:
    """A record that only carries its bytes (variants are analyzed from the files written)."""
    return PacketRecord(point, ts, file, 0, None, None, len(frame), Headers(None, None, None),
                        data=frame, linktype=SLL2)


# -- files ----------------------------------------------------------------------------------

def write_pcap(recs: list[PacketRecord], path: Path) -> None:
    """The records as a Linux cooked v2 pcap (their captured bytes, in time order)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, SLL2)]
    for r in sorted(recs, key=lambda r: r.ts_ns):
        sec, ns = divmod(r.ts_ns, 1_000_000_000)
        data = r.data or b""
        out.append(struct.pack("<IIII", sec, ns // 1000, len(data), max(r.wire_len, len(data))))
        out.append(data)
    path.write_bytes(b"".join(out))


def tcpdump_text(pcap: Path, flags: tuple[str, ...]) -> str:
    """What the real tcpdump prints for ``pcap`` with ``flags`` (stderr dropped)."""
    done = subprocess.run(["tcpdump", *flags, "-r", str(pcap)], capture_output=True, text=True,
                          check=True, timeout=30)
    return done.stdout


_STRIP = re.compile(r"(, )?\b(seq [\d:]+|ack \d+|win \d+|options \[[^\]]*\]|length \d+)")
_ADDR = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3})(?=[.: ,]|$)")


def stripped(text: str) -> str:
    """seq/ack/options/win/length removed from every line (a hand-trimmed paste)."""
    out = []
    for line in text.splitlines():
        line = _STRIP.sub("", line)
        out.append(line.replace(": Flags", ": Flags").replace("], ,", "],"))
    return "\n".join(out) + "\n"


def named(text: str) -> str:
    """Every address replaced by a host name (tcpdump without ``-n``, or an anonymised paste)."""
    names: dict[str, str] = {}

    def name(m: re.Match[str]) -> str:
        return names.setdefault(m.group(1), f"host{len(names) + 1}.example")

    return _ADDR.sub(name, text)


def pasted(text: str) -> str:
    """The text as a chat, a web page or a log collector passes it on: the command line
    under a shell prompt before it and an empty prompt after, each line behind the log's
    RFC 3339 time (``kubectl logs --timestamps``), and every other space of a line a
    non-breaking one or, in every third line, a tab."""
    out = ["[root@netnode ~]# tcpdump -ni any"]
    for n, line in enumerate(text.splitlines()):
        space = "\t" if n % 3 == 2 else "\xa0"
        line = "".join(space if ch == " " and i % 2 else ch for i, ch in enumerate(line))
        out.append(f"2026-12-03T14:35:{n % 60:02d}.{n:09d}Z {line}")
    return "\n".join([*out, "[root@netnode ~]# "]) + "\n"


_TIME = re.compile(r"^(\s*(?:\d+\s+)?)(\d{2}):(\d{2}):(\d{2})\.(\d{6})")


def mangle(text: str, line: int, how: str) -> str:
    """Line ``line`` (0-based) with its timestamp damaged: ``hour`` (the hour's leading digit
    lost, as in a paste) or ``frac`` (one fractional digit lost)."""
    lines = text.splitlines()
    m = _TIME.match(lines[line])
    if m is not None:
        lead, hh, mm, ss, frac = m.groups()
        stamp = f"{hh[1:]}:{mm}:{ss}.{frac}" if how == "hour" else f"{hh}:{mm}:{ss}.{frac[:-1]}"
        lines[line] = lead + stamp + lines[line][m.end():]
    return "\n".join(lines) + "\n"


def lossy(text: str, dropped: int = 0, seed: int = 0, resets: bool = False) -> str:
    """The text of a capture that lost ``dropped`` of its TCP packets (chosen by ``seed``), or
    all its RSTs (``resets``), and says so, as tcpdump does when it stops (its counts pasted
    after the packets); with none lost, a capture that says it dropped a packet and shows all
    of them."""
    lines = text.splitlines()
    if resets:
        gone = {i for i in packet_lines(text) if "Flags [R" in lines[i]}
        dropped = len(gone)
    else:
        gone = set(random.Random(seed).sample(packet_lines(text), dropped))
    kept = [line for i, line in enumerate(lines) if i not in gone]
    said = max(dropped, 1)
    counts = [f"{len(kept)} packets captured", f"{len(kept) + said} packets received by filter",
              f"{said} packet{'s' if said > 1 else ''} dropped by kernel"]
    return "\n".join([*kept, *counts]) + "\n"


def packet_lines(text: str) -> list[int]:
    """Indexes of the lines that start a TCP packet of the scenario (not ARP, not IGMP)."""
    return [i for i, line in enumerate(text.splitlines())
            if _TIME.match(line) and ("Flags [" in line or " tcp " in line)]


TEXT_FORMS: dict[str, tuple[tuple[str, ...], Callable[[str], str], str]] = {
    "n": (("-n",), str, ""),
    "S": (("-n", "-S"), str, ""),
    "v": (("-n", "-v"), str, ""),
    "e": (("-n", "-e"), str, ""),
    "hash": (("-n", "-#"), str, ""),
    "q": (("-n", "-q"), str, ""),
    "names": (("-n",), named, ""),
    "stripped": (("-n",), stripped, ""),
    "stripped-tt": (("-n", "-tt"), stripped, ""),
    "t": (("-n", "-t"), str, ""),
    "pasted": (("-n",), pasted, ""),
    "A": (("-n", "-A"), str, ""),
    "X": (("-n", "-X"), str, ""),
}


def enumerate_variants() -> list[Variant]:
    """Every variant of every scenario, in a fixed order."""
    out: list[Variant] = []
    for s in SCENARIOS:
        names = point_names(s)
        for k in range(1, len(names) + 1):
            for combo in combinations(names, k):
                out.append(Variant(s, "subset", "+".join(combo), thinned=k < len(names)))
        if any(n.startswith("qrouter-") for n in names):
            out.append(Variant(s, "host-view", "no-router-ns", thinned=True))
        for form, (_flags, _edit, why) in TEXT_FORMS.items():
            out.append(Variant(s, "text", form, text=form, xfail=why))
        rnd = random.Random(f"{s}-mangle")
        for how in ("hour", "frac"):
            for n in range(2):
                out.append(Variant(s, "mangled", f"{how}-{n}-{rnd.randrange(1 << 30)}",
                                   text="stripped"))
        rnd = random.Random(f"{s}-clock")
        for n in range(4):
            steps = [-2000, -500, -25, 0, 25, 500, 2000]
            ms = ",".join(str(rnd.choice(steps)) for _ in names[1:])
            out.append(Variant(s, "clock", f"{n}:{ms}"))
            out.append(Variant(s, "clock-text", f"{n}:{ms}", text="stripped"))
        out.append(Variant(s, "doubles", "all"))
        out.append(Variant(s, "doubles-text", "all", text="stripped"))
        out.append(Variant(s, "unrelated", "1"))
        out.append(Variant(s, "unrelated-text", "2", text="stripped"))
        for frac in ("0.25", "0.5", "0.9"):
            out.append(Variant(s, "cut", frac, thinned=True))
        out.append(Variant(s, "cut-one", names[-1], thinned=True))
        rnd = random.Random(f"{s}-lossy")
        for i in range(len(names)):
            out.append(Variant(s, "lossy", f"{i}:{rnd.choice((1, 2, 3))}:{rnd.randrange(1 << 30)}",
                               text="n"))
        out.append(Variant(s, "lossy", f"{rnd.randrange(len(names))}:0:0", text="n"))
        out.extend(Variant(s, "lossy-rst", str(i), text="n") for i in range(len(names)))
        out.extend(Variant(s, "one-way", f"{name}:{way}") for name in names
                   for way in ("c2s", "s2c"))
        out.extend(Variant(s, "mixed-text", f"{i}:{form}", text="n")
                   for i in range(len(names)) for form in ("t", "q"))
        out.append(Variant(s, "ipv6", "pcap"))
        out.append(Variant(s, "ipv6", "text", text="n"))
    return out


def build(v: Variant, workdir: Path) -> list[tuple[str, str]]:
    """The variant's files as (point, path) pairs, written under ``workdir``."""
    points = records(v.scenario)
    names = point_names(v.scenario)
    if v.family == "subset":
        points = subset(points, tuple(v.param.split("+")))
    elif v.family == "host-view":
        points = host_view(points)
    elif v.family.startswith("clock"):
        ms = [int(x) for x in v.param.split(":")[1].split(",")]
        points = shifted(points, {p: m * 1_000_000 for p, m in zip(names[1:], ms, strict=True)})
    elif v.family.startswith("doubles"):
        points = doubled(points, tuple(names))
    elif v.family.startswith("unrelated"):
        points = unrelated(points, int(v.param))
    elif v.family == "cut":
        points = cut(points, float(v.param))
    elif v.family == "cut-one":
        points = cut(points, 0.3, (v.param,))
    elif v.family == "ipv6":
        points = {p: [ipv6(r) for r in recs] for p, recs in points.items()}
    elif v.family == "one-way":
        name, way = v.param.split(":")
        points = {**points, name: one_way(points[name], way)}
    files = []
    for i, (p, recs) in enumerate(points.items()):
        pcap = workdir / f"p{i}.pcap"
        write_pcap(recs, pcap)
        if not v.text:
            files.append((p, str(pcap)))
            continue
        form = v.text
        if v.family == "mixed-text" and i == int(v.param.split(":")[0]):
            form = v.param.split(":")[1]  # one point printed otherwise
        flags, edit, _why = TEXT_FORMS[form]
        text = edit(tcpdump_text(pcap, flags))
        if v.family == "mangled" and i == _mangled_point(v, len(points)):
            text = _mangle_one(v, text)
        if v.family == "lossy" and i == int(v.param.split(":")[0]):
            text = lossy(text, *(int(x) for x in v.param.split(":")[1:]))
        if v.family == "lossy-rst" and i == int(v.param):
            text = lossy(text, resets=True)
        path = workdir / f"p{i}.txt"
        path.write_text(text)
        files.append((p, str(path)))
    return files


def _mangled_point(v: Variant, n: int) -> int:
    return random.Random(v.param).randrange(n)


def _mangle_one(v: Variant, text: str) -> str:
    lines = packet_lines(text)
    if not lines:
        return text
    how = v.param.split("-")[0]
    return mangle(text, random.Random(v.param).choice(lines), how)
