"""The diagnosis of a capture point given alone: ``diagnose`` of its own findings (its
connections' and its host's), or "inconclusive" with what is missing when a connection
failed and no finding explains it (a capture on each side of where its packets stop; the
sequence numbers a text lacks). Several points are diagnosed by cross-point analysis.

A point's table is read by its columns only (a text's records are not built for it): what
TCP fields all of its packets lack, and the names of its interfaces (the wording of an
OpenStack node's diagnosis). A point read in partitions gives each partition's, joined.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nettrail.analyze.diagnose import FLAGS, SEQ, context_from_names, diagnose, failures
from nettrail.model.analysis import Diagnosis
from nettrail.model.finding import Finding
from nettrail.model.flow import Connection
from nettrail.model.packet import PROTO_TCP
from nettrail.model.rows import TableRows
from nettrail.model.table import K_SEQ, K_SEQ1, PacketTable


def lacks(table: PacketTable) -> frozenset[str] | None:
    """The TCP fields every TCP packet of ``table`` lacks, as cross-point analysis finds them
    in its records: ``FLAGS`` (text printed with ``-q``; a binary capture has every packet's
    flags, none set included, as has a text that printed a seq: ``Flags [none], seq 1``),
    ``SEQ`` (text with its sequence numbers stripped, or ``-q``). None: no TCP packet."""
    tcp = table.column("proto") == PROTO_TCP
    odd = [r.tcp for r in table.odd_rows().values() if r.tcp is not None]
    if not tcp.any() and not odd:
        return None
    seq = bool((table.column("known")[tcp] & (K_SEQ | K_SEQ1)).any()
               or any(t.seq is not None for t in odd))
    flags = seq or bool((table.column("flags")[tcp] != 0).any()
                        or (table.column("linktype")[tcp] >= 0).any() or any(t.flags for t in odd))
    return frozenset(() if flags else (FLAGS,)) | frozenset(() if seq else (SEQ,))


def joined_lacks(parts: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    """What every TCP packet of several partitions of one point lacks."""
    out = None
    for part in parts:
        if part is not None:
            out = part if out is None else out & part
    return out


def names(table: PacketTable) -> set[str]:
    """The names of the interfaces and network namespaces of ``table``'s packets."""
    return {n for n in TableRows(table).names() if n}


def point_diagnosis(point: str, connections: Sequence[Connection],
                    findings: Sequence[Finding], seen: Iterable[str],
                    lacking: frozenset[str] | None) -> Diagnosis | None:
    """The diagnosis of ``point`` alone, from its connections and findings; ``seen``: the
    names of its interfaces and namespaces; ``lacking``: the TCP fields all its packets
    lack (``lacks``)."""
    failed = () if any(f.root_cause for f in findings) else failures(connections, [point])
    blind = {point: tuple(sorted(lacking))} if lacking else {}
    return diagnose(findings, context_from_names([point, *seen]), failed, blind)
