"""Benchmark: cross-point correlation of two points with 500,000 packets each.

Records are generated in memory: many TCP connections from a client side (point ``edge``)
through a 1:1 DNAT to servers behind point ``core`` (whose clock is 25 ms ahead), each with a
handshake, data both ways and a close; every 50th connection retransmits its request segment
200 ms later. Times the whole ``cross_point`` call first (CPU seconds of this process: the
machine is shared), with the memory the analysis adds (peak RSS during the call minus RSS
before it, i.e. without the generated records), then each stage (copy folding, anchor
matching, clock, full matching, tracks and conversations, detectors) one by one. The cyclic
garbage collector is paused around the analysis, as ``nettrail analyze`` does
(``nettrail.analyze.flows.gc_paused``).

    .venv/bin/python bench/bench_correlate.py [--packets 500000] [--text]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from itertools import combinations

from nettrail.analyze.clock import estimate_pair, offset_map, offsets
from nettrail.analyze.correlate import fold_copies, match_points
from nettrail.analyze.crosspoint import cross_point, detect
from nettrail.analyze.flows import gc_paused
from nettrail.analyze.nat import infer_translations
from nettrail.analyze.tracks import build_conversations, build_tracks
from nettrail.model.packet import (
    ACK,
    FIN,
    NO_OPTIONS,
    PROTO_TCP,
    PSH,
    SYN,
    Headers,
    IPHeader,
    PacketRecord,
    TCPHeader,
)

T0 = 1_700_000_000 * 1_000_000_000
SKEW_NS = 25_000_000
PER_CONN = 10


def generate(packets: int, text: bool) -> dict[str, list[PacketRecord]]:
    """Two points' records: ``packets`` each, PER_CONN per connection."""
    edge: list[PacketRecord] = []
    core: list[PacketRecord] = []
    conns = packets // PER_CONN
    ip_id = 0
    for i in range(conns):
        client = f"198.18.{(i >> 8) & 0xFF}.{i & 0xFF}"
        cport = 1024 + (i % 60000)
        public = f"203.0.113.{10 + i % 200}"
        private = f"198.51.100.{10 + i % 200}"
        t = T0 + i * 200_000
        cseq, sseq = (i * 7919) & 0xFFFFFFFF, (i * 104729) & 0xFFFFFFFF
        steps = [(0, SYN, cseq, 0, 0), (1, SYN | ACK, sseq, cseq + 1, 0),
                 (0, ACK, cseq + 1, sseq + 1, 0), (0, PSH | ACK, cseq + 1, sseq + 1, 100),
                 (1, ACK, sseq + 1, cseq + 101, 0), (1, PSH | ACK, sseq + 1, cseq + 101, 1400),
                 (0, ACK, cseq + 101, sseq + 1401, 0), (0, FIN | ACK, cseq + 101, sseq + 1401, 0),
                 (1, FIN | ACK, sseq + 1401, cseq + 102, 0), (0, ACK, cseq + 102, sseq + 1402, 0)]
        timed = [(k * 50_000, step) for k, step in enumerate(steps)]
        if i % 50 == 0:
            timed.append((200_000_000, steps[3]))
        for offset, (rev, flags, seq, ack, length) in timed:
            ip_id = (ip_id + 1) & 0xFFFF
            ts = t + offset
            for point, out, dst_addr, skew in ((edge, False, public, 0),
                                               (core, True, private, SKEW_NS)):
                delay = 20_000 if (out != bool(rev)) else 0
                src, dst = (client, cport), (dst_addr, 22)
                if rev:
                    src, dst = dst, src
                ip = IPHeader(4, src[0], dst[0], PROTO_TCP, 64, None if text else ip_id,
                              40 + length, True, 0, False)
                tcp = TCPHeader(src[1], dst[1], flags, None if text else seq & 0xFFFFFFFF,
                                None if text else ack & 0xFFFFFFFF, 500, length, NO_OPTIONS)
                point.append(PacketRecord(
                    "core" if out else "edge", ts + delay + skew, "x.pcap", len(point) + 1,
                    None, None, 54 + length, Headers(None, ip, tcp), linktype=1))
    return {"edge": edge, "core": core}


def stages(points: dict[str, list[PacketRecord]]) -> list[tuple[str, float]]:
    """Seconds spent in each stage of cross-point analysis, run one by one (call it with the
    cyclic garbage collector paused, as ``nettrail analyze`` does)."""
    out = []
    t = time.process_time()
    sightings = {p: fold_copies(r) for p, r in points.items()}
    out.append(("fold copies", time.process_time() - t))
    t = time.process_time()
    ests = []
    for a, b in combinations(points, 2):
        est = estimate_pair(a, b, match_points(sightings[a], sightings[b]))
        if est is not None:
            ests.append(est)
    clock = offsets(list(points), ests)
    out.append(("anchor match + clock", time.process_time() - t))
    t = time.process_time()
    off = offset_map(clock)
    matches = []
    for a, b in combinations(points, 2):
        matches.extend(match_points(sightings[a], sightings[b], off[b] - off[a]))
    out.append(("full match", time.process_time() - t))
    t = time.process_time()
    tracks = build_tracks(sightings, matches, off)
    convs = build_conversations(tracks)
    out.append(("tracks + conversations", time.process_time() - t))
    t = time.process_time()
    nat = infer_translations(convs)
    detect(sightings, convs, nat, clock)
    out.append(("nat + detectors", time.process_time() - t))
    multi = sum(1 for tr in tracks if len(tr.sightings) > 1)
    out.append((f"clock {clock[-1].offset_ns / 1e6:.3f} ms, matched {multi} packets", 0.0))
    return out


def rss_mb() -> float:
    """Resident set size of this process now, in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Generate, then time the stages and the whole call."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--packets", type=int, default=500_000, help="packets per point")
    ap.add_argument("--text", action="store_true", help="no seq/ack/IP ID (tcpdump text)")
    args = ap.parse_args()
    t = time.process_time()
    with gc_paused():
        points = generate(args.packets, args.text)
    print(f"generated 2 x {args.packets} records in {time.process_time() - t:.1f} s")
    n = 2 * args.packets
    before = max(rss_mb(), peak_mb())
    with gc_paused():
        t, w = time.process_time(), time.perf_counter()
        result = cross_point(points)
        total, wall = time.process_time() - t, time.perf_counter() - w
    added = peak_mb() - before
    print(f"cross_point: {total:.2f} s CPU ({wall:.2f} s wall) for {n} packets "
          f"({n / total:,.0f} packets/s of CPU), {len(result.paths)} paths, "
          f"{len(result.findings)} findings; memory: {before:.0f} MB before (the records), "
          f"peak {before + added:.0f} MB, analysis {added:.0f} MB = "
          f"{added * 2**20 / n:.0f} bytes/packet; load {os.getloadavg()[0]:.1f}")
    del result
    with gc_paused():
        for name, secs in stages(points):
            print(f"  {name:40s} {secs:6.2f} s" if secs else f"  {name}")


if __name__ == "__main__":
    main()
