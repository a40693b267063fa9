"""Write a large, realistic Ethernet pcap for benchmarks.

    python bench/gen_capture.py OUT.pcap --packets 1000000 --seed 1 [--mix web|bulk|short|sll2]

The ``web`` mix (the default): many interleaved TCP connections (about 400 open at a time)
between clients in 198.18.0.0/15 and servers in 203.0.113.0/24: SYN/SYN-ACK/ACK with Linux-like
options, request/response data with timestamps, FIN closes, and a share of failures: refused
(RST to SYN, 5%), reset after the handshake (3%), unanswered SYNs retried (1%) and data segments
retransmitted after an RTO-like gap (2%). ``bulk``: long transfers of full-size (1448-byte)
segments from the server, the client acknowledging every other one, 0.5% of segments
retransmitted, and 10% of all packets UDP (DNS-like queries and answers). ``short``: many short
connections (handshake, one request, one answer, close) with the web mix's failures, and 10%
UDP. ``sll2``: the web mix as a ``tcpdump -i any`` capture (Linux cooked v2) on a VLAN: the
802.1Q tag re-inserted after the cooked header, packets in on one interface index and out on
another. Deterministic for a given seed and mix.
"""

from __future__ import annotations

import argparse
import heapq
import random
import struct
from collections.abc import Generator, Iterator

SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10
CONCURRENT = 400
_IP = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_REC = struct.Struct("<IIII")

# Each step of a connection: (delay before it in s, from client?, flags, payload length).
Step = tuple[float, bool, int, int]


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class _Conn:
    """One TCP connection's addresses, sequence numbers and timestamps."""

    def __init__(self, rng: random.Random, n: int) -> None:
        self.cip = bytes([198, 18 + (n >> 16) % 2, (n >> 8) & 0xFF, n & 0xFF or 1])
        self.sip = bytes([203, 0, 113, 10 + n % 20])
        self.cport = 32768 + rng.randrange(28000)
        self.sport = rng.choice((80, 443, 5432, 8080))
        self.cseq = rng.getrandbits(32)
        self.sseq = rng.getrandbits(32)
        self.cmac = bytes([0x02, 0, 0, 0, (n >> 8) & 0xFF, n & 0xFF])
        self.smac = bytes([0x02, 0, 0, 1, 0, 1])
        self.ip_id = [rng.randrange(65536), rng.randrange(65536)]
        self.ts = rng.getrandbits(31)

    def packet(self, client: bool, flags: int, plen: int, blob: bytes, rng: random.Random,
               advance: bool = True) -> bytes:
        """Build the Ethernet frame of one segment and advance sequence numbers."""
        if client:
            src, dst, sp, dp = self.cip, self.sip, self.cport, self.sport
            seq, ack, smac, dmac = self.cseq, self.sseq, self.cmac, self.smac
        else:
            src, dst, sp, dp = self.sip, self.cip, self.sport, self.cport
            seq, ack, smac, dmac = self.sseq, self.cseq, self.smac, self.cmac
        self.ts += 1
        if flags & SYN:
            opts = (struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02"
                    + struct.pack("!BBII", 8, 10, self.ts, 0 if client else self.ts - 7)
                    + b"\x01\x03\x03\x07")
        elif flags & RST:
            opts = b""
        else:
            opts = b"\x01\x01\x08\x0a" + struct.pack("!II", self.ts, self.ts - 3)
        hlen = 20 + len(opts)
        tcp = _TCP.pack(sp, dp, seq, ack if flags & ACK else 0, (hlen // 4) << 4, flags,
                        64240 if flags & SYN else 502, 0, 0) + opts
        off = rng.randrange(len(blob) - 1500)
        payload = blob[off : off + plen]
        side = 0 if client else 1
        self.ip_id[side] = (self.ip_id[side] + 1) & 0xFFFF
        total = 20 + hlen + plen
        ip = _IP.pack(0x45, 0, total, self.ip_id[side], 0x4000, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        if advance:
            step = plen + (1 if flags & (SYN | FIN) else 0)
            if client:
                self.cseq = (self.cseq + step) & 0xFFFFFFFF
            else:
                self.sseq = (self.sseq + step) & 0xFFFFFFFF
        frame = dmac + smac + b"\x08\x00" + ip + tcp + payload
        return frame + b"\x00" * (60 - len(frame)) if len(frame) < 60 else frame


def _script(rng: random.Random) -> Iterator[Step]:
    """The steps of one connection, failures included."""
    r = rng.random()
    if r < 0.05:  # refused
        yield 0.0, True, SYN, 0
        yield 0.0002, False, RST | ACK, 0
        return
    if r < 0.06:  # SYN never answered
        for delay in (0.0, 1.0, 2.0):
            yield delay, True, SYN, 0
        return
    yield 0.0, True, SYN, 0
    yield 0.0003, False, SYN | ACK, 0
    yield 0.0003, True, ACK, 0
    for _ in range(rng.randrange(1, 12)):
        yield 0.001, True, PSH | ACK, rng.randrange(60, 400)
        yield 0.0002, False, ACK, 0
        yield 0.002, False, PSH | ACK, rng.randrange(200, 1449)
        yield 0.0003, True, ACK, 0
    if r < 0.09:  # reset after the handshake
        yield 0.01, False, RST | ACK, 0
        return
    yield 0.01, True, FIN | ACK, 0
    yield 0.0003, False, FIN | ACK, 0
    yield 0.0003, True, ACK, 0


def _bulk_script(rng: random.Random) -> Iterator[Step]:
    """A transfer of full-size segments, acknowledged every other one."""
    yield 0.0, True, SYN, 0
    yield 0.0003, False, SYN | ACK, 0
    yield 0.0003, True, ACK, 0
    yield 0.0005, True, PSH | ACK, rng.randrange(80, 300)
    for i in range(rng.randrange(50, 400)):
        yield 0.00012, False, ACK, 1448
        if i % 2:
            yield 0.00005, True, ACK, 0
    yield 0.001, False, FIN | ACK, 0
    yield 0.0003, True, FIN | ACK, 0
    yield 0.0003, False, ACK, 0


def _short_script(rng: random.Random) -> Iterator[Step]:
    """Handshake, one request, one answer, close; the web mix's failures."""
    r = rng.random()
    if r < 0.06:
        yield from _script(rng)  # a failure of the web mix's kinds (or a longer one)
        return
    yield 0.0, True, SYN, 0
    yield 0.0003, False, SYN | ACK, 0
    yield 0.0003, True, ACK, 0
    yield 0.0002, True, PSH | ACK, rng.randrange(60, 400)
    yield 0.002, False, PSH | ACK, rng.randrange(200, 1449)
    yield 0.001, True, FIN | ACK, 0
    yield 0.0003, False, FIN | ACK, 0
    yield 0.0003, True, ACK, 0


SCRIPTS = {"web": _script, "bulk": _bulk_script, "short": _short_script, "sll2": _script}
RESEND = {"web": 0.02, "bulk": 0.005, "short": 0.02, "sll2": 0.02}
UDP_SHARE = {"web": 0.0, "bulk": 0.1, "short": 0.1, "sll2": 0.0}


def _connection(
    rng: random.Random, n: int, blob: bytes, mix: str = "web"
) -> Generator[tuple[float, bytes], None, None]:
    """(delay, frame) pairs of one connection, with occasional retransmissions."""
    conn = _Conn(rng, n)
    for delay, client, flags, plen in SCRIPTS[mix](rng):
        if plen and rng.random() < RESEND[mix]:
            yield delay, conn.packet(client, flags, plen, blob, rng, advance=False)
            delay = 0.2 + rng.random() * 0.05
        yield delay, conn.packet(client, flags, plen, blob, rng)


def _udp(rng: random.Random, n: int) -> bytes:
    """A DNS-like UDP query or answer between a client and a resolver."""
    cip = bytes([198, 18, (n >> 8) & 0xFF, n & 0xFF or 1])
    sip = bytes([203, 0, 113, 53])
    query = rng.random() < 0.5
    src, dst = (cip, sip) if query else (sip, cip)
    sport, dport = (40000 + n % 20000, 53) if query else (53, 40000 + n % 20000)
    payload = rng.randbytes(rng.randrange(30, 120 if query else 400))
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = _IP.pack(0x45, 0, 20 + len(udp), rng.randrange(65536), 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return bytes([0x02, 0, 0, 0, 0, 9]) + bytes([0x02, 0, 0, 1, 0, 1]) + b"\x08\x00" + ip + udp


def _sll2(frame: bytes, vlan: int, rng: random.Random) -> bytes:
    """An Ethernet frame as ``tcpdump -i any`` writes it: cooked v2, the VLAN tag after."""
    inbound = rng.random() < 0.5
    head = struct.pack("!HHiHBB8s", 0x8100, 0, 3 if inbound else 4, 1, 0 if inbound else 4, 6,
                       frame[6:12] + b"\0\0")
    return head + struct.pack("!HH", vlan, 0x0800) + frame[14:]


def generate(out: str, packets: int, seed: int, mix: str = "web") -> int:
    """Write ``packets`` frames of ``mix`` to ``out``; return the number written."""
    rng = random.Random(seed)
    blob = rng.randbytes(8192)
    heap: list[tuple[float, int, bytes, Generator[tuple[float, bytes], None, None]]] = []
    now, started, written = 1_700_000_000.0, 0, 0
    linktype = 276 if mix == "sll2" else 1
    udp_share = UDP_SHARE[mix]
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        while written < packets:
            while len(heap) < CONCURRENT:
                started += 1
                gen = _connection(rng, started, blob, mix)
                _delay, first = next(gen)
                heapq.heappush(heap, (now + rng.random() * 0.001, started, first, gen))
            if udp_share and rng.random() < udp_share:
                frame = _udp(rng, written)
                sec = int(now)
                f.write(_REC.pack(sec, int((now - sec) * 1e6), len(frame), len(frame)) + frame)
                written += 1
                continue
            now, n, frame, gen = heapq.heappop(heap)
            if mix == "sll2":
                frame = _sll2(frame, 100 + n % 3, rng)
            sec = int(now)
            f.write(_REC.pack(sec, int((now - sec) * 1e6), len(frame), len(frame)) + frame)
            written += 1
            for delay, following in gen:
                heapq.heappush(heap, (now + delay, n, following, gen))
                break
    return written


def main() -> None:
    """Command line: OUT --packets N --seed S --mix M."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mix", choices=sorted(SCRIPTS), default="web")
    args = parser.parse_args()
    n = generate(args.out, args.packets, args.seed, args.mix)
    print(f"wrote {n} packets to {args.out}")


if __name__ == "__main__":
    main()
