"""The packet table path (columnar walkers, connections in bulk, the tracker only for the
unusual ones) and the reference path (every packet's record from the general reader, every
connection through the per-packet tracker) give the same single-point analysis, to the last
evidence line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import capkit as ck
from fixturekit import CAPTURES, fixture_table, json_of, reference_run
from nettrail.capture import open_capture, points, table_pcap, table_pcapng
from nettrail.capture.base import CaptureStats
from nettrail.capture.points import read_table
from nettrail.model.table import PacketTable
from nettrail.run import analyze_files

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000 * 1_000_000_000
C, S = "198.51.100.2", "203.0.113.10"
C6, S6 = "2001:db8::2", "2001:db8::10"
TS_OPT = b"\x01\x01\x08\x0a" + bytes(8)
SYN_OPTS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + bytes(8) + b"\x01\x03\x03\x07"


def both_paths(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, bool]:
    """(table-path JSON, reference JSON, whether any row was read as columns) of one file."""
    columnar = []
    real = points.read_table

    def spy(capture: Any, table: PacketTable, **kw: Any) -> None:
        try:
            real(capture, table, **kw)
        finally:
            columnar.append(any(len(b) > len(b.odd) for b in table.batches))

    with monkeypatch.context() as m:
        m.setattr(points, "read_table", spy)
        fast = analyze_files([("p", str(path))])
    slow = reference_run(path, monkeypatch)
    assert [str(e) for e in fast.errors] == [str(e) for e in slow.errors]
    return json_of(fast.analysis), json_of(slow.analysis), any(columnar)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_captures_same_analysis(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow, _taken = both_paths(path, monkeypatch)
    assert fast == slow


def test_generated_capture_same_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "gen.pcap"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_capture.py"), str(out),
                    "--packets", "6000", "--seed", "3"], check=True)
    fast, slow, taken = both_paths(out, monkeypatch)
    assert taken
    assert fast == slow
    kinds = {f["kind"] for f in fast["findings"]}
    assert {"refused", "reset", "syn-unanswered"} <= kinds
    assert len(fast["connections"]) > 300


def _conversation(ip: Any, c: str, s: str, frame: Any) -> list[bytes]:
    """Frames of a connection with every kind of header the fast path must get right or
    leave to the general decoder."""
    seg = ck.tcp
    return [frame(ip(c, s, seg(40000, 22, 0x02, 100, 0, 64240, SYN_OPTS))),
            frame(ip(s, c, seg(22, 40000, 0x12, 500, 101, 65000, SYN_OPTS))),
            frame(ip(c, s, seg(40000, 22, 0x10, 101, 501, 502, TS_OPT))),
            frame(ip(c, s, seg(40000, 22, 0x18, 101, 501, 502, TS_OPT, b"x" * 30))),
            frame(ip(c, s, seg(40000, 22, 0x18, 101, 501, 502, TS_OPT, b"x" * 30))),  # copy
            # malformed options (a length running past the header): general decoder
            frame(ip(s, c, seg(22, 40000, 0x10, 501, 131, 502, b"\x01\x08\x0a\x00"))),
            # options with EOL, then padding
            frame(ip(s, c, seg(22, 40000, 0x18, 501, 131, 502, b"\x01\x01\x00\x00",
                               b"y" * 10))),
            frame(ip(c, s, seg(40000, 22, 0x18, 101, 501, 502, TS_OPT, b"x" * 30))),  # retx
            frame(ip(c, s, seg(40000, 22, 0x04, 131, 0, 0)))]


def unusual_frames() -> list[tuple[int, bytes]]:
    """Five conversations, each on plain and VLAN-tagged Ethernet, then a few other frames."""
    def v4(src: str, dst: str, payload: bytes) -> bytes:
        return ck.ipv4(src, dst, 6, payload)

    def v4_opts(src: str, dst: str, payload: bytes) -> bytes:
        return ck.ipv4(src, dst, 6, payload, options=b"\x01\x01\x01\x00")

    def v4_tso(src: str, dst: str, payload: bytes) -> bytes:
        return ck.ipv4(src, dst, 6, payload, total=0)

    def v6(src: str, dst: str, payload: bytes) -> bytes:
        return ck.ipv6(src, dst, 6, payload)

    def v6_ext(src: str, dst: str, payload: bytes) -> bytes:
        return ck.ipv6(src, dst, 6, payload, ext=[(0, b"\x00\x00" + bytes(6))])

    frames: list[tuple[int, bytes]] = []
    t = T0
    for i, (ip, c, s) in enumerate([(v4, C, S), (v4_opts, C, "203.0.113.11"),
                                    (v4_tso, C, "203.0.113.12"), (v6, C6, S6),
                                    (v6_ext, C6, "2001:db8::11")]):
        for frame in (ck.eth if ":" not in c else (lambda p: ck.eth(p, etype=0x86DD)),
                      (lambda p: ck.eth(p, vlans=[7])) if ":" not in c
                      else (lambda p: ck.eth(p, etype=0x86DD, vlans=[7]))):
            for data in _conversation(ip, c, s, frame):
                t += 1_000_000 if i % 2 else 700_000_000
                frames.append((t, data))
    frames.append((t + 1, ck.eth(ck.ipv4(C, S, 17, ck.udp(5353, 53, b"q")))))
    frames.append((t + 2, ck.eth(ck.arp(1, ck.MAC_A, C, "00:00:00:00:00:00", S), 0x0806)))
    frames.append((t + 3, ck.eth(ck.ipv4(C, S, 6, ck.tcp(1, 2, 2))[:40])))  # cut short
    return frames


def test_unusual_frames_same_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = unusual_frames()
    for name, blob in {
        "eth.pcap": ck.pcap(frames),
        "eth-be-nano.pcap": ck.pcap(frames, big=True, nano=True),
        "snap.pcap": ck.pcap((ts, f[:60]) for ts, f in frames),
    }.items():
        path = tmp_path / name
        path.write_bytes(blob)
        fast, slow, taken = both_paths(path, monkeypatch)
        assert taken
        assert fast == slow, name
        assert fast["points"][0]["packets"] == len(frames)


# (IP version and IP ID, gap to the VLAN-tagged copy in ms, what is copied): (retransmissions,
# copies) by the copy rule. A copy comes within 5 ms, or within 100 ms when a nonzero IP ID
# ties it to the first sighting; IPv6 has no IP ID, and an IP ID of 0 ties nothing.
COPY_RULE_CASES = {
    ("v4-id", 3, "all"): (0, 8), ("v4-id", 9, "all"): (0, 8),
    ("v4-zero", 3, "all"): (0, 8), ("v4-zero", 9, "all"): (6, 0),
    ("v6", 3, "all"): (0, 8), ("v6", 9, "all"): (6, 0),
    ("v4-id", 3, "data"): (0, 2), ("v4-id", 9, "data"): (0, 2),
    ("v4-zero", 3, "data"): (0, 2), ("v4-zero", 9, "data"): (2, 0),
    ("v6", 3, "data"): (0, 2), ("v6", 9, "data"): (2, 0),
}


def copied_frames() -> list[tuple[int, bytes]]:
    """One closed connection per case of COPY_RULE_CASES (client port 41000 + its index),
    packets 20 ms apart on plain Ethernet, each copied (or only the data segments) on VLAN 7
    the case's gap later."""
    frames: list[tuple[int, bytes]] = []
    seg = ck.tcp
    for i, (ident, gap_ms, what) in enumerate(COPY_RULE_CASES):
        port = 41000 + i
        steps = [(True, seg(port, 22, 0x02, 100, 0, 64240)),
                 (False, seg(22, port, 0x12, 500, 101, 65000)),
                 (True, seg(port, 22, 0x10, 101, 501, 502)),
                 (True, seg(port, 22, 0x18, 101, 501, 502, payload=b"x" * 30)),
                 (False, seg(22, port, 0x18, 501, 131, 502, payload=b"y" * 10)),
                 (True, seg(port, 22, 0x11, 131, 511, 502)),
                 (False, seg(22, port, 0x11, 511, 132, 502)),
                 (True, seg(port, 22, 0x10, 132, 512, 502))]
        for n, (from_client, tcp) in enumerate(steps):
            t = T0 + i * 1_000_000_000 + n * 20_000_000
            if ident == "v6":
                src, dst = (C6, S6) if from_client else (S6, C6)
                ip, etype = ck.ipv6(src, dst, 6, tcp), 0x86DD
            else:
                src, dst = (C, S) if from_client else (S, C)
                ip, etype = ck.ipv4(src, dst, 6, tcp, ip_id=0 if ident == "v4-zero"
                                    else 7000 + n), 0x0800
            frames.append((t, ck.eth(ip, etype)))
            if what == "all" or len(tcp) > 20:  # every packet, or those with a payload
                frames.append((t + gap_ms * 1_000_000, ck.eth(ip, etype, vlans=[7])))
    return sorted(frames, key=lambda f: f[0])


def test_copies_and_retransmissions_by_the_copy_rule(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain and VLAN-tagged sightings of one packet, without an interface name: both paths
    call a repeat a copy or a retransmission as the copy rule says."""
    path = tmp_path / "copies.pcap"
    path.write_bytes(ck.pcap(copied_frames()))
    fast, slow, taken = both_paths(path, monkeypatch)
    assert taken
    assert fast == slow
    got = {c["client"]["port"]: (c["retransmissions"], c["copies"]) for c in fast["connections"]}
    assert got == {41000 + i: want for i, want in enumerate(COPY_RULE_CASES.values())}


@pytest.mark.parametrize("linktype", [113, 276])
def test_cooked_frames_same_analysis(linktype: int, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    frames: list[tuple[int, bytes]] = []
    t = T0
    for c, s, proto in ((C, S, 0x0800), (C6, S6, 0x86DD)):
        def ip(src: str, dst: str, payload: bytes, proto: int = proto) -> bytes:
            return ck.ipv4(src, dst, 6, payload) if proto == 0x0800 else ck.ipv6(src, dst, 6,
                                                                                  payload)
        for pkttype, ifindex in ((0, 3), (4, 5)):  # in on one device, out on another
            def frame(p: bytes, proto: int = proto, pkttype: int = pkttype,
                      ifindex: int = ifindex) -> bytes:
                if linktype == 113:
                    return ck.sll(p, proto, pkttype)
                return ck.sll2(p, proto, ifindex, pkttype)
            for data in _conversation(ip, c, s, frame):
                t += 300_000
                frames.append((t, data))
    path = tmp_path / "cooked.pcap"
    path.write_bytes(ck.pcap(frames, linktype))
    fast, slow, taken = both_paths(path, monkeypatch)
    assert taken
    assert fast == slow
    assert any(f["kind"] == "multi-interface-copy" for f in fast["findings"])


def test_fast_path_stops_at_the_same_fault(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [(T0 + i * 1000, ck.eth(ck.ipv4(C, S, 6, ck.tcp(40000, 22, 0x10, 100 + i))))
              for i in range(50)]
    path = tmp_path / "cut.pcap"
    path.write_bytes(ck.pcap(frames)[:-30])
    fast, slow, _taken = both_paths(path, monkeypatch)
    assert fast == slow
    assert fast["points"][0]["packets"] == 49


def test_small_chunks_same_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read in chunks smaller than a frame or two: records and blocks cut between chunks."""
    out = tmp_path / "unusual.pcap"
    out.write_bytes(ck.pcap(unusual_frames()))
    ng = tmp_path / "unusual.pcapng"
    ng.write_bytes(_pcapng(unusual_frames()))
    wholes = {path: both_paths(path, monkeypatch)[0] for path in (out, ng)}
    monkeypatch.setattr(table_pcap, "CHUNK", 150)
    monkeypatch.setattr(table_pcapng, "CHUNK", 150)
    for path, whole in wholes.items():
        fast, slow, taken = both_paths(path, monkeypatch)
        assert taken
        assert fast == slow
        assert fast["connections"] == whole["connections"]
        assert fast["findings"] == whole["findings"]
    assert {"retransmission", "multi-interface-copy"} <= {f["kind"] for f in fast["findings"]}


def _pcapng(frames: list[tuple[int, bytes]], linktype: int = 1) -> bytes:
    """The frames as a pcapng file (nanosecond interface), every tenth with a comment."""
    blocks = [ck.shb(), ck.idb(linktype, name="eth0", tsresol=9)]
    for i, (ts, data) in enumerate(frames):
        blocks.append(ck.epb(data, ts, comment="note" if i % 10 == 9 else None))
    return b"".join(blocks)


def test_pcapng_same_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = unusual_frames()
    path = tmp_path / "eth.pcapng"
    path.write_bytes(_pcapng(frames))
    fast, slow, taken = both_paths(path, monkeypatch)
    assert taken
    assert fast == slow
    assert fast["points"][0]["packets"] == len(frames)


@pytest.mark.parametrize("every", [1, 2, 3, 50])
def test_pcapng_with_options_on_many_blocks_same_analysis(
    every: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks with options (every one, every other, ...) among plain ones, runs of plain
    blocks looked for over a reach smaller than a block, then growing: the same analysis as
    the record reader, and the plain blocks read as columns. (A pcapng with options on every
    block once made the walk go over the rest of its buffer again after each of them.)"""
    frames = [ck.eth(ck.ipv4(C, S, 6, ck.tcp(40000, 80, 0x18, seq=1000 + 10 * j, ack=5)
                             + bytes(10 + j % 7))) for j in range(300)]
    blocks = [ck.shb(), ck.idb(1, name="eth0", tsresol=9)]
    blocks += [ck.epb(data, T0 + 1000 * j, comment="c" if j % every == 0 else None)
               for j, data in enumerate(frames)]
    path = tmp_path / "opts.pcapng"
    path.write_bytes(b"".join(blocks))
    monkeypatch.setattr(table_pcapng, "MIN_REACH", 40)
    table = PacketTable("p")
    table_pcapng.read_pcapng_table(str(path), table, CaptureStats(str(path), "p"))
    columns = sum(len(b) - len(b.odd) for b in table.batches)
    assert columns == sum(1 for j in range(len(frames)) if j % every)
    fast, slow, _taken = both_paths(path, monkeypatch)
    assert fast == slow
    assert fast["points"][0]["packets"] == len(frames)


@pytest.mark.parametrize("mix", ["web", "bulk", "short", "sll2"])
def test_generated_mixes_same_analysis(mix: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / f"{mix}.pcap"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_capture.py"), str(out),
                    "--packets", "60000", "--seed", "5", "--mix", mix], check=True)
    fast, slow, taken = both_paths(out, monkeypatch)
    assert taken
    assert fast == slow
    assert len(fast["connections"]) > 100
    if mix in ("web", "sll2"):  # the others resend too, but later than 60,000 packets in
        assert any(f["kind"] == "retransmission" for f in fast["findings"])


def test_record_of_a_column_row_matches_the_decoder(tmp_path: Path) -> None:
    """``PacketTable.record`` of a row read as columns carries the decoder's fields."""
    path = tmp_path / "eth.pcap"
    path.write_bytes(ck.pcap(unusual_frames()))
    table = PacketTable("p")
    read_table(open_capture(str(path), "p"), table)
    odd = table.odd_rows()
    records = list(open_capture(str(path), "p"))
    assert len(records) == len(table)
    checked = 0
    for i, rec in enumerate(records):
        got = table.record(i)
        if i in odd:
            assert got == rec._replace(data=None)
            continue
        checked += 1
        assert (got.ts_ns, got.frame, got.file, got.ifname, got.direction, got.wire_len) == (
            rec.ts_ns, rec.frame, rec.file, rec.ifname, rec.direction, rec.wire_len)
        assert got.headers.ip == rec.headers.ip
        want = rec.headers.l4
        assert got.headers.l4 is not None and want is not None
        assert got.headers.l4[:7] == want[:7]
        if hasattr(want, "options"):
            assert got.headers.l4.options.ts_val == want.options.ts_val
    assert checked >= 20  # the plain IPv4/IPv6 conversations, plain and VLAN-tagged


def test_hash_collisions_fall_back_to_the_keys(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections grouped by a hash of their key: every key colliding still groups right."""
    from nettrail.analyze import table_flows

    path = tmp_path / "eth.pcap"
    path.write_bytes(ck.pcap(unusual_frames()))
    fast, slow, _taken = both_paths(path, monkeypatch)
    monkeypatch.setattr(table_flows, "_HASH", np.uint64(0))
    collided, _slow, _taken = both_paths(path, monkeypatch)
    assert collided == fast == slow


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bulk_records_are_the_rows_records(path: Path) -> None:
    """``PacketTable.records`` builds a column row's record in bulk, positionally; it must be
    the record ``record(i)`` builds alone (``column_record``), with or without shared headers."""
    table = fixture_table(path)
    one_by_one = [table.record(i) for i in range(len(table))]
    assert list(table.records()) == one_by_one
    shared: dict[tuple[int, ...], Any] = {}
    assert list(table.records(shared)) == one_by_one == list(table.records(shared))
