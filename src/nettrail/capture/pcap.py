"""Classic pcap files (micro- and nanosecond magic, both byte orders) to PacketRecords.

The file is read in large chunks and records are cut out of the chunk with precompiled
``struct`` s; Ethernet + IPv4 + TCP frames take an inline fast path that builds the same
records ``decode.decode_frame_general`` would (a unit test compares them). Memory stays flat:
only the current chunk and the record being built are held.

Faults, each a CaptureError with the byte offset where reading stopped: an empty file, a short
file header, a wrong magic, a version other than 2, an unsupported link type (offset 20), a
record longer than 256 KiB (what libpcap accepts), a record header or body cut off by the end
of the file. A frame whose contents are damaged is not a fault (see ``decode``); nor is a
timestamp whose fraction is a second or more: the record gets ``time_ok=False``, a time at the
end of its second (its place in order) and one warning naming the frame.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator, Mapping

from nettrail.capture import decode, headers, linktypes
from nettrail.capture.base import CaptureStats, refill
from nettrail.errors import CaptureError
from nettrail.model import addr
from nettrail.model.packet import (
    NO_OPTIONS,
    Headers,
    IPHeader,
    PacketRecord,
    TCPHeader,
    TCPOptions,
)

MAGIC_US_LE = b"\xd4\xc3\xb2\xa1"
MAGIC_US_BE = b"\xa1\xb2\xc3\xd4"
MAGIC_NS_LE = b"\x4d\x3c\xb2\xa1"
MAGIC_NS_BE = b"\xa1\xb2\x3c\x4d"
MAGICS = {  # magic -> (struct byte order, ns per fraction unit)
    MAGIC_US_LE: ("<", 1000),
    MAGIC_US_BE: (">", 1000),
    MAGIC_NS_LE: ("<", 1),
    MAGIC_NS_BE: (">", 1),
}
FILE_HEADER_LEN = 24
RECORD_HEADER_LEN = 16
MAX_CAPLEN = 262144  # what libpcap accepts; more is a broken or foreign file


def read_pcap(
    path: str, point: str, stats: CaptureStats, ifnames: Mapping[int, str] | None = None
) -> Iterator[PacketRecord]:
    """Stream the records of pcap file ``path`` as capture point ``point``.

    Raises CaptureError (also stored in ``stats.error``) at the first fault, after yielding
    every good record before it. ``ifnames`` names Linux cooked v2 interface indexes.
    """
    stats.format = "pcap"
    return _read(path, point, stats, ifnames or {})


def parse_file_header(head: bytes, path: str) -> tuple[str, int, int, int]:
    """(byte order, ns per fraction unit, snaplen, link type) of a pcap file header."""
    if not head:
        raise CaptureError("empty file", path=path, offset=0)
    if len(head) < FILE_HEADER_LEN:
        raise CaptureError(f"truncated pcap file header ({len(head)} of 24 bytes)",
                           path=path, offset=0)
    magic = MAGICS.get(head[:4])
    if magic is None:
        raise CaptureError(f"not a pcap file (magic 0x{head[:4].hex()})", path=path, offset=0)
    order, unit = magic
    major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(order + "HHiIII",
                                                                           head, 4)
    if major != 2:
        raise CaptureError(f"unsupported pcap version {major}", path=path, offset=4)
    linktype = network & 0xFFFF
    if linktype not in decode.SUPPORTED_LINKTYPES:
        raise CaptureError(linktypes.unsupported(linktype), path=path, offset=20)
    return order, unit, snaplen, linktype


def _read(
    path: str, point: str, stats: CaptureStats, ifnames: Mapping[int, str]
) -> Iterator[PacketRecord]:
    """The reading generator: one frame for speed (no delegation per record)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise _store(stats, _os_error(exc, path, 0)) from exc
    frame = 0
    try:
        head = f.read(FILE_HEADER_LEN)
        order, unit, _snaplen, linktype = parse_file_header(head, path)
        magic, version = seam_marks(head, order)
        rec_unpack = struct.Struct(order + "IIII").unpack_from
        fast_unpack = decode.FAST.unpack_from
        fast_ts_unpack = decode.FAST_TS.unpack_from
        nop_nop_ts = headers.NOP_NOP_TS
        order_nop_nop_ts = headers.ORDER_NOP_NOP_TS
        fast = linktype == decode.LINKTYPE_ETHERNET
        slow = decode.decode_frame_general if fast else decode.decode_frame
        new = tuple.__new__
        crc32 = zlib.crc32
        addr_get = addr._addr4.get
        addr4 = addr.addr4
        eth_get = decode._eth4.get
        skipped = stats.skipped
        frac_limit = 1_000_000_000 // unit
        buf = b""
        base = FILE_HEADER_LEN  # file offset of buf[0]
        pos = 0
        while (got := refill(f, buf, pos, base)) is not None:
            buf, base = got
            pos = 0
            end = len(buf)
            while pos + 16 <= end:
                sec, frac, caplen, wire_len = rec_unpack(buf, pos)
                if caplen > MAX_CAPLEN:
                    raise CaptureError(f"absurd record length {caplen} (> {MAX_CAPLEN})",
                                       path=path, offset=base + pos, records=frame)
                if not caplen and sec == magic and frac == version:  # files joined with cat
                    if pos + FILE_HEADER_LEN > end:
                        break
                    file_seam(buf[pos : pos + FILE_HEADER_LEN], base + pos, linktype, order,
                              path, stats)
                    pos += FILE_HEADER_LEN
                    continue
                start = pos + 16
                stop = start + caplen
                if stop > end:
                    break
                frame += 1
                data = buf[start:stop]
                ts = sec * 1_000_000_000 + frac * unit
                pos = stop
                if frac >= frac_limit:
                    yield _bad_time(linktype, data, point, sec, frac, path, frame, wire_len,
                                    stats, ifnames, slow, base + start - 16)
                    continue
                if fast and caplen >= 54:
                    if caplen >= 66:
                        (macs, etype, vihl, tos, total, ip_id, frag, ttl, proto, _csum, saddr,
                         daddr, sport, dport, seq, ack, doff, flags, window, opt4, ts_val,
                         ts_ecr) = fast_ts_unpack(data)
                    else:
                        (macs, etype, vihl, tos, total, ip_id, frag, ttl, proto, _csum, saddr,
                         daddr, sport, dport, seq, ack, doff, flags, window) = fast_unpack(data)
                        opt4 = None
                    if (etype == 0x0800 and vihl == 0x45 and proto == 6 and total >= 40
                            and not frag & 0x1FFF):
                        hlen = (doff >> 4) << 2
                        if doff & 1:
                            flags |= 0x100
                        if hlen == 20:
                            options = NO_OPTIONS
                        elif caplen < 34 + hlen or hlen < 20:
                            options = None
                        elif hlen == 32 and opt4 == nop_nop_ts:
                            options = new(TCPOptions, (None, None, False, (), ts_val, ts_ecr,
                                                       order_nop_nop_ts))
                        else:
                            options, problem = headers.parse_tcp_options(data, 54, 34 + hlen)
                            if problem is not None:
                                options = None
                        if options is not None:
                            eth = eth_get(macs)
                            if eth is None:
                                eth = decode.eth_ipv4(macs)
                            src = addr_get(saddr)
                            if src is None:
                                src = addr4(saddr)
                            dst = addr_get(daddr)
                            if dst is None:
                                dst = addr4(daddr)
                            plen = total - 20 - hlen
                            if total + 14 > wire_len and total + 14 > caplen:  # cut on wire
                                plen = (wire_len if wire_len > caplen else caplen) - 34 - hlen
                            if plen > 0:
                                pstart = 34 + hlen
                                phash = crc32(data[pstart : pstart + (plen if plen < 64
                                                                      else 64)]) \
                                    if pstart < caplen else None
                            else:
                                plen = 0
                                phash = None
                            yield new(PacketRecord, (
                                point, ts, path, frame, None, None, wire_len,
                                new(Headers, (eth, new(IPHeader, (
                                    4, src, dst, 6, ttl, ip_id, total, frag & 0x4000 != 0, 0,
                                    frag & 0x2000 != 0, tos)), new(TCPHeader, (
                                        sport, dport, flags, seq, ack, window, plen, options,
                                        False)), None, phash)),
                                None, None, data, linktype, None, None, True, None))
                            continue
                yield _record(linktype, data, point, ts, path, frame, wire_len, skipped,
                              ifnames, slow)
        _check_tail(buf, pos, base, path, frame, rec_unpack)
    except OSError as exc:
        raise _store(stats, _os_error(exc, path, frame)) from exc
    except CaptureError as exc:
        raise _store(stats, exc) from None
    finally:
        f.close()
        stats.packets = frame


def _os_error(exc: OSError, path: str, frame: int) -> CaptureError:
    return CaptureError(f"cannot read: {exc.strerror or exc}", path=path, records=frame)


def _store(stats: CaptureStats, err: CaptureError) -> CaptureError:
    """Record ``err`` as the fault that ended reading, and return it to be raised."""
    stats.error = err
    return err


def _record(
    linktype: int,
    data: bytes,
    point: str,
    ts: int,
    path: str,
    frame: int,
    wire_len: int,
    skipped: dict[str, int],
    ifnames: Mapping[int, str],
    decoder: Callable[[int, bytes, int | None], decode.Frame],
    time_ok: bool = True,
) -> PacketRecord:
    """The general (slow) path: any link type, any protocol."""
    fr = decoder(linktype, data, wire_len)
    if fr.problem is not None:
        skipped[fr.problem] = skipped.get(fr.problem, 0) + 1
    ifname = None
    if fr.ifindex is not None:
        ifname = ifnames.get(fr.ifindex) or f"if{fr.ifindex}"
    return PacketRecord(point, ts, path, frame, ifname, fr.direction, wire_len, fr.headers,
                        fr.inner, fr.vni, data, linktype, time_ok=time_ok, tunnel=fr.tunnel)


def _bad_time(
    linktype: int,
    data: bytes,
    point: str,
    sec: int,
    frac: int,
    path: str,
    frame: int,
    wire_len: int,
    stats: CaptureStats,
    ifnames: Mapping[int, str],
    decoder: Callable[[int, bytes, int | None], decode.Frame],
    offset: int,
) -> PacketRecord:
    """A record whose time fraction is a second or more: it keeps its place, not its time."""
    stats.warnings.append(f"{path} at byte {offset}: frame {frame}: invalid timestamp "
                          f"fraction {frac} (a second or more); its time is not used")
    return _record(linktype, data, point, sec * 1_000_000_000 + 999_999_999, path, frame,
                   wire_len, stats.skipped, ifnames, decoder, time_ok=False)


def file_seam(at: bytes, offset: int, linktype: int, order: str, path: str,
              stats: CaptureStats) -> None:
    """A pcap file header ``at`` (its 24 bytes) found where a record should start, of the
    same magic and version as the file's own (``seam_marks``): files joined with ``cat``.
    Their records are read on (a warning names the first such header); of another link
    type, it is a fault there."""
    other = struct.unpack_from(order + "I", at, 20)[0] & 0xFFFF
    if other != linktype:
        raise CaptureError(f"a second pcap file header, of link type {other} (not {linktype}): "
                           "files joined with cat? (mergecap -w merged.pcapng a.pcap b.pcap "
                           "merges captures)", path=path, offset=offset)
    if not any("pcap file header" in w for w in stats.warnings):
        stats.warnings.append(f"{path} at byte {offset}: a second pcap file header (files "
                              "joined with cat?): the records after it are read on, as after "
                              "any more")


def seam_marks(head: bytes, order: str) -> tuple[int, int]:
    """The first two 32-bit words of a pcap file header (magic, version) as a record header's
    time fields read them: a record with them and no bytes is another file's header."""
    first, second = struct.unpack_from(order + "II", head)
    return first, second


def _check_tail(
    buf: bytes,
    pos: int,
    base: int,
    path: str,
    frame: int,
    rec_unpack: Callable[[bytes, int], tuple[int, ...]],
) -> None:
    """Raise for bytes left after the last whole record (a cut-off file)."""
    left = len(buf) - pos
    if left <= 0:
        return
    if left < RECORD_HEADER_LEN:
        raise CaptureError(f"truncated record header ({left} of 16 bytes)", path=path,
                           offset=base + pos, records=frame)
    caplen = rec_unpack(buf, pos)[2]
    raise CaptureError(f"truncated record ({left - 16} of {caplen} bytes of packet data)",
                       path=path, offset=base + pos, records=frame)
