"""Ring buffer records -> numpy columns, a whole batch at once.

``RECORD_DTYPE`` is ``layout.RECORD`` (ring header + ``struct nt_event``) as a numpy
structured type, so a batch of records is one ``np.frombuffer``; ``STACK_RECORD_DTYPE`` the
larger record of a trace with kernel stacks (the same fields, then the stack).
``packet_columns`` reads the Ethernet (VLAN tags skipped) or raw IP, IPv4 and TCP/UDP header
fields of every row's packet bytes with one offset walk and vectorised gathers; rows whose
packet is anything else (IPv6, ICMP, ARP, fragments, possible tunnels, bad headers) are left
to the per-event decoder.
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from nettrail.model.arrays import I64
from nettrail.model.event_table import PacketColumns
from nettrail.trace import layout as L

VXLAN_PORT = 4789
GENEVE_PORT = 6081
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_MAX_TAGS = 2


def _dtype(stack: bool = False) -> np.dtype[np.void]:
    names, formats, offsets = [], [], []
    pos = 0
    extra = [("stack", f"{L.STACK_DEPTH}Q")] if stack else []
    for name, fmt in [*L.RING_HEADER, *L.EVENT, *extra]:
        size = struct.calcsize("<" + fmt)
        names.append(name)
        if fmt.endswith("s") and name == "ifname":
            formats.append(f"S{size}")
        elif fmt.endswith("s"):
            formats.append(f"({size},)u1")
        elif name == "stack":
            formats.append(f"({L.STACK_DEPTH},)<u8")
        else:
            formats.append("<" + fmt.replace("Q", "u8").replace("I", "u4").replace("i", "i4")
                           .replace("H", "u2").replace("B", "u1"))
        offsets.append(pos)
        pos += size
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": L.record_struct(stack).size})


RECORD_DTYPE = _dtype()
STACK_RECORD_DTYPE = _dtype(stack=True)
_DATA = RECORD_DTYPE.fields["data"][1] if RECORD_DTYPE.fields else 0
Records = npt.NDArray[np.void]


def records(buf: bytes, stack: bool = False) -> Records:
    """A batch of ring records (a whole number of ``layout.record_struct(stack).size``) as rows."""
    return np.frombuffer(buf, STACK_RECORD_DTYPE if stack else RECORD_DTYPE)


_IP4 = np.dtype([("vihl", "u1"), ("tos", "u1"), ("total", ">u2"), ("ip_id", ">u2"),
                 ("frag", ">u2"), ("ttl", "u1"), ("proto", "u1"), ("csum", ">u2"),
                 ("src", ">u4"), ("dst", ">u4")])
_L4 = np.dtype([("sport", ">u2"), ("dport", ">u2"), ("seq", ">u4"), ("ack", ">u4"),
                ("doff", "u1"), ("flags", "u1"), ("window", ">u2")])
_ETH_TYPE = np.dtype([("type", ">u2"), ("inner", ">u2")])


def _at(data: npt.NDArray[np.uint8], off: I64, dtype: np.dtype[np.void]) -> Records:
    """Every row's bytes at its own offset ``off``, viewed as ``dtype`` (zeros past the end).

    Offsets take few distinct values (the header lengths seen), so this is one slice copy
    per distinct offset rather than a gather per byte.
    """
    size = dtype.itemsize
    width = data.shape[1]
    low, high = (int(off.min()), int(off.max())) if len(off) else (0, 0)
    if low == high and low + size <= width:
        return np.ascontiguousarray(data[:, low : low + size]).view(dtype).reshape(len(data))
    values = np.unique(off).tolist()
    out = np.zeros((len(data), size), np.uint8)
    for at in values:
        rows = np.flatnonzero(off == at)
        end = min(at + size, width)
        out[rows, : end - at] = data[rows, at:end]
    return out.view(dtype).reshape(len(data))


def packet_columns(rec: Records) -> tuple[npt.NDArray[np.bool_], PacketColumns]:
    """(simple, columns): which rows hold an IPv4 TCP or UDP packet the columns describe."""
    n = len(rec)
    data = rec.view(np.uint8).reshape(n, rec.dtype.itemsize)[:, _DATA : _DATA + L.PKT_BYTES]
    cap = rec["cap_len"].astype(np.int64)
    eth = rec["link"] == L.LINK_ETH
    l3 = np.where(eth, 14, 0).astype(np.int64)
    ethertype = np.where(eth, _at(data, np.full(n, 12, np.int64), _ETH_TYPE)["type"], 0x0800)
    for _ in range(_MAX_TAGS):
        tagged = eth & np.isin(ethertype, _VLAN_TPIDS)
        if not tagged.any():
            break
        ethertype = np.where(tagged, _at(data, l3, _ETH_TYPE)["inner"], ethertype)
        l3 = np.where(tagged, l3 + 4, l3)
    ip = _at(data, l3, _IP4)
    vihl = ip["vihl"].astype(np.int64)
    ihl = (vihl & 15) * 4
    total = ip["total"].astype(np.int64)
    l4 = l3 + ihl
    ok = ((rec["flags"] & L.EV_PKT) != 0) & (rec["link"] != L.LINK_NONE) & (ethertype == 0x0800)
    ok &= (vihl >> 4 == 4) & (ihl >= 20) & (cap >= l4) & ((ip["frag"] & 0x1FFF) == 0)
    ok &= total >= ihl
    l4 = np.where(ok, l4, 0)
    hdr = _at(data, l4, _L4)
    proto = ip["proto"]
    dport = hdr["dport"]
    tcp = ok & (proto == 6) & (cap >= l4 + 20)
    doff = hdr["doff"].astype(np.int64)
    hlen = (doff >> 4) * 4
    tcp &= hlen >= 20
    udp = ok & (proto == 17) & (cap >= l4 + 8) & (dport != VXLAN_PORT) & (dport != GENEVE_PORT)
    ulen = (hdr["seq"] >> 16).astype(np.int64)  # UDP length: the bytes TCP's seq starts with
    room = total - ihl
    udp_plen = np.where((ulen >= 8) & (ulen <= room), ulen - 8, np.maximum(room - 8, 0))
    plen = np.where(tcp, np.maximum(room - hlen, 0), udp_plen)
    cols = PacketColumns(
        proto=proto.astype(np.uint8),
        src=ip["src"].astype(np.uint32),
        dst=ip["dst"].astype(np.uint32),
        sport=hdr["sport"].astype(np.uint16),
        dport=dport.astype(np.uint16),
        tcp_flags=(hdr["flags"].astype(np.uint16) | ((doff & 1) << 8)).astype(np.uint16),
        seq=hdr["seq"].astype(np.uint32),
        ack=hdr["ack"].astype(np.uint32),
        window=hdr["window"].astype(np.uint16),
        payload_len=plen,
        ip_id=ip["ip_id"].astype(np.uint16),
        wire_len=rec["pkt_len"].astype(np.uint32),
        frame=data,
        cap_len=np.where((rec["flags"] & L.EV_PKT) != 0, np.minimum(cap, L.PKT_BYTES), 0)
        .astype(np.uint16),
        link_eth=eth,
    )
    return tcp | udp, cols
