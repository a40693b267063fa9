"""Ring records of a trace with kernel stacks: each event followed by its own stack."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import numpy as np
from test_trace_decode import DROP_NAMES, RST_NAMES, SYN_PUBLIC, Names, hop_records, raw

from nettrail.model.event import StackSection
from nettrail.report.trace_json import event_record
from nettrail.report.trace_text import Timeline
from nettrail.trace import columns
from nettrail.trace import layout as L
from nettrail.trace.decode import Decoder
from nettrail.trace.kallsyms import Kallsyms

ANCHOR = 1_700_000_000_000_000_000
BPF_RUN, XMIT, QUEUE = 0xFFFFFFFF81100000, 0xFFFFFFFF81000000, 0xFFFFFFFF81001000
ITER = 0xFFFFFFFF81200000
SYMBOLS = f"{XMIT:x} T dev_hard_start_xmit\n{QUEUE:x} T __dev_queue_xmit\n" \
          f"{BPF_RUN:x} T bpf_trace_run2\n{ITER:x} T __traceiter_net_dev_start_xmit\n"


def with_stack(rec: tuple[Any, ...], addrs: list[int], length: int | None = None) -> tuple[
        Any, ...]:
    """``rec`` as the kernel writes it in stack mode: ``length`` (bytes, or a negative errno;
    default all of ``addrs``) and the addresses after the event."""
    r = list(rec)
    r[0] = L.EVENT_SIZE + L.STACK_BYTES  # the ring header's length
    n = 8 * len(addrs) if length is None else length
    r[L.RECORD_INDEX["stack_len"]] = n
    if n > 0:
        r[L.RECORD_INDEX["flags"]] |= L.EV_STACK
    return (*r, struct.pack(f"<{len(addrs)}Q", *addrs).ljust(L.STACK_BYTES, b"\0"))


def decoder(tmp_path: Path, stacks: bool = True) -> Decoder:
    path = tmp_path / "kallsyms"
    path.write_text(SYMBOLS)
    return Decoder(ANCHOR, Names(), stacks=stacks, reasons=(DROP_NAMES, RST_NAMES),
                   syms=Kallsyms(path))


def test_stack_decoded_from_its_record(tmp_path: Path) -> None:
    rec = with_stack(raw(L.KIND_XMIT, 1, "eth0", SYN_PUBLIC),
                     [BPF_RUN + 0x10, ITER + 0x31, XMIT + 0x20, QUEUE + 0x30])
    ev = decoder(tmp_path).event(rec)
    assert ev.stack == StackSection(("dev_hard_start_xmit+0x20", "__dev_queue_xmit+0x30"))
    assert event_record(ev)["stack"] == ["dev_hard_start_xmit+0x20", "__dev_queue_xmit+0x30"]
    assert "stack_missing" not in event_record(ev)


def test_stack_not_recorded_is_said(tmp_path: Path) -> None:
    rec = with_stack(raw(L.KIND_XMIT, 1, "eth0", SYN_PUBLIC), [], length=-14)
    d = decoder(tmp_path)
    ev = d.event(rec)
    assert ev.stack == StackSection((), "EFAULT")
    assert ev.stack.text() == "stack not recorded (EFAULT)"
    got = event_record(ev)
    assert got["stack"] == [] and got["stack_missing"] == "EFAULT"
    out = io.StringIO()
    timeline = Timeline(out, stacks=True)
    timeline.add(d.table(L.STACK_RECORD_STRUCT.pack(*rec)))
    timeline.flush()
    assert "stack not recorded (EFAULT)" in out.getvalue()


def test_stack_batch_reads_the_same_columns(tmp_path: Path) -> None:
    """A batch of stack records: the same packet columns as without stacks, no plain rows
    (every event has a stack section), every row's own stack."""
    plain_recs = hop_records()
    stack_recs = [with_stack(r, [XMIT + i]) for i, r in enumerate(plain_recs)]
    without = decoder(tmp_path, stacks=False).table(
        b"".join(L.RECORD_STRUCT.pack(*r) for r in plain_recs))
    with_ = decoder(tmp_path).table(b"".join(L.STACK_RECORD_STRUCT.pack(*r) for r in stack_recs))
    for name in ("src", "dst", "sport", "dport", "seq", "tcp_flags", "cap_len"):
        assert np.array_equal(getattr(with_.packet, name), getattr(without.packet, name)), name
    assert without.plain.any() and not with_.plain.any()
    assert [ev.stack.frames if ev.stack else None for ev in with_.events()] == [
        (f"dev_hard_start_xmit+{i:#x}",) for i in range(len(stack_recs))]
    assert all(ev.stack is None for ev in without.events())


def test_records_without_stacks_stay_small() -> None:
    assert L.RECORD_STRUCT.size == 8 + L.EVENT_SIZE == columns.RECORD_DTYPE.itemsize
    assert L.STACK_RECORD_STRUCT.size == L.RECORD_STRUCT.size + 8 * L.STACK_DEPTH
    assert columns.STACK_RECORD_DTYPE.itemsize == L.STACK_RECORD_STRUCT.size
    assert L.record_struct(False) is L.RECORD_STRUCT
