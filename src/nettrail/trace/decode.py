"""Ring buffer records -> an ``EventTable`` per batch; ``TraceEvent`` s with their sections
built from a row on demand.

A batch is decoded at once: numpy columns for the fixed fields and the packet headers
(``columns``), kinds and namespace names per batch, packet ids in one pass over the rows. A
row's full event (its packet decoded by the capture decoder, its sections named) is built
only when a writer or the analyzer asks for it.
"""

from __future__ import annotations

import errno
import ipaddress
import struct
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from nettrail.capture.decode import LINKTYPE_ETHERNET, LINKTYPE_RAW, decode_frame
from nettrail.model.event import (
    CT_INFO,
    CT_STATUS,
    TCP_STATES,
    ConntrackSection,
    CtTuple,
    DeviceSection,
    DropSection,
    PacketSection,
    ResetSection,
    SocketSection,
    StackSection,
    TraceEvent,
)
from nettrail.model.event_table import EventTable
from nettrail.model.flow import Endpoint
from nettrail.trace import btf, columns
from nettrail.trace import layout as L
from nettrail.trace.kallsyms import Kallsyms
from nettrail.trace.netns_names import NetnsNames, Switches
from nettrail.trace.rows import Raw, Rows, same_skb

_I = L.RECORD_INDEX
TS, SKB, FIRST, NETNS, IFINDEX, REASON = (_I["ts_ns"], _I["skb"], _I["first_ns"], _I["netns"],
                                          _I["ifindex"], _I["reason"])
CT_STATUS_I, STACK_LEN, PKT_LEN, CPU, KIND, FLAGS = (_I["ct_status"], _I["stack_len"],
                                                    _I["pkt_len"], _I["cpu"], _I["kind"],
                                                    _I["flags"])
CAP_LEN, LINK, CT_INFO_I, SK_STATE, TAIL = (_I["cap_len"], _I["link"], _I["ct_info"],
                                            _I["sk_state"], _I["tail"])
DEV_FLAGS = _I["dev_flags"]
HANDOVER_NS = 50_000_000
"""How long after a frame is handed to a switch its copy may leave another port (ns)."""
IFNAME, DATA = L.tail_slice("ifname"), L.tail_slice("data")
CT_ORIG = L.tail_slice("ct_orig.src").start
CT_REPLY = L.tail_slice("ct_reply.src").start
SOCK = L.tail_slice("sock.src").start
TUPLE = struct.Struct(L.fmt_of(L.TUPLE))
MAX_IDS = 1 << 16
KIND_HANDED = 0xFF
"""The kind code of a hand-over (a drop the kernel reports, which is no loss): not a kernel's."""
_KIND_TABLE = np.array([L.KIND_NAMES.get(code, "unknown") for code in range(max(L.KIND_NAMES) + 2)],
                       dtype=object)
Ids = npt.NDArray[np.int64]
TRACER_FRAMES = ("bpf_prog_", "bpf_trace_run", "__bpf_trace_", "__traceiter_")
"""Innermost frames that are the tracer itself (the program and the tracepoint's call into it),
not the kernel path traced: bpf_get_stack sometimes records ``__traceiter_*`` too."""


class _Handed(NamedTuple):
    """A packet handed to a switch: its id, when, and the devices its copies left by."""

    packet_id: int
    mono: int
    left_by: set[int]


def addr(raw: bytes, family: int) -> str:
    """Text of an address stored in 16 bytes (IPv4 in the first four)."""
    if family == 4:
        return "%d.%d.%d.%d" % tuple(raw[:4])  # noqa: UP031 - fastest here
    return ipaddress.IPv6Address(raw[:16]).compressed


def _tuple(raw: Raw, at: int) -> tuple[int, Endpoint, Endpoint]:
    src, dst, sport, dport, proto, family, _ = TUPLE.unpack_from(raw[TAIL], at)
    return proto, Endpoint(addr(src, family), sport), Endpoint(addr(dst, family), dport)


def _status(bits: int) -> tuple[str, ...]:
    return tuple(name for bit, name in CT_STATUS if bits & (1 << bit))


class Decoder:
    """Turns raw events into ``TraceEvent`` s: names namespaces, reasons and stack frames.

    ``stacks``: the records are those of a trace with kernel stacks
    (``layout.STACK_RECORD_STRUCT``: each event followed by its stack), and every event gets
    a stack section, saying so when the kernel could not record its stack. ``syms``
    symbolizes the addresses (default: /proc/kallsyms, read when first needed).
    """

    def __init__(self, anchor_ns: int, names: NetnsNames | None = None,
                 stacks: bool = False,
                 reasons: tuple[dict[int, str], dict[int, str]] | None = None,
                 switches: Switches | None = None, syms: Kallsyms | None = None) -> None:
        self.anchor_ns = anchor_ns
        self.stacks = stacks
        self.record = L.record_struct(stacks)
        self.switches = switches if switches is not None else Switches()
        # per (netns, fingerprint): packets handed to a switch, oldest first: id, time, and
        # the devices a copy of it already left by
        self._handed: dict[tuple[int, tuple[int, ...]], deque[_Handed]] = {}
        self.names = names if names is not None else NetnsNames()
        self._syms = syms
        if reasons is None:
            reasons = (btf.enum_names("skb_drop_reason", "SKB_DROP_REASON_"),
                       btf.enum_names("sk_rst_reason", "SK_RST_REASON_"))
        self._drop, self._rst = reasons
        self._otherhost = [code for code, name in self._drop.items() if name == "OTHERHOST"]
        self._ids: dict[tuple[int, ...], int] = {}
        self._next_id = 1

    def _packet_id(self, key: tuple[int, ...]) -> int:
        pid = self._ids.get(key)
        if pid is None:
            if len(self._ids) >= MAX_IDS:
                self._ids.clear()
            pid = self._ids[key] = self._next_id
            self._next_id += 1
        return pid

    def event(self, raw: Raw) -> TraceEvent:
        """One ``TraceEvent`` from a raw tuple (``self.record`` order): a batch of one."""
        return self.table(self.record.pack(*raw)).event(0)

    def table(self, buf: bytes) -> EventTable:
        """The events of a batch of ring records (``self.record.size`` bytes each)."""
        rec = columns.records(buf, self.stacks)
        simple, pk = columns.packet_columns(rec)
        kinds = self._kinds(rec)
        netns = rec["netns"]
        names = {ino: self.names.name(ino) for ino in np.unique(netns).tolist()}
        rows = Rows(buf, rec, self.packet, simple, pk, self.record)
        ids = self._ids_of(rec, kinds, rows)
        flags = rec["flags"]
        kind_codes = rec["kind"]
        plain = simple & ((kind_codes == L.KIND_XMIT) | (kind_codes == L.KIND_RECV))
        plain &= (flags & (L.EV_CT | L.EV_SOCK | L.EV_STACK)) == 0
        if self.stacks:  # every event has a stack section, recorded or saying it was not
            plain[:] = False

        def build(i: int) -> TraceEvent:
            return self._event(rows.raw(i), kinds[i], int(ids[i]), rows.packet(i))

        return EventTable(
            anchor_ns=self.anchor_ns, mono_ns=rec["ts_ns"], kind=kinds,
            kind_code=np.where(self._handed_rows(rec), KIND_HANDED, kind_codes).astype(np.uint8),
            cpu=rec["cpu"],
            netns_inode=netns, netns_names=names, has_device=(flags & L.EV_DEV) != 0,
            ifindex=rec["ifindex"], ifname=rec["ifname"], packet_id=ids,
            followed=(flags & (L.EV_TRACKED | L.EV_CONN)) != 0, plain=plain, packet=pk,
            build=build)

    def _kinds(self, rec: columns.Records) -> list[str]:
        """Kind names of the rows; a drop that is a hand-over to a packet socket is ``handed``."""
        codes = rec["kind"]
        kinds: list[str] = _KIND_TABLE[np.minimum(codes, len(_KIND_TABLE) - 1)].tolist()
        for i in np.flatnonzero(self._handed_rows(rec)).tolist():
            kinds[i] = "handed"
        return kinds

    def _handed_rows(self, rec: columns.Records) -> npt.NDArray[np.bool_]:
        """Which rows are drops that hand the frame to a packet socket."""
        drops: npt.NDArray[np.bool_] = rec["kind"] == L.KIND_DROP
        if drops.any():
            drops &= np.isin(rec["reason"], self._otherhost)
            drops &= (rec["dev_flags"] & L.DEV_PACKET_SOCKET) != 0
        return drops

    def _ids_of(self, rec: columns.Records, kinds: list[str], rows: Rows) -> Ids:
        """The packet id of every row (0 without an skb), in row order.

        A followed skb is known by (skb, first-match time); another by the skb and its
        packet's identity (IP ID, TCP sequence or UDP length, protocol). Known keys are
        looked up for the whole batch at once; only a packet's first row takes a new id.
        """
        if self._handed or "handed" in kinds:
            return self._ids_joining(rec, kinds, rows)
        skb, first = rec["skb"], rec["first_ns"]
        group, firsts = same_skb(skb, first)
        alone = np.flatnonzero((first == 0) & (skb != 0))  # keyed by their packet, row by row
        at = np.union1d(firsts[skb[firsts] != 0], alone).astype(np.intp)
        pids = np.array([self._ids.get(key) or self._packet_id(key)
                         for key in rows.keys(at)], np.int64)
        ids = np.zeros(len(skb), np.int64)
        by_group = np.zeros(len(firsts), np.int64)
        led = first[at] != 0
        by_group[group[at[led]]] = pids[led]
        ids[at[~led]] = pids[~led]
        followed = first != 0
        ids[followed] = by_group[group[followed]]
        return ids

    def _ids_joining(self, rec: columns.Records, kinds: list[str], rows: Rows) -> Ids:
        """``_ids_of`` row by row, joining frames handed to a switch with their copies."""
        out = [0] * len(kinds)
        netns, ifindex = rec["netns"].tolist(), rec["ifindex"].tolist()
        mono = rec["ts_ns"].tolist()
        for i, skb in enumerate(rec["skb"].tolist()):
            if skb:
                out[i] = self._joined(rows.key(i), kinds[i], netns[i], ifindex[i], mono[i],
                                      rows.fingerprint, i)
        return np.array(out, np.int64)

    def _event(self, raw: Raw, kind: str, packet_id: int,
               packet: PacketSection | None) -> TraceEvent:
        flags = int(raw[FLAGS])
        netns_inode = int(raw[NETNS])
        mono = int(raw[TS])
        return TraceEvent(
            time_ns=mono + self.anchor_ns,
            mono_ns=mono,
            kind=kind,
            cpu=int(raw[CPU]),
            netns=self.names.name(netns_inode),
            netns_inode=netns_inode,
            packet_id=packet_id,
            followed=bool(flags & (L.EV_TRACKED | L.EV_CONN)),
            device=self._device(raw) if flags & L.EV_DEV else None,
            packet=packet,
            conntrack=self._conntrack(raw) if flags & L.EV_CT else None,
            drop=self._drop_section(raw, netns_inode) if kind in ("drop", "handed") else None,
            reset=self._reset_section(raw, flags) if kind == "reset" else None,
            socket=self._socket(raw) if flags & L.EV_SOCK else None,
            stack=self._stack_section(raw, flags) if self.stacks else None,
        )

    def _joined(self, key: tuple[int, ...], kind: str, netns: int, ifindex: int, mono: int,
                fingerprint_of: Callable[[int], tuple[int, ...]], row: int) -> int:
        """The packet id, joining a frame handed to a switch with its copy leaving another port.

        The switch sends a new skb, so the far side's first event opens a new key: it gets the
        handed packet's id when the same namespace handed a packet with the same fingerprint
        (IP ID, TCP sequence, flags, length of the innermost headers) shortly before. Packets
        alike in every such field (a router's repeated RSTs, IP ID 0) are paired in the order
        they were handed, one copy per leaving device: a switch forwards in order, and a flood
        sends one copy of a packet out of each of several ports.
        """
        if kind == "handed":
            pid = self._packet_id(key)
            fp = fingerprint_of(row)
            if fp:
                self._handed.setdefault((netns, fp), deque()).append(_Handed(pid, mono, set()))
            return pid
        if self._handed and key not in self._ids:
            waiting = self._handed.get((netns, fingerprint_of(row)))
            while waiting and mono - waiting[0].mono > HANDOVER_NS:
                waiting.popleft()
            hit = next((h for h in waiting or () if ifindex not in h.left_by and h.mono <= mono),
                       None)
            if hit is not None:
                hit.left_by.add(ifindex)
                if len(self._ids) >= MAX_IDS:
                    self._ids.clear()
                self._ids[key] = hit.packet_id
                return hit.packet_id
            if len(self._handed) > 4096:
                self._handed = {k: v for k, v in self._handed.items()
                                if v and mono - v[-1].mono <= HANDOVER_NS}
        return self._packet_id(key)

    def _device(self, raw: Raw) -> DeviceSection:
        name: bytes = raw[TAIL][IFNAME]
        return DeviceSection(int(raw[IFINDEX]),
                             name.split(b"\0", 1)[0].decode(errors="replace"))

    def packet(self, raw: Raw) -> PacketSection | None:
        """The packet section of a raw record, None when it carries no packet bytes."""
        return self._packet(raw) if int(raw[FLAGS]) & L.EV_PKT else None

    def _packet(self, raw: Raw) -> PacketSection:
        data: bytes = raw[TAIL][DATA]
        data = data[: int(raw[CAP_LEN])]
        eth = raw[LINK] == L.LINK_ETH
        frame = decode_frame(LINKTYPE_ETHERNET if eth else LINKTYPE_RAW, data)
        return PacketSection("eth" if eth else "raw", data, int(raw[PKT_LEN]),
                             frame.headers, frame.inner, frame.vni, frame.tunnel)

    def _conntrack(self, raw: Raw) -> ConntrackSection:
        return ConntrackSection(
            CT_INFO.get(int(raw[CT_INFO_I]), str(raw[CT_INFO_I])),
            _status(int(raw[CT_STATUS_I])),
            CtTuple(*_tuple(raw, CT_ORIG)),
            CtTuple(*_tuple(raw, CT_REPLY)),
        )

    def _drop_section(self, raw: Raw, netns: int) -> DropSection:
        reason = int(raw[REASON])
        name = self._drop.get(reason, f"reason-{reason}")
        handed = None
        if name == "OTHERHOST" and int(raw[DEV_FLAGS]) & L.DEV_PACKET_SOCKET:
            handed = "Open vSwitch" if self.switches.runs_ovs(netns) else "a packet socket"
        return DropSection(reason, name, handed)

    def _reset_section(self, raw: Raw, flags: int) -> ResetSection:
        reason = int(raw[REASON])
        has_sk = bool(flags & L.EV_SK)
        state = TCP_STATES.get(int(raw[SK_STATE])) if has_sk else None
        return ResetSection(reason, self._rst.get(reason, f"reason-{reason}"), has_sk, state)

    def _socket(self, raw: Raw) -> SocketSection:
        _, local, remote = _tuple(raw, SOCK)
        state = TCP_STATES.get(int(raw[SK_STATE]))
        return SocketSection(local, remote, state)

    def _stack_section(self, raw: Raw, flags: int) -> StackSection:
        """The event's own stack (after the event in its record), or why it is missing."""
        length = int(raw[STACK_LEN])
        if not flags & L.EV_STACK or length <= 0:
            return StackSection((), _errno_name(length))
        blob: bytes = raw[L.STACK]
        addrs = [a for a in np.frombuffer(blob[: min(length, L.STACK_BYTES)], "<u8").tolist()
                 if a]
        if self._syms is None:
            self._syms = Kallsyms()
        frames = [self._syms.symbol(a) for a in addrs]
        while frames and frames[0].startswith(TRACER_FRAMES):
            del frames[0]
        return StackSection(tuple(frames))


def _errno_name(length: int) -> str:
    """Why ``bpf_get_stack`` recorded nothing: its error's name (``EFAULT``), or ``empty``."""
    if length < 0:
        return errno.errorcode.get(-length, f"error {-length}")
    return "empty"
