"""Single-point tracking of a pcap file in one loop: reading and tracking fused.

For an Ethernet pcap, :func:`track_pcap` reads the file as ``capture.segments`` does and feeds
each common frame (IPv4 without options + TCP with well-formed options) to the tracker
without leaving the loop: the same steps as ``FlowTracker._consume``, inlined, on the same
state. Every other frame becomes a segment through ``capture.segments.other_frame`` or the
general decoder and goes through ``FlowTracker._consume``; other link types use the
``capture.segments`` generator. Less than half the time of reading records and tracking them;
the unit tests compare the analysis with the general path on every test capture.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Any

from nettrail.analyze import flows
from nettrail.analyze.flows import FlowTracker, gc_paused
from nettrail.capture import Capture, decode
from nettrail.capture.pcap import (
    CHUNK,
    FILE_HEADER_LEN,
    MAX_CAPLEN,
    _check_tail,
    _os_error,
    _record,
    _store,
    parse_file_header,
)
from nettrail.capture.segments import ETH_IP4_TCP, ID_WIN, NOP_NOP_TS, options_ok, other_frame
from nettrail.errors import CaptureError

Seg = flows.Seg
_FRAME_MASK = (1 << 40) - 1


def track_pcap(tracker: FlowTracker, capture: Capture, part: int = -1) -> bool:
    """Track every packet of ``capture`` in ``tracker`` the quick way; False (nothing read)
    when the capture is not a pcap file. Faults as the readers: the CaptureError is stored in
    ``capture.stats`` and raised after every packet before it was tracked. With ``part`` 0 or
    1 (Ethernet pcap only), only the connections whose :func:`key_part` is ``part`` are
    tracked; every record is read and counted, and each frame the general decoder takes is
    counted in ``stats.skipped`` by the one part that owns it (see ``analyze.parallel``)."""
    if capture.format != "pcap":
        return False
    capture.reset_stats()
    stats = capture.stats
    stats.format = "pcap"
    path = capture.path
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise _store(stats, _os_error(exc, path, 0)) from exc
    try:
        head = parse_file_header(f.read(FILE_HEADER_LEN), path)
        if head[3] != decode.LINKTYPE_ETHERNET:
            if part >= 0:
                raise ValueError("connections are split only in Ethernet pcap files")
            f.close()
            segments = capture.segments(tracker.segment)
            assert segments is not None
            tracker.consume_segments(segments)
            return True
        with gc_paused():
            _loop(tracker, capture, f, head[0], head[1], part)
    except OSError as exc:
        raise _store(stats, _os_error(exc, path, stats.packets)) from exc
    except CaptureError as exc:
        raise _store(stats, exc) from None
    finally:
        f.close()
    return True


def key_part(key: bytes) -> int:
    """0 or 1: the half of the connections a key (either direction) belongs to."""
    size = (len(key) - 4) >> 1
    return (key[size - 1] ^ key[2 * size - 1] ^ key[-3] ^ key[-1]) & 1


def _loop(
    tracker: FlowTracker, capture: Capture, f: Any, order: str, unit: int, part: int = -1
) -> None:
    """Read and track an Ethernet pcap from after its file header.

    The tracking steps are ``FlowTracker._consume``'s, with literal slot numbers; keep the
    two in step (the equivalence tests compare the results)."""
    path, point, stats, ifnames = capture.path, capture.point, capture.stats, capture.ifnames
    rec_unpack = struct.Struct(order + "IIII").unpack_from
    eth_unpack = ETH_IP4_TCP.unpack_from
    id_win = ID_WIN.unpack_from
    nop_nop_ts = NOP_NOP_TS
    # a Linux SYN's options: mss, sackOK, TS, nop, wscale (the lengths are what matter)
    mss, sack_ts, nop_ws = b"\x02\x04", b"\x04\x02\x08\x0a", b"\x01\x03\x03"
    other = other_frame(decode.LINKTYPE_ETHERNET, ifnames)
    general = tracker.segment
    one = tracker._consume
    skipped = stats.skipped
    slow = decode.decode_frame_general
    get = tracker._conns.get
    new_conn = tracker._new_conn
    repeat = tracker._repeat
    pure_repeat = tracker._pure_repeat
    control = tracker._control
    reopens = flows._reopens
    window = flows.COPY_WINDOW_NS
    mask = flows._MASK
    half = flows._HALF
    recent = flows._RECENT
    view: list[Any] = [b"", 0]  # the chunk in memory and its file offset, for the resolver
    tracker.resolve = _resolver(f.fileno(), view, rec_unpack, unit, path)
    buf = b""
    base = FILE_HEADER_LEN  # file offset of buf[0]
    pos = 0
    frame = slow_frames = 0
    last_sec = -1
    sec_ns = 0
    sig: Seg | None
    ref: Seg | int
    try:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            buf = buf[pos:] + chunk if pos < len(buf) else chunk
            base += pos
            pos = 0
            end = len(buf)
            view[0] = buf
            view[1] = base
            rbase = base - 16  # file offset of a record = rbase + start of its frame
            while pos + 16 <= end:
                sec, frac, caplen, wire_len = rec_unpack(buf, pos)
                if caplen > MAX_CAPLEN:
                    raise CaptureError(f"absurd record length {caplen} (> {MAX_CAPLEN})",
                                       path=path, offset=base + pos, records=frame)
                start = pos + 16
                stop = start + caplen
                if stop > end:
                    break
                frame += 1
                pos = stop
                if part >= 0 and ((caplen < 38 and part == 1) or (caplen >= 38 and (
                        buf[start + 29] ^ buf[start + 33] ^ buf[start + 35]
                        ^ buf[start + 37]) & 1 != part)):
                    # the other part's frame (key_part of the bytes where an IPv4 TCP
                    # key is): its decoding is counted there, its connection tracked there,
                    # unless the key is elsewhere (not IPv4 TCP without IP options)
                    if caplen < 38 or (buf[start + 12 : start + 15] == b"\x08\x00\x45"
                                       and buf[start + 23] == 6
                                       and not (buf[start + 20] & 0x1F or buf[start + 21])):
                        continue
                    data = buf[start:stop]
                    ts = sec * 1_000_000_000 + frac * unit
                    slow_frames += 1
                    seg = other(data, ts, frame, path)
                    if seg is None:
                        seg = general(_record(decode.LINKTYPE_ETHERNET, data, point, ts, path,
                                              frame, wire_len, {}, ifnames, slow))
                    one((seg if seg is not None and key_part(seg[11]) == part else None,))
                    continue
                if caplen >= 54:
                    e_hi, e_lo, vihl, total, f_hi, f_lo, proto, seq, ack, doff, flags = \
                        eth_unpack(buf, start)
                    if (e_hi == 8 and e_lo == 0 and vihl == 0x45 and proto == 6 and total >= 40
                            and not (f_hi & 0x1F or f_lo)):  # IPv4, TCP, not a fragment
                        hlen = (doff >> 4) << 2
                        # the usual options first: timestamps alone, a Linux SYN's set
                        if (hlen == 32 and caplen >= 66
                                and buf[start + 54 : start + 58] == nop_nop_ts) or (
                                hlen == 20 or (hlen > 20 and caplen >= 34 + hlen and (
                                    (hlen == 40 and buf[start + 54 : start + 56] == mss
                                     and buf[start + 58 : start + 62] == sack_ts
                                     and buf[start + 70 : start + 73] == nop_ws)
                                    or options_ok(buf, start + 54, start + 34 + hlen)))):
                            plen = total - 20 - hlen
                            if plen < 0:
                                plen = 0
                            if sec != last_sec:  # one multiplication per second
                                last_sec = sec
                                sec_ns = sec * 1_000_000_000
                            ts = sec_ns + frac * unit
                            key = buf[start + 26 : start + 38]
                            # FlowTracker._consume, for absolute seq numbers. What is
                            # remembered of a segment is where it is in the file (an int),
                            # or the tuple when one was built anyway: fewer long-lived
                            # objects, the dearest part of tracking.
                            entry = get(key)
                            if entry is None or (flags & 0x12 == 2
                                                 and reopens(entry, seq, ts)):
                                entry = new_conn((ts, seq, ack, flags, plen, None, None, None,
                                                  None, frame, path, key, False, None))
                            st, ds, fc = entry
                            st[1] += 1
                            st[3] = ts
                            if flags & 7:  # SYN, FIN, RST: the tuple is needed
                                ip_id, win = id_win(buf, start + 18)
                                sig = (ts, seq, ack, flags, plen, win, ip_id, None, None,
                                       frame, path, None, False, None)
                                ref = sig
                            else:
                                sig = None
                                ref = (rbase + start) << 40 | frame
                            if plen or flags & 3:  # data, SYN or FIN
                                high = ds[0]
                                send = seq + plen + (1 if flags & 3 else 0)
                                if (high is None or 0 < send - high < half
                                        or send - high < -half):
                                    ds[0] = send if send <= mask else send & mask
                                    ds[3] = ref
                                    ds[6] = ts
                                    ds[7] = seq
                                    ds[8] = ack
                                    cur = ds[1]
                                    cur[seq] = ref
                                    if len(cur) >= recent:
                                        ds[2] = cur
                                        ds[1] = {}
                                elif repeat(st, ds, sig or (ts, seq, ack, flags, plen,
                                                            *id_win(buf, start + 18)[::-1],
                                                            None, None, frame, path, None,
                                                            False, None), seq):
                                    continue
                            elif ds[3] is not None and ds[8] == ack and ds[7] == seq and \
                                    ts - ds[6] <= window:
                                if pure_repeat(st, ds, sig or (ts, seq, ack, flags, plen,
                                                               *id_win(buf, start + 18)[::-1],
                                                               None, None, frame, path, None,
                                                               False, None)):
                                    continue
                            else:
                                ds[3] = ref
                                ds[6] = ts
                                ds[7] = seq
                                ds[8] = ack
                            if sig is not None:
                                control(st, fc, sig, flags, seq)
                            elif not st[0] & 12 and fc and flags & 16:
                                st[0] |= 4
                            if plen:
                                ds[4] += plen
                            continue
                data = buf[start:stop]
                ts = sec * 1_000_000_000 + frac * unit
                slow_frames += 1
                seg = other(data, ts, frame, path)
                if seg is None:
                    seg = general(_record(decode.LINKTYPE_ETHERNET, data, point, ts, path,
                                          frame, wire_len, skipped, ifnames, slow))
                if part >= 0 and seg is not None and key_part(seg[11]) != part:
                    seg = None  # counted, not tracked: the other half's
                one((seg,))
        _check_tail(buf, pos, base, path, frame, rec_unpack)
    finally:
        stats.packets = frame
        tracker.packets += frame - slow_frames  # the others were counted by _consume
        _resolve_all(tracker)
        tracker.resolve = flows._no_reference


def _resolver(
    fd: int, view: list[Any], rec_unpack: Any, unit: int, path: str
) -> Callable[[int], Seg]:
    """Segment references of this loop (file offset << 40 | frame) back to segments, from
    the chunk in memory (``view``: bytes, file offset) or read again from the file (only a
    segment seen again needs it)."""
    eth_unpack = ETH_IP4_TCP.unpack_from
    id_win = ID_WIN.unpack_from

    def resolve(ref: int) -> Seg:
        offset = ref >> 40
        raw, at = view
        if at <= offset and offset + 66 <= at + len(raw):
            at = offset - at
        else:
            raw, at = os.pread(fd, 66, offset), 0
        sec, frac, _caplen, _wire_len = rec_unpack(raw, at)
        _e, _e, _vihl, total, _f, _f, _proto, seq, ack, doff, flags = eth_unpack(raw, at + 16)
        ip_id, win = id_win(raw, at + 34)
        plen = total - 20 - ((doff >> 4) << 2)
        return (sec * 1_000_000_000 + frac * unit, seq, ack, flags, plen if plen > 0 else 0,
                win, ip_id, None, None, ref & _FRAME_MASK, path, None, False, None)

    return resolve


def _resolve_all(tracker: FlowTracker) -> None:
    """Replace every reference left in the tracker's state by its segment, while the file
    is open (the next file's references would mean other bytes)."""
    resolve = tracker.resolve
    for _st, ds, _fc in tracker._conns.values():
        if ds[3].__class__ is int:
            ds[3] = resolve(ds[3])
        for gen in (ds[1], ds[2]):
            if gen:  # most are empty: finished connections are slimmed
                for seq in [seq for seq, v in gen.items() if v.__class__ is int]:
                    gen[seq] = resolve(gen[seq])
