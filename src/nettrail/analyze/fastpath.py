"""Single-point tracking of a pcap file in one loop: reading and tracking fused.

For an Ethernet pcap, :func:`track_pcap` reads the file as ``capture.segments`` does and feeds
each common frame (IPv4 without options + TCP with well-formed options) to the tracker
without leaving the loop: the same steps as ``FlowTracker._consume``, inlined, on the same
state. Every other frame becomes a segment through ``capture.segments.other_frame`` or the
general decoder and goes through ``FlowTracker._consume``; other link types use the
``capture.segments`` generator. About half the time of reading records and tracking them;
the unit tests compare the analysis with the general path on every test capture.
"""

from __future__ import annotations

import struct
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
from nettrail.capture.segments import ETH_IP4_TCP, NOP_NOP_TS, options_ok, other_frame
from nettrail.errors import CaptureError


def track_pcap(tracker: FlowTracker, capture: Capture) -> bool:
    """Track every packet of ``capture`` in ``tracker`` the quick way; False (nothing read)
    when the capture is not a pcap file. Faults as the readers: the CaptureError is stored in
    ``capture.stats`` and raised after every packet before it was tracked."""
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
            f.close()
            segments = capture.segments(tracker.segment)
            assert segments is not None
            tracker.consume_segments(segments)
            return True
        with gc_paused():
            _loop(tracker, capture, f, head[0], head[1])
    except OSError as exc:
        raise _store(stats, _os_error(exc, path, stats.packets)) from exc
    except CaptureError as exc:
        raise _store(stats, exc) from None
    finally:
        f.close()
    return True


def _loop(tracker: FlowTracker, capture: Capture, f: Any, order: str, unit: int) -> None:
    """Read and track an Ethernet pcap from after its file header.

    The tracking steps are ``FlowTracker._consume``'s, with literal slot numbers; keep the
    two in step (the equivalence tests compare the results)."""
    path, point, stats, ifnames = capture.path, capture.point, capture.stats, capture.ifnames
    rec_unpack = struct.Struct(order + "IIII").unpack_from
    eth_unpack = ETH_IP4_TCP.unpack_from
    nop_nop_ts = NOP_NOP_TS
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
    buf = b""
    base = FILE_HEADER_LEN  # file offset of buf[0]
    pos = 0
    frame = fast = 0
    try:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            buf = buf[pos:] + chunk if pos < len(buf) else chunk
            base += pos
            pos = 0
            end = len(buf)
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
                if caplen >= 54:
                    etype, vihl, total, ip_id, frag, proto, seq, ack, doff, flags, win = \
                        eth_unpack(buf, start)
                    if (etype == 0x0800 and vihl == 0x45 and proto == 6 and total >= 40
                            and not frag & 0x1FFF):
                        hlen = (doff >> 4) << 2
                        if hlen == 20 or (hlen > 20 and caplen >= 34 + hlen and (
                                (hlen == 32 and buf[start + 54 : start + 58] == nop_nop_ts)
                                or options_ok(buf, start + 54, start + 34 + hlen))):
                            plen = total - 20 - hlen
                            if plen < 0:
                                plen = 0
                            ts = sec * 1_000_000_000 + frac * unit
                            key = buf[start + 26 : start + 38]
                            sig = (ts, seq, ack, flags, plen, win, ip_id, None, None, frame,
                                   path, key, False, None)
                            fast += 1
                            # FlowTracker._consume, for absolute seq numbers
                            entry = get(key)
                            if entry is None or (flags & 0x12 == 2
                                                 and reopens(entry, seq, ts)):
                                entry = new_conn(sig)
                            st, ds, fc = entry
                            st[1] += 1
                            st[3] = ts
                            if plen or flags & 3:  # data, SYN or FIN
                                high = ds[0]
                                send = seq + plen + (1 if flags & 3 else 0)
                                if (high is None or 0 < send - high < half
                                        or send - high < -half):
                                    ds[0] = send if send <= mask else send & mask
                                    ds[3] = sig
                                    cur = ds[1]
                                    cur[seq] = sig
                                    if len(cur) >= recent:
                                        ds[2] = cur
                                        ds[1] = {}
                                elif repeat(st, ds, sig, seq):
                                    continue
                            else:
                                prev = ds[3]
                                if flags & 3 or (prev is not None and prev[2] == ack
                                                 and prev[1] == seq and ts - prev[0] <= window):
                                    if pure_repeat(st, ds, sig, prev):
                                        continue
                                else:
                                    ds[3] = sig
                            if flags & 7:
                                control(st, fc, sig, flags, seq)
                            elif not st[0] & 12 and fc and flags & 16:
                                st[0] |= 4
                            if plen:
                                ds[4] += plen
                            continue
                data = buf[start:stop]
                ts = sec * 1_000_000_000 + frac * unit
                seg = other(data, ts, frame, path)
                if seg is None:
                    seg = general(_record(decode.LINKTYPE_ETHERNET, data, point, ts, path,
                                          frame, wire_len, skipped, ifnames, slow))
                one((seg,))
        _check_tail(buf, pos, base, path, frame, rec_unpack)
    finally:
        stats.packets = frame
        tracker.packets += fast
