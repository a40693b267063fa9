"""Time the report outputs: the pcapng writer, pcapng export, and the HTML report.

    python bench/report_output.py [--packets 200000] [--seed 1] [--dir bench/data]

1. ``PcapngWriter.write_packet``: 1M 74-byte frames with a comment each, into /dev/null-like
   memory sink (raw block building cost).
2. ``export``: re-read a generated pcap (bench/gen_capture.py) and write it as pcapng with a
   comment on every packet; half the packets are on a path of the analysis. Compared with a
   plain ``for r in open_capture(p)`` over the same file (the reading floor).
3. ``html.render``: an analysis of 300 connections with 12 followed packets each across
   three points (one ladder per connection, pre-rendered), output size and time.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from nettrail.capture import open_capture  # noqa: E402
from nettrail.capture.inputs import open_inputs  # noqa: E402
from nettrail.model.analysis import Analysis, Hop, PacketPath  # noqa: E402
from nettrail.model.finding import Evidence, Finding, Severity  # noqa: E402
from nettrail.model.flow import Endpoint, FlowKey  # noqa: E402
from nettrail.report import html  # noqa: E402
from nettrail.report.pcapng import PcapngWriter, export  # noqa: E402


class _Sink(io.RawIOBase):
    """Counts bytes, keeps nothing."""

    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        n = len(b)  # type: ignore[arg-type]
        self.size += n
        return n


def bench_writer(count: int) -> dict[str, float]:
    sink = _Sink()
    w = PcapngWriter(sink)  # type: ignore[arg-type]
    if_id = w.add_interface("client/ns/eth0")
    frame = bytes(74)
    comment = "nettrail: packet #123456 sighting 2/4 (client > network-node/qg-7c1e)"
    t = time.perf_counter()
    for i in range(count):
        w.write_packet(if_id, 1_764_058_200_000_000_000 + i * 1000, frame, 74, comment)
    dt = time.perf_counter() - t
    return {"packets": count, "seconds": dt, "packets_per_s": count / dt,
            "mb_per_s": sink.size / dt / 1e6}


def _analysis_for(path: str) -> Analysis:
    """Paths over every other record (two sightings of the same frame), a finding on 1%."""
    paths = []
    evidence = []
    records = list(open_capture(path, "bench"))
    for i in range(0, len(records) - 1, 2):
        a, b = records[i], records[i + 1]
        src, dst = Endpoint("198.18.0.1", 1), Endpoint("203.0.113.10", 80)
        hops = (Hop("bench", None, a.ts_ns, a.file, a.frame, "x", src, dst),
                Hop("bench", None, b.ts_ns, b.file, b.frame, "x", src, dst))
        paths.append(PacketPath(i // 2, hops, 1.0))
        if i % 200 == 0:
            evidence.append(Evidence("bench", a.file, a.frame, a.ts_ns, "x"))
    finding = Finding("reset", Severity.ERROR, "bench", tuple(evidence))
    return Analysis(points=(), connections=(), findings=(finding,), paths=tuple(paths))


def bench_export(path: str) -> dict[str, float]:
    t = time.perf_counter()
    n = sum(1 for _ in open_capture(path, "bench"))
    read_s = time.perf_counter() - t
    analysis = _analysis_for(path)
    sink = _Sink()
    t = time.perf_counter()
    export(analysis, open_inputs([("bench", path)]).records(), sink)  # type: ignore[arg-type]
    dt = time.perf_counter() - t
    return {"packets": n, "read_only_s": read_s, "export_s": dt, "packets_per_s": n / dt,
            "overhead_vs_read": dt / read_s, "out_mb": sink.size / 1e6}


def _big_analysis(connections: int, per: int) -> Analysis:
    paths = []
    points = ("client", "network-node", "compute-node")
    for c in range(connections):
        cli = Endpoint(f"198.18.{c // 250}.{c % 250 + 1}", 40000 + c)
        srv = Endpoint("203.0.113.10", 80)
        key = FlowKey.of(6, cli, srv)
        for p in range(per):
            base = 1_764_058_200_000_000_000 + c * 10_000_000 + p * 100_000
            fwd = p % 2 == 0
            src, dst = (cli, srv) if fwd else (srv, cli)
            order = points if fwd else points[::-1]
            hops = tuple(
                Hop(pt, f"eth{j}", base + j * 40_000, f"{pt}.pcap", c * per + p + 1,
                    f"{src.addr}.{src.port} > {dst.addr}.{dst.port}: Flags [.], length 0", src,
                    dst)
                for j, pt in enumerate(order)
            )
            paths.append(PacketPath(len(paths) + 1, hops, 1.0, key))
    return Analysis(points=(), connections=(), findings=(), paths=tuple(paths))


def bench_html(connections: int, per: int) -> dict[str, float]:
    analysis = _big_analysis(connections, per)
    out = io.StringIO()
    t = time.perf_counter()
    html.render(analysis, out)
    dt = time.perf_counter() - t
    return {"connections": connections, "paths": len(analysis.paths), "seconds": dt,
            "out_mb": len(out.getvalue().encode()) / 1e6}


def main() -> None:
    """Run the three benchmarks and print one JSON object per line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default=str(HERE / "data"))
    args = parser.parse_args()
    data = Path(args.dir)
    data.mkdir(parents=True, exist_ok=True)
    pcap = data / f"report-{args.packets}-seed{args.seed}.pcap"
    if not pcap.exists():
        subprocess.run([sys.executable, str(HERE / "gen_capture.py"), str(pcap), "--packets",
                        str(args.packets), "--seed", str(args.seed)], check=True)
    print(json.dumps({"writer": bench_writer(1_000_000)}))
    print(json.dumps({"export": bench_export(str(pcap))}))
    print(json.dumps({"html": bench_html(300, 12)}))


if __name__ == "__main__":
    main()
