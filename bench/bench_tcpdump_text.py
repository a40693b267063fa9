"""Time the tcpdump text reader on what tcpdump prints, side by side with tshark and tcpdump.

Usage: ``python bench/bench_tcpdump_text.py [--packets N] [--runs 3] [--dir bench/data]``.

Writes pcaps of several traffic mixes once (``bench/gen_capture.py``'s mix; bulk transfers with
full-size segments; many short connections; the mix with 10% UDP, DNS and other datagrams; the
mix as a Linux cooked ``-i any`` capture; the short connections with a packet of another form,
ARP, ICMP, NTP or a datagram to port 53 that is not DNS, after every 60th), prints them with
``tcpdump -n -r`` (also ``-tttt``, ``-tt``, ``-v``, ``-e`` and ``-e -v`` for the mix, ``-e``
for the cooked capture; and every
``.out`` of tcpdump's test suite concatenated, ``TCPDUMP_TESTS``, with no peer), then times,
on one core (``taskset -c 0``), alternating, best of ``--runs``: nettrail reading each text
into a packet table and to PacketRecords (CPU time of the read, in a child process;
``NETTRAIL_SRC`` names another source tree to time, e.g. a previous version: one without the
column reader fills the table from the records), ``tshark -r`` of the same pcap and
``tcpdump -n -r`` itself (CPU time of the child, start-up included, output to /dev/null).
Prints a markdown table with the load average before and after each row.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_capture import _REC, ACK, FIN, PSH, SYN, _Conn, generate  # noqa: E402
from run import child_env  # noqa: E402

ONE_CORE = ["taskset", "-c", "0"]
READ = r"""
import sys, time
from nettrail.capture.base import CaptureStats
from nettrail.capture.tcpdump_text import read_text
stats = CaptureStats(path=sys.argv[1], point="bench")
cpu = time.process_time()
n = sum(1 for _ in read_text(sys.argv[1], "bench", stats))
print(time.process_time() - cpu, n, sum(stats.skipped.values()))
"""
READ_TABLE = r"""
import sys, time
from nettrail.capture.base import CaptureStats
from nettrail.model.table import PacketTable
stats = CaptureStats(path=sys.argv[1], point="bench")
table = PacketTable("bench")
cpu = time.process_time()
try:
    from nettrail.capture.tcpdump_text import read_text_table
except ImportError:  # a source tree before it: records, then the table from them
    from nettrail.capture.tcpdump_text import read_text
    from nettrail.model.table import table_from_records
    table_from_records("bench", read_text(sys.argv[1], "bench", stats), table)
else:
    read_text_table(sys.argv[1], "bench", stats, table)
print(time.process_time() - cpu, len(table), sum(stats.skipped.values()))
"""


def _frames_bulk(rng: random.Random, packets: int) -> Iterator[bytes]:
    """Eight interleaved bulk transfers: full-size segments, an ACK every second one."""
    blob = rng.randbytes(8192)
    n = 0
    while n < packets:
        conns = [_Conn(rng, 1000 + i) for i in range(8)]
        for c in conns:
            for client, flags in ((True, SYN), (False, SYN | ACK), (True, ACK)):
                yield c.packet(client, flags, 0, blob, rng)
        for _ in range(2000):
            for c in conns:
                yield c.packet(False, ACK, 1448, blob, rng)
                yield c.packet(False, PSH | ACK, 1448, blob, rng)
                yield c.packet(True, ACK, 0, blob, rng)
        for c in conns:
            for client in (True, False):
                yield c.packet(client, FIN | ACK, 0, blob, rng)
            yield c.packet(True, ACK, 0, blob, rng)
        n += 8 * 6009


def _frames_short(rng: random.Random, packets: int) -> Iterator[bytes]:
    """Short connections one after another: handshake, request, reply, close."""
    blob = rng.randbytes(8192)
    n = 0
    while n < packets:
        c = _Conn(rng, n)
        for client, flags, plen in ((True, SYN, 0), (False, SYN | ACK, 0), (True, ACK, 0),
                                    (True, PSH | ACK, 120), (False, ACK, 0),
                                    (False, PSH | ACK, 900), (True, ACK, 0), (True, FIN | ACK, 0),
                                    (False, FIN | ACK, 0), (True, ACK, 0)):
            yield c.packet(client, flags, plen, blob, rng)
        n += 10


def _udp(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 1, 0x4000, 64, 17, 0, src, dst)
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    return b"\x02\x00\x00\x01\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip + udp + payload


def _dns(rng: random.Random) -> tuple[bytes, bytes]:
    """A DNS query for example.com and its answer."""
    ident = rng.randrange(65536)
    question = b"\x07example\x03com\x00\x00\x01\x00\x01"
    query = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question
    answer = (struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question
              + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04" + bytes([203, 0, 113, 5]))
    return query, answer


def write_pcap(path: Path, frames: Iterator[bytes], packets: int, linktype: int = 1) -> None:
    """``packets`` frames, 100 µs apart, to a pcap."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for i, frame in zip(range(packets), frames, strict=False):
            t = 1_700_000_000 * 1_000_000 + i * 100
            f.write(_REC.pack(t // 1_000_000, t % 1_000_000, len(frame), len(frame)) + frame)


def _records(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """(record header, frame) of each packet of a pcap."""
    with open(path, "rb") as f:
        f.read(24)
        while len(head := f.read(16)) == 16:
            yield head, f.read(_REC.unpack(head)[2])


def with_udp(src: Path, out: Path) -> None:
    """``src`` with every tenth packet a UDP datagram: DNS, and other ports."""
    rng = random.Random(3)
    frames = []
    for i, (_head, frame) in enumerate(_records(src)):
        if i % 10 == 9:
            client = bytes([198, 18, rng.randrange(256), rng.randrange(1, 255)])
            if i % 20 == 9:
                query, answer = _dns(rng)
                sport = rng.randrange(32768, 61000)
                frames.append(_udp(client, bytes([203, 0, 113, 53]), sport, 53, query))
                frames.append(_udp(bytes([203, 0, 113, 53]), client, 53, sport, answer))
            else:
                frames.append(_udp(client, bytes([203, 0, 113, 9]), 40000 + i % 1000, 9999,
                                   rng.randbytes(rng.randrange(20, 1200))))
        else:
            frames.append(frame)
    write_pcap(out, iter(frames), len(frames))


def _arp(rng: random.Random) -> bytes:
    """An ARP request for a host of 198.18.0.0/24."""
    sender, target = bytes([198, 18, 0, rng.randrange(1, 255)]), bytes([198, 18, 0, 1])
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, b"\x02\x00\x00\x00\x00\x02",
                      sender, b"\x00" * 6, target)
    return b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x02\x08\x06" + arp


def _icmp_echo(rng: random.Random, seq: int) -> bytes:
    """An ICMP echo request from a host of 198.18.0.0/16 to 203.0.113.1."""
    src = bytes([198, 18, rng.randrange(256), rng.randrange(1, 255)])
    icmp = struct.pack("!BBHHH", 8, 0, 0, 7, seq % 65536) + bytes(56)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0x4000, 64, 1, 0, src,
                     bytes([203, 0, 113, 1]))
    return b"\x02\x00\x00\x01\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip + icmp


def with_others(src: Path, out: Path) -> None:
    """``src`` with a packet of another form after every 60th: an ARP request, an ICMP echo
    request, NTP, or a datagram to port 53 that is not DNS (tcpdump prints it as mangled
    DNS, often with ``<``, ``&`` or ``=``)."""
    rng = random.Random(4)
    frames = []
    for i, (_head, frame) in enumerate(_records(src)):
        frames.append(frame)
        if i % 60 != 59:
            continue
        kind = i // 60 % 4
        client = bytes([198, 18, rng.randrange(256), rng.randrange(1, 255)])
        if kind == 0:
            frames.append(_arp(rng))
        elif kind == 1:
            frames.append(_icmp_echo(rng, i))
        elif kind == 2:
            ntp = bytes([0x23]) + bytes(47)
            frames.append(_udp(client, bytes([203, 0, 113, 5]), 123, 123, ntp))
        else:
            frames.append(_udp(client, bytes([203, 0, 113, 53]), rng.randrange(32768, 61000),
                               53, rng.randbytes(rng.randrange(20, 200))))
    write_pcap(out, iter(frames), len(frames))


def cooked(src: Path, out: Path) -> None:
    """``src`` as a Linux cooked (SLL2) capture of eth0, as ``tcpdump -i any`` writes."""
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 276))
        for head, frame in _records(src):
            sec, usec, _cap, _len = _REC.unpack(head)
            inbound = 0 if frame[:6] == b"\x02\x00\x00\x01\x00\x01" else 4
            sll = struct.pack("!HHIHBB8s", 0x0800, 0, _eth0(), 1, inbound, 6, frame[6:12])
            body = sll + frame[14:]
            f.write(_REC.pack(sec, usec, len(body), len(body)) + body)


def _eth0() -> int:
    """The ifindex tcpdump names eth0 on this machine (it names ifindexes by the local ones)."""
    try:
        return int(Path("/sys/class/net/eth0/ifindex").read_text())
    except OSError:
        return 1


def make_data(data: Path, packets: int, only: set[str] | None = None
              ) -> list[tuple[str, Path, Path]]:
    """(name, text, pcap) of every mix (those named in ``only``), made when missing: printing
    a text of 1,000,000 lines takes tcpdump up to a minute, so only the texts asked for are."""
    data.mkdir(parents=True, exist_ok=True)
    pcaps = {name: data / f"text-{name}-{packets}.pcap" for name in ("mix", "bulk", "short",
                                                                      "udp10", "any", "others")}
    if not pcaps["mix"].exists():
        generate(str(pcaps["mix"]), packets, 1)
    if not pcaps["bulk"].exists():
        write_pcap(pcaps["bulk"], _frames_bulk(random.Random(1), packets), packets)
    if not pcaps["short"].exists():
        write_pcap(pcaps["short"], _frames_short(random.Random(2), packets), packets)
    if not pcaps["udp10"].exists():
        with_udp(pcaps["mix"], pcaps["udp10"])
    if not pcaps["any"].exists():
        cooked(pcaps["mix"], pcaps["any"])
    if not pcaps["others"].exists():
        with_others(pcaps["short"], pcaps["others"])
    texts = [(name, [], pcap) for name, pcap in pcaps.items()]
    texts += [("mix -tttt", ["-tttt"], pcaps["mix"]), ("mix -tt", ["-tt"], pcaps["mix"]),
              ("mix -v", ["-v"], pcaps["mix"]), ("mix -e", ["-e"], pcaps["mix"]),
              ("mix -e -v", ["-e", "-v"], pcaps["mix"]), ("any -e", ["-e"], pcaps["any"])]
    out = []
    for name, flags, pcap in texts:
        if only and name not in only:
            continue
        text = data / f"text-{name.replace(' ', '')}-{packets}.txt"
        if not text.exists():
            with open(text, "wb") as f:
                subprocess.run(["tcpdump", "-n", *flags, "-r", str(pcap)], stdout=f,
                               stderr=subprocess.DEVNULL, check=True)
        out.append((name, text, pcap))
    return out


def child_cpu(cmd: list[str], env: dict[str, str] | None = None, out: bool = False
              ) -> tuple[float, str]:
    """(user+system CPU seconds, stdout if ``out``, else it goes to /dev/null) of a child run
    on one core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(ONE_CORE + cmd, stdout=subprocess.PIPE if out else subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return cpu, done.stdout.decode() if out else ""


def suite_text(data: Path) -> Path | None:
    """Every ``.out`` of tcpdump's own test suite, concatenated (None without the suite)."""
    suite = Path(os.environ.get("TCPDUMP_TESTS", "/work/shared/tcpdump-tests"))
    outs = sorted(suite.glob("*.out"))
    if not outs:
        return None
    text = data / "text-suite-outs.txt"
    if not text.exists():
        text.write_bytes(b"".join(out.read_bytes() for out in outs))
    return text


def _nettrail(script: str, text: Path, env: dict[str, str], strict: bool) -> float:
    _cpu, out = child_cpu([sys.executable, "-c", script, str(text)], env, out=True)
    secs, _n, skipped = out.split()
    if int(skipped) and strict:
        raise SystemExit(f"{text}: {skipped} lines not read")
    return float(secs)


def measure(text: Path, pcap: Path | None, runs: int, strict: bool = True) -> dict[str, float]:
    """Best CPU seconds of each reader over ``runs`` alternating rounds (nettrail to records
    and into a packet table; the peers on ``pcap``, when there is one)."""
    src = os.environ.get("NETTRAIL_SRC", str(HERE.parent / "src"))
    env = child_env(Path(src), PYTHONPATH=src)
    best = {"records": 1e9, "table": 1e9, "tshark": 1e9, "tcpdump": 1e9}
    for _ in range(runs):
        best["records"] = min(best["records"], _nettrail(READ, text, env, strict))
        best["table"] = min(best["table"], _nettrail(READ_TABLE, text, env, strict))
        if pcap is None:
            continue
        best["tshark"] = min(best["tshark"], child_cpu(["tshark", "-n", "-r", str(pcap)])[0])
        best["tcpdump"] = min(best["tcpdump"],
                              child_cpu(["tcpdump", "-n", "-r", str(pcap)])[0])
    return best


def main() -> None:
    """Generate (once), measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=HERE / "data")
    parser.add_argument("--only", help="comma-separated names of the texts to time (all)")
    args = parser.parse_args()
    print("| text | lines | nettrail into table lines/s | nettrail to records lines/s | "
          "tshark -r pkts/s | tcpdump -r pkts/s | load |")
    print("|---|---|---|---|---|---|---|")
    only = set(args.only.split(",")) if args.only else None
    texts: list[tuple[str, Path, Path | None]] = list(make_data(args.dir, args.packets, only))
    suite = suite_text(args.dir)
    if suite is not None:
        texts.append(("tcpdump suite .out (all)", suite, None))
    for name, text, pcap in texts:
        if only and name not in only:
            continue
        with open(text, "rb") as f:
            lines = sum(1 for _ in f)
        load = os.getloadavg()[0]
        best = measure(text, pcap, args.runs, strict=suite is None or text != suite)
        rates = {k: f"{lines / v:,.0f}" if v < 1e9 else "-" for k, v in best.items()}
        print(f"| {name} | {lines:,} | {rates['table']} | {rates['records']} | "
              f"{rates['tshark']} | {rates['tcpdump']} | {load:.1f}-{os.getloadavg()[0]:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
