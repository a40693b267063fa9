"""Hand-built TCP packet records for analysis tests (no files, no readers)."""

from __future__ import annotations

from nettrail.model.packet import (
    NO_OPTIONS,
    PROTO_TCP,
    Headers,
    IPHeader,
    PacketRecord,
    TCPHeader,
)

MS = 1_000_000
US = 1_000
T0 = 1_700_000_000 * 1_000_000_000


class Wire:
    """Builds the records of one capture point in order, numbering frames from 1."""

    def __init__(self, point: str = "host1", file: str = "host1.pcap") -> None:
        self.point = point
        self.file = file
        self.records: list[PacketRecord] = []
        self.ip_id = 1000

    def tcp(
        self,
        t_ms: float,
        src: str,
        dst: str,
        flags: int,
        *,
        seq: int | None = 0,
        ack: int | None = None,
        length: int = 0,
        ifname: str | None = None,
        direction: str | None = None,
        ip_id: int | None = -1,
        seq_relative: bool = False,
    ) -> PacketRecord:
        """Append a TCP packet ``src`` > ``dst`` (``addr:port``) at ``t_ms`` ms; return it."""
        saddr, sport = src.rsplit(":", 1)
        daddr, dport = dst.rsplit(":", 1)
        if ip_id == -1:
            self.ip_id += 1
            ip_id = self.ip_id
        ip = IPHeader(4, saddr, daddr, PROTO_TCP, 64, ip_id, 40 + length, True, 0, False)
        tcp = TCPHeader(int(sport), int(dport), flags, seq, ack, 64240, length, NO_OPTIONS,
                        seq_relative)
        rec = PacketRecord(
            point=self.point,
            ts_ns=T0 + round(t_ms * MS),
            file=self.file,
            frame=len(self.records) + 1,
            ifname=ifname,
            direction=direction,
            wire_len=54 + length,
            headers=Headers(None, ip, tcp),
            linktype=1,
        )
        self.records.append(rec)
        return rec

    def copy(self, rec: PacketRecord, dt_us: float, ifname: str | None,
             direction: str | None = None) -> PacketRecord:
        """Append the same packet seen again ``dt_us`` later on another interface."""
        dup = rec._replace(ts_ns=rec.ts_ns + round(dt_us * US), frame=len(self.records) + 1,
                           ifname=ifname, direction=direction)
        self.records.append(dup)
        return dup
