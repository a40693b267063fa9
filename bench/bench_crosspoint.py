"""``nettrail analyze`` of four capture points of the same traffic, on one core, against tshark.

    python bench/bench_crosspoint.py [--packets 1000000] [--repeat 3] [--no-append]
                                     [--nettrail PATH] [--baseline PATH] [--label TEXT]

The traffic is ``bench/gen_capture.py``'s web mix (generated once into bench/data/). It is
written as seen at four points on the path client -> server, each its own pcap: ``client``
(the reference clock), ``edge`` (clock 25 ms ahead), then a 1:1 DNAT (server addresses
203.0.113.N become 198.51.100.N), ``core`` (clock 40 ms behind) and ``server`` (clock 7.5 ms
ahead). Each hop adds 30 us in the packet's direction of travel and decrements the TTL (the
IP checksum is recomputed); IP IDs, sequence numbers and payloads are unchanged. Every point
sees every packet.

With ``--text``, nettrail reads tcpdump's print of each point's pcap (``tcpdump -n -r``,
written once beside it) instead: the same four points as text, which has no seq on pure
ACKs, no ack on SYNs and times to the microsecond.

Runs in turn, ``--repeat`` times, both pinned to CPU 0 (``taskset -c 0``):
``nettrail analyze --format json client=... edge=... core=... server=... > /dev/null`` and
``tshark -q -z conv,tcp -r CLIENT.pcap`` (one of the four). Wall time, CPU and peak RSS per
child (``os.wait4``); best of the runs; the load average before and after. The table is
printed and appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench_table import capture
from run import timed

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
RESULTS = BENCH / "RESULTS.md"
HOP_NS = 30_000
# (name, clock offset in ns, hops from the client side, behind the NAT)
POINTS = (("client", 0, 0, False), ("edge", 25_000_000, 1, False),
          ("core", -40_000_000, 2, True), ("server", 7_500_000, 3, True))
PUBLIC, PRIVATE = bytes([203, 0, 113]), bytes([198, 51, 100])
_REC = struct.Struct("<IIII")


def _frames(path: Path) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The pcap's file header and its (time ns, frame) pairs."""
    data = path.read_bytes()
    out = []
    pos = 24
    while pos < len(data):
        sec, usec, incl, _orig = _REC.unpack_from(data, pos)
        out.append((sec * 1_000_000_000 + usec * 1000, data[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    return data[:24], out


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _at_point(frame: bytes, hops: int, natted: bool) -> tuple[bytes, bool]:
    """The frame as seen ``hops`` routers from the client side (TTL, DNAT), and whether it
    travels from the server side."""
    ip = bytearray(frame[14:34])
    from_server = ip[12:15] == PUBLIC
    ip[8] = max(1, ip[8] - (hops if not from_server else 3 - hops))
    if natted:
        if from_server:
            ip[12:15] = PRIVATE
        elif ip[16:19] == PUBLIC:
            ip[16:19] = PRIVATE
    ip[10:12] = b"\0\0"
    ip[10:12] = struct.pack("!H", _checksum(bytes(ip)))
    return frame[:14] + bytes(ip) + frame[34:], from_server


def four_points(packets: int) -> list[tuple[str, Path]]:
    """The four points' captures, written once."""
    paths = [(name, DATA / f"xpoint-{name}-{packets}.pcap") for name, *_ in POINTS]
    if all(p.exists() for _n, p in paths):
        return paths
    return write_points(capture("web", packets, 1), DATA, str(packets))


def write_points(source: Path, out: Path, tag: str,
                 drop: Callable[[str, int], bool] | None = None) -> list[tuple[str, Path]]:
    """``source`` (a pcap of the client's packets) as seen at the four points, written to
    ``out`` as ``xpoint-POINT-TAG.pcap``; ``drop(point, i)``: True for a packet (``i``, in
    ``source``'s order) the point does not see."""
    header, frames = _frames(source)
    paths = []
    for name, skew, hops, natted in POINTS:
        rows = []
        for i, (ts, frame) in enumerate(frames):
            if drop is not None and drop(name, i):
                continue
            seen, from_server = _at_point(frame, hops, natted)
            delay = HOP_NS * ((3 - hops) if from_server else hops)
            rows.append((ts + delay + skew, i, seen))
        rows.sort()
        path = out / f"xpoint-{name}-{tag}.pcap"
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(header)
            for ts, _i, seen in rows:
                sec, ns = divmod(ts, 1_000_000_000)
                f.write(_REC.pack(sec, ns // 1000, len(seen), len(seen)) + seen)
        tmp.rename(path)
        paths.append((name, path))
        print(f"wrote {len(rows)} packets to {path} ({name})", flush=True)
    return paths


def printed(paths: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """tcpdump's print of each point's pcap (``tcpdump -n -r``), written once."""
    out = []
    for name, pcap in paths:
        text = pcap.with_suffix(".txt")
        if not text.exists():
            tmp = text.with_suffix(".tmp")
            with tmp.open("wb") as f:
                subprocess.run(["tcpdump", "-n", "-r", str(pcap)], stdout=f,
                               stderr=subprocess.DEVNULL, check=True)
            tmp.rename(text)
        out.append((name, text))
    return out


def main() -> int:
    """Run the comparison, print it and append it to RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-append", action="store_true", help="print only")
    ap.add_argument("--label", default="", help="what the run measures (e.g. before, after)")
    ap.add_argument("--nettrail", default=str(Path(sys.executable).with_name("nettrail")),
                    help="the nettrail command to time (another tree's, for a baseline)")
    ap.add_argument("--baseline", help="another tree's nettrail command, timed in the same "
                    "rounds (e.g. the main branch's, for before / after)")
    ap.add_argument("--text", action="store_true",
                    help="nettrail reads tcpdump's print of the four pcaps")
    args = ap.parse_args()
    paths = four_points(args.packets)
    nettrail = args.nettrail
    pin = ["taskset", "-c", "0"]
    point_args = [f"{n}={p}" for n, p in (printed(paths) if args.text else paths)]
    what = "4 points, text" if args.text else "4 points"
    cmds = {f"nettrail ({what})": [*pin, nettrail, "analyze", "--format", "json", *point_args]}
    if args.baseline:
        cmds[f"baseline nettrail ({what})"] = [*pin, args.baseline, "analyze", "--format",
                                               "json", *point_args]
    tshark = shutil.which("tshark")
    if tshark:
        cmds["tshark conv,tcp (client)"] = [*pin, tshark, "-q", "-z", "conv,tcp", "-r",
                                            str(paths[0][1])]
    runs: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in cmds}
    for _ in range(args.repeat):  # alternating, so load changes hit both alike
        for name, argv in cmds.items():
            load = os.getloadavg()[0]
            runs[name].append((*timed(argv), load))
            wall, cpu, rss, _l = runs[name][-1]
            print(f"  {name}: {wall:.2f} s wall, {cpu:.2f} s CPU, {rss:.0f} MB, load {load:.1f}",
                  flush=True)
    lines = [f"| {args.label + ': ' if args.label else ''}{name} | "
             f"{min(w for w, *_ in v):.2f} / {min(c for _w, c, *_ in v):.2f} | "
             f"{max(r for *_, r, _l in v):.0f} | "
             f"{', '.join(f'{w:.1f} @ {ld:.1f}' for w, _c, _r, ld in v)} |"
             for name, v in runs.items()]
    t_name = next((k for k in cmds if k.startswith("tshark")), None)
    ratio = ""
    if t_name:
        n_name = next(iter(cmds))
        best = {k: min(w for w, *_ in v) for k, v in runs.items()}
        cpu = {k: min(c for _w, c, *_ in v) for k, v in runs.items()}
        ratio = (f"\nratio nettrail / tshark: wall {best[n_name] / best[t_name]:.2f}, "
                 f"CPU {cpu[n_name] / cpu[t_name]:.2f}\n")
    text = (f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, 4 x {args.packets} packets)\n\n"
            "| command | best wall / CPU (s) | peak RSS (MB) | runs (wall s @ load) |\n"
            "|---|---|---|---|\n" + "\n".join(lines) + "\n" + ratio)
    print(text)
    if not args.no_append:
        RESULTS.write_text(RESULTS.read_text() + "\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
