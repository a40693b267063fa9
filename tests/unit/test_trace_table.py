"""The columnar decoding of a batch says what the per-event decoder says, row for row.

Random frames (Ethernet with and without VLAN tags, raw IP, IPv4 options, fragments, TCP
with options and the AE bit, UDP to tunnel ports, ICMP, lengths that lie, bytes cut short)
go through ``Decoder.table``; every row's columns, JSON line, timeline line and pcapng block
must equal what the full ``TraceEvent`` of that row gives.
"""

from __future__ import annotations

import io
import json
import random
import struct
from typing import Any

import numpy as np
from test_trace_decode import ANCHOR, CT, DROP_NAMES, RST_NAMES, Names, batch, raw

from nettrail.model.packet import TCPHeader, UDPHeader
from nettrail.report import trace_json, trace_text
from nettrail.report.trace_pcapng import PcapngOut
from nettrail.trace import layout as L
from nettrail.trace.decode import Decoder

ADDRS = ["198.51.100.4", "203.0.113.223", "198.18.0.7", "198.18.200.1"]


def ip4(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def random_frame(rng: random.Random) -> tuple[bytes, int]:
    """(bytes, link) of a random packet, mostly well formed, sometimes not."""
    proto = rng.choice([6, 6, 6, 17, 17, 1, 47])
    if proto == 6:
        doff = rng.choice([5, 5, 8, 6, 4])
        l4 = struct.pack("!HHIIBBHHH", rng.randrange(65536), rng.choice([22, 80, 5201]),
                         rng.getrandbits(32), rng.getrandbits(32), doff << 4 | rng.getrandbits(1),
                         rng.getrandbits(8), rng.randrange(65536), 0, 0)
        l4 += b"\x01\x01\x08\x0a" + bytes(8) if doff == 8 else bytes(max(doff - 5, 0) * 4)
    elif proto == 17:
        length = rng.choice([8 + 16, 8, 3, 9000])
        l4 = struct.pack("!HHHH", rng.randrange(65536), rng.choice([53, 4789, 6081, 5201]),
                         length, 0)
    else:
        l4 = bytes([8, 0, 0, 0]) + bytes(4)
    payload = bytes(rng.choice([0, 0, 16, 100]))
    ihl = rng.choice([5, 5, 5, 6])
    opts = bytes((ihl - 5) * 4)
    total = 20 + len(opts) + len(l4) + len(payload)
    total = rng.choice([total, total, 0, 12, total + 1000, 20 + len(opts) + 4])
    frag = rng.choice([0x4000, 0x4000, 0x2000, 0x0010])
    ip = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, rng.randrange(65536), frag, 64,
                     proto, 0, ip4(rng.choice(ADDRS)), ip4(rng.choice(ADDRS))) + opts
    packet = ip + l4 + payload
    link = rng.choice([L.LINK_ETH, L.LINK_ETH, L.LINK_RAW])
    if link == L.LINK_RAW:
        return packet, link
    tags = b"".join(struct.pack("!HH", 0x8100, rng.randrange(4096))
                    for _ in range(rng.choice([0, 0, 1, 2])))
    return b"\x02" * 6 + b"\x04" * 6 + tags + b"\x08\x00" + packet, link


def random_records(rng: random.Random, n: int) -> list[tuple[Any, ...]]:
    out = []
    for i in range(n):
        data, link = random_frame(rng)
        kind = rng.choice([L.KIND_XMIT, L.KIND_XMIT, L.KIND_RECV, L.KIND_DROP])
        flags = L.EV_DEV | rng.choice([0, L.EV_TRACKED])
        rec = list(raw(kind, rng.choice([1, 2, 3]), rng.choice(["eth0", "qg-1", ""]),
                       data[: rng.choice([128, 128, 60, 20])], ts=1000 + i,
                       skb=rng.choice([0, 0xA0, 0xB0, 0xC0]),
                       first=rng.choice([0, 900 + i // 3]), flags=flags,
                       reason=rng.choice([3, 6]), ct=CT if rng.random() < 0.1 else None))
        rec[L.RECORD_INDEX["link"]] = link
        out.append(tuple(rec))
    return out


def test_rows_equal_their_events() -> None:
    rng = random.Random(7)
    records = random_records(rng, 3000)
    table = Decoder(ANCHOR, Names(), reasons=(DROP_NAMES, RST_NAMES)).table(batch(records))
    assert len(table) == 3000
    plain = table.plain.tolist()
    assert 200 < sum(plain) < 2800  # both paths are exercised
    json_lines = trace_json.table_lines(table)
    assert trace_json.table_text(table) == "".join(json_lines)
    text_lines = trace_text.table_lines(table)
    pk = table.packet
    for i in range(len(table)):
        ev = table.event(i)
        assert json_lines[i] == json.dumps(trace_json.event_record(ev)) + "\n", i
        assert text_lines[i] == trace_text.event_line(ev), i
        if plain[i]:
            assert ev.packet is not None and ev.packet.inner is None
            ip, l4 = ev.packet.headers.ip, ev.packet.headers.l4
            assert ip is not None and isinstance(l4, TCPHeader | UDPHeader)
            assert (ip.ip_id, ip.proto, l4.sport, l4.dport, l4.payload_len) == (
                pk.ip_id[i], pk.proto[i], pk.sport[i], pk.dport[i], pk.payload_len[i])
            if isinstance(l4, TCPHeader):
                assert (l4.seq, l4.ack, l4.window, l4.flags) == (
                    pk.seq[i], pk.ack[i], pk.window[i], pk.tcp_flags[i])


def test_json_of_plain_batches_and_times_before_one_second() -> None:
    """A batch of plain rows only is written in one piece; times in the epoch's first second
    (a clock anchor of 0) have no seconds digits before their nanoseconds."""
    records = plain_heavy(5, 3000)
    for anchor in (ANCHOR, 0, 999_996_000):
        decoder = Decoder(anchor, Names(), reasons=(DROP_NAMES, RST_NAMES))
        for start in range(0, len(records), 1000):
            table = decoder.table(batch(records[start : start + 1000]))
            lines = [json.dumps(trace_json.event_record(ev)) + "\n" for ev in table.events()]
            assert trace_json.table_lines(table) == lines
            assert trace_json.table_text(table) == "".join(lines)
        plain = decoder.table(batch(records[:400]))
        rows = [i for i, p in enumerate(plain.plain.tolist()) if p]
        assert len(rows) > 300
        only = decoder.table(batch([records[i] for i in rows]))
        assert bool(only.plain.all())
        assert trace_json.table_text(only) == "".join(
            json.dumps(trace_json.event_record(ev)) + "\n" for ev in only.events())


def test_packet_ids_match_one_event_at_a_time() -> None:
    """A batch gives every row the packet id a decoder fed one record at a time gives."""
    rng = random.Random(11)
    records = random_records(rng, 2000)
    one = Decoder(ANCHOR, Names(), reasons=(DROP_NAMES, RST_NAMES))
    singly = [one.event(r).packet_id for r in records]
    many = Decoder(ANCHOR, Names(), reasons=(DROP_NAMES, RST_NAMES))
    ids: list[int] = []
    for start in range(0, len(records), 300):
        ids += many.table(batch(records[start : start + 300])).packet_id.tolist()
    assert ids == singly
    assert len(set(singly)) > 10


def pcapng_both(records: list[tuple[Any, ...]], size: int, kinds: set[str] | None = None,
                by_device: bool = False) -> tuple[tuple[io.BytesIO, io.BytesIO],
                                                  tuple[PcapngOut, PcapngOut], int]:
    """``records`` in batches of ``size`` written to two pcapng files, from the columns and
    event by event (the events of left-out kinds skipped): the files, their writers and how
    many rows were plain."""
    files = io.BytesIO(), io.BytesIO()
    outs = (PcapngOut(files[0], host="h", kinds=kinds, by_device=by_device),
            PcapngOut(files[1], host="h", kinds=kinds, by_device=by_device))
    decoders = [Decoder(ANCHOR, Names(), reasons=(DROP_NAMES, RST_NAMES)) for _ in outs]
    plain = 0
    for start in range(0, len(records), size):
        chunk = batch(records[start : start + size])
        table = decoders[0].table(chunk)
        plain += int(table.plain.sum())
        outs[0].write(table)
        for ev in decoders[1].table(chunk).events():
            if kinds is None or ev.kind in kinds:
                outs[1].write_event(ev)
    return files, outs, plain


def test_pcapng_rows_equal_their_events() -> None:
    """The pcapng file written from the columns is the one written event by event, NAT notes
    between batches included."""
    records = random_records(random.Random(13), 3000)
    files, _outs, plain = pcapng_both(records, 700)
    assert plain > 200
    assert files[0].getvalue() == files[1].getvalue()
    assert files[0].getvalue().count(b"NAT ") > 20


def plain_heavy(seed: int, n: int) -> list[tuple[Any, ...]]:
    """Random records, mostly plain (long runs of them), one in about 60 not."""
    rng = random.Random(seed)
    records = random_records(rng, 4 * n)
    plain = Decoder(ANCHOR, Names(), reasons=(DROP_NAMES, RST_NAMES)).table(
        batch(records)).plain.tolist()
    easy = [r for r, p in zip(records, plain, strict=True) if p]
    odd = [r for r, p in zip(records, plain, strict=True) if not p]
    out = []
    for i in range(n):
        out.append(odd[i % len(odd)] if rng.random() < 1 / 60 else easy[i % len(easy)])
    return out


def pcapng_blocks(data: bytes) -> tuple[list[bytes], list[bytes]]:
    """(interface blocks, packet blocks) of a pcapng section, each in file order; every packet's
    interface is described before it."""
    ifaces: list[bytes] = []
    packets: list[bytes] = []
    at = struct.unpack_from("<I", data, 4)[0]  # past the section header
    while at < len(data):
        kind, length = struct.unpack_from("<II", data, at)
        block = data[at : at + length]
        if kind == 1:
            ifaces.append(block)
        else:
            assert kind == 6
            assert struct.unpack_from("<I", block, 8)[0] < len(ifaces)
            packets.append(block)
        at += length
    return ifaces, packets


def test_pcapng_long_plain_runs_equal_their_events() -> None:
    """Runs of plain rows long enough to be written as arrays give the blocks written event
    by event: NAT notes within a batch and across batches, kinds left out, device names.
    (A run's new interfaces are described before its first packet, not each right before
    its own first packet.)"""
    records = plain_heavy(17, 4000)
    for kinds, by_device in ((None, False), ({"xmit", "recv"}, True), ({"recv"}, False)):
        files, outs, plain = pcapng_both(records, 900, kinds=kinds, by_device=by_device)
        assert plain > 3500
        assert outs[0].packets == outs[1].packets > 500
        assert pcapng_blocks(files[0].getvalue()) == pcapng_blocks(files[1].getvalue())
        assert kinds == {"recv"} or files[0].getvalue().count(b"NAT ") > 20


def test_timeline_text_of_many_packets_is_each_packet_rendered() -> None:
    """``packets_text`` says what ``render_packet`` says of each packet in turn: NAT notes,
    events of no packet, offsets past the fixed width and before the first line."""
    records = random_records(random.Random(19), 3000)
    table = Decoder(ANCHOR, Names(), reasons=(DROP_NAMES, RST_NAMES)).table(batch(records))
    lines = trace_text.table_lines(table)
    by_packet: dict[int, list[trace_text.Line]] = {}
    for pid, line in zip(table.packet_id.tolist(), lines, strict=True):
        by_packet.setdefault(pid, []).append(line)
    packets = [(pid, group, True) for pid, group in by_packet.items()]
    long = next(group for group in by_packet.values() if len(group) >= 4)
    far = [(7, [(line[0] + shift, *line[1:]) for line, shift in zip(
        long, (0, 2_000_000_000_000, -5_000, 999_999_999), strict=False)], False)]
    packets += [*far, (8, [], False)]
    expected = io.StringIO()
    for pid, group, moved in packets:
        trace_text.render_packet(pid, group, expected, False, moved)
    text = trace_text.packets_text(packets)
    assert text == expected.getvalue()
    assert text.count("NAT ") > 20


def test_offset_texts() -> None:
    values = [0, 1, 999, 1000, 12_345, 999_999_999, 1_000_000_000, 123_456_789_012, -1, -1000,
              -123_456, 5 * 10**15]
    assert trace_text.offset_texts(np.array(values, np.int64)) == [
        f"  +{v / 1000:10.3f}us  " for v in values]
