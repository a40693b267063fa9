"""Failed and reset connections worked out on arrays (``analyze.table_failed``) give what
the per-packet tracker gives: the same connections, outcomes, findings and evidence, in the
same order. Each case is one connection among plain ones, read from a pcap as columns and,
as the reference, with every row's record kept (every connection through the tracker); and
the same from tcpdump's own print of the pcap, which gives no seq on pure ACKs and no ack on
SYNs."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import capkit as ck
from fixturekit import json_of, reference_run
from nettrail.analyze import table_flows
from nettrail.model.table import PacketTable
from nettrail.run import analyze_files

T0 = 1_700_000_000 * 1_000_000_000
MS = 1_000_000
C, S = "198.51.100.2", "203.0.113.10"
SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10
RESET = "reset-after-handshake"

# One step: (from the client, flags, seq, ack, payload length, ms after the step before);
# a step may add ("copy", ms) to be seen again on VLAN 7 that much later, or ("id", n) for
# its IP ID.
Step = tuple[Any, ...]


def _frames(conns: list[tuple[int, list[Step]]]) -> list[tuple[int, bytes]]:
    """The frames of connections (client port, steps), each starting a second after the
    one before, in capture order: by time, but a step back in time (a negative gap) stays
    where it was captured."""
    frames: list[tuple[int, int, int, bytes]] = []
    n = 0
    for i, (port, steps) in enumerate(conns):
        t = when = T0 + i * 1_000 * MS
        for step in steps:
            from_client, flags, seq, ack, length, dt = step[:6]
            extra = dict(step[6:])
            t += round(dt * MS)
            when += round(max(dt, 0.001) * MS)
            if from_client:
                tcp = ck.tcp(port, 22, flags, seq, ack, 502, payload=b"x" * length)
            else:
                tcp = ck.tcp(22, port, flags, seq, ack, 502, payload=b"y" * length)
            src, dst = (C, S) if from_client else (S, C)
            n += 1
            ip = ck.ipv4(src, dst, 6, tcp, ip_id=extra.get("id", 1 + n % 60000))
            frames.append((when, n, t, ck.eth(ip)))
            if "copy" in extra:
                n += 1
                gap = round(extra["copy"] * MS)
                frames.append((when + gap, n, t + gap, ck.eth(ip, vlans=[7])))
    return [(t, f) for _when, _n, t, f in sorted(frames, key=lambda x: (x[0], x[1]))]


def _closed(port: int) -> list[Step]:
    return [(True, SYN, 100, 0, 0, 0), (False, SYN | ACK, 500, 101, 0, 1),
            (True, ACK, 101, 501, 0, 1), (True, PSH | ACK, 101, 501, 20, 1),
            (False, ACK, 501, 121, 0, 1), (True, FIN | ACK, 121, 501, 0, 1),
            (False, FIN | ACK, 501, 122, 0, 1), (True, ACK, 122, 502, 0, 1)]


def _compare(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, int]:
    """The table path's JSON (asserted equal to the tracker's) and how many rows it gave
    the tracker."""
    tracked: list[int] = []
    real_tracked = table_flows._tracked

    def spy(table: PacketTable, s: Any, rows: Any, *args: Any) -> Any:
        tracked.append(int(np.count_nonzero(rows)))
        return real_tracked(table, s, rows, *args)

    with monkeypatch.context() as m:
        m.setattr(table_flows, "_tracked", spy)
        fast = analyze_files([("p", str(path))])
    got = json_of(fast.analysis)
    assert got == json_of(reference_run(path, monkeypatch).analysis)
    return got, sum(tracked)


SYN1 = (True, SYN, 100, 0, 0, 0)
SYNACK = (False, SYN | ACK, 500, 101, 0, 1)
ACK1 = (True, ACK, 101, 501, 0, 1)
DATA = (True, PSH | ACK, 101, 501, 20, 1)

# name: (steps, whether the arrays take it, the outcomes ("+" between two), the finding kinds)
CASES: dict[str, tuple[list[Step], bool, str, list[str]]] = {
    "refused": ([SYN1, (False, RST | ACK, 0, 101, 0, 1)], True, "refused", ["refused"]),
    "refused-rst-without-ack": ([SYN1, (False, RST, 0, 0, 0, 1)], True, "refused",
                                ["refused"]),
    "syn-unanswered": ([SYN1], True, "syn-unanswered", ["syn-unanswered"]),
    "synack-unacknowledged": ([SYN1, SYNACK], True, "synack-unacknowledged",
                              ["synack-unacknowledged"]),
    "synack-only": ([(False, SYN | ACK, 500, 101, 0, 0)], True, "synack-unacknowledged",
                    ["synack-unacknowledged"]),
    "syn-data-without-ack": ([SYN1, (True, PSH, 101, 0, 10, 1)], True, "syn-unanswered",
                             ["syn-unanswered"]),
    "rst-from-server-after-synack": ([SYN1, SYNACK, (False, RST, 501, 0, 0, 1)], True,
                                     "reset", ["reset"]),
    "rst-from-client-after-synack": ([SYN1, SYNACK, (True, RST | ACK, 101, 501, 0, 1)], True,
                                     "reset", ["reset"]),
    "rst-from-client-without-ack": ([SYN1, SYNACK, ACK1, (True, RST, 101, 0, 0, 1)], True,
                                    "reset", ["reset"]),
    "rst-from-client-on-syn": ([SYN1, (True, RST, 101, 0, 0, 1)], True, "reset", ["reset"]),
    "reset-after-data": ([SYN1, SYNACK, ACK1, DATA, (False, ACK, 501, 121, 0, 1),
                          (False, RST | ACK, 501, 121, 0, 1)], True, "reset", ["reset"]),
    "reset-after-one-fin": ([SYN1, SYNACK, ACK1, (True, FIN | ACK, 101, 501, 0, 1),
                             (False, RST, 501, 0, 0, 1)], True, "reset", ["reset"]),
    "reset-after-retransmission": ([SYN1, SYNACK, ACK1, DATA, (True, PSH | ACK, 101, 501, 20, 200),
                                    (False, RST | ACK, 501, 121, 0, 1)], True, "reset",
                                   ["reset", "retransmission"]),
    "reset-midstream": ([(True, PSH | ACK, 101, 501, 20, 0), (False, ACK, 501, 121, 0, 1),
                         (False, RST, 501, 0, 0, 1)], True, "reset-midstream", ["reset"]),
    "reset-midstream-from-client": ([(False, PSH | ACK, 501, 101, 20, 0),
                                     (True, RST | ACK, 101, 521, 0, 1)], True,
                                    "reset-midstream", ["reset"]),
    "reset-out-of-order": ([SYN1, SYNACK, ACK1, (True, RST | ACK, 101, 501, 0, -5)], True,
                           "reset", ["reset"]),
    "syn-series": ([SYN1, (True, SYN, 101, 0, 0, 1000), (True, SYN, 102, 0, 0, 2000)], True,
                   "syn-unanswered", ["syn-unanswered"] * 3),
    "syn-series-with-data": ([SYN1, (True, SYN, 101, 0, 7, 1000)], True, "syn-unanswered",
                             ["syn-unanswered"] * 2),
    "syn-series-at-the-wrap": ([(True, SYN, 0xFFFFFFFF, 0, 0, 0), (True, SYN, 7, 0, 0, 1000),
                               (True, SYN, 0xFFFFFFFF, 0, 0, 1000)], False, "syn-unanswered",
                              ["syn-unanswered"] * 3),
    "syn-from-both-sides": ([SYN1, (False, SYN, 500, 0, 0, 1000)], False, "syn-unanswered",
                            ["syn-unanswered"]),
    "syn-series-then-synack": ([SYN1, (True, SYN, 101, 0, 0, 1000), SYNACK], False,
                               "syn-unanswered+synack-unacknowledged",
                               ["syn-unanswered", "synack-unacknowledged"]),
    "retransmitted-syn-then-rst": ([SYN1, (True, SYN, 100, 0, 0, 1000),
                                    (False, RST | ACK, 0, 101, 0, 1)], False, "refused",
                                   ["refused", "retransmission"]),
    "retransmitted-syn": ([SYN1, (True, SYN, 100, 0, 0, 1000)], False, "syn-unanswered",
                          ["syn-unanswered", "retransmission"]),
    "syn-again-soon": ([SYN1, (True, SYN, 101, 0, 0, 3)], False, "syn-unanswered",
                       ["syn-unanswered"]),
    "rst-with-payload": ([SYN1, SYNACK, ACK1, (True, RST | ACK, 101, 501, 5, 1)], False,
                         "reset", ["reset"]),
    "rst-then-more": ([SYN1, SYNACK, ACK1, (False, RST, 501, 0, 0, 1), DATA], False, "reset",
                      ["reset"]),
    "two-rsts": ([SYN1, (False, RST | ACK, 0, 101, 0, 1), (False, RST | ACK, 0, 101, 0, 200)],
                 False, "refused", ["refused"]),
    "rst-copy": ([SYN1, (False, RST | ACK, 0, 101, 0, 1, ("copy", 1))], False, "refused",
                 ["multi-interface-copy", "refused"]),
    "syn-copy-then-rst": ([(True, SYN, 100, 0, 0, 0, ("copy", 1)),
                           (False, RST | ACK, 0, 101, 0, 3)], False, "refused",
                          ["multi-interface-copy", "refused"]),
    "rst-after-both-fins": ([SYN1, SYNACK, ACK1, (True, FIN | ACK, 101, 501, 0, 1),
                             (False, FIN | ACK, 501, 102, 0, 1),
                             (False, RST, 502, 0, 0, 1)], False, "closed", []),
    "rst-fin": ([SYN1, SYNACK, ACK1, (True, RST | FIN | ACK, 101, 501, 0, 1)], False, "reset",
                ["reset"]),
}


def _printed(path: Path, *options: str) -> Path:
    """The real tcpdump's print of a pcap, beside it."""
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed")
    out = subprocess.run(["tcpdump", "-n", *options, "-r", str(path)], capture_output=True,
                         check=True)
    text = path.with_name(path.stem + "".join(options) + ".txt")
    text.write_bytes(out.stdout)
    return text


@pytest.mark.parametrize("printed", [False, True], ids=["pcap", "tcpdump-text"])
@pytest.mark.parametrize("name", CASES)
def test_each_kind_as_the_tracker_says(name: str, printed: bool, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    steps, arrays, outcome, kinds = CASES[name]
    conns = [(41000, _closed(41000)), (42000, steps), (43000, _closed(43000))]
    path = tmp_path / "one.pcap"
    path.write_bytes(ck.pcap(_frames(conns)))
    got, tracked = _compare(_printed(path) if printed else path, monkeypatch)
    if printed:  # the closed ones on arrays (a case may need the tracker where a pcap not)
        assert tracked <= len(_frames([(42000, steps)]))
    else:
        assert (tracked == 0) == arrays
    mine = [c for c in got["connections"] if 42000 in (c["client"]["port"], c["server"]["port"])]
    assert {c["outcome"] for c in mine} == {RESET if o == "reset" else o
                                            for o in outcome.split("+")}
    assert sorted(f["kind"] for f in got["findings"]) == sorted(kinds)


def _random_steps(rng: random.Random) -> list[Step]:
    """A short connection that fails or is reset in one of many ways."""
    steps: list[Step] = []
    start = rng.choice(["syn", "synack", "mid", "mid-server"])
    if start == "syn":
        steps.append((True, SYN, 100, 0, 0, 0))
        for _ in range(rng.choice([0, 0, 1, 2])):
            steps.append((True, SYN, rng.choice([100, 101, 150]), 0, 0,
                          rng.choice([1, 3, 6, 200, 1000])))
        if rng.random() < 0.5:
            steps.append((False, SYN | ACK, 500, 101, 0, rng.choice([1, -2])))
    elif start == "synack":
        steps.append((False, SYN | ACK, 500, 101, 0, 0))
    elif start == "mid":
        steps.append((True, PSH | ACK, 101, 501, 10, 0))
    else:
        steps.append((False, PSH | ACK, 501, 101, 10, 0))
    seq_c, seq_s = 101, 501
    for _ in range(rng.choice([0, 0, 1, 3])):
        client = rng.random() < 0.5
        length = rng.choice([0, 10])
        again = rng.random() < 0.2 and length
        seq = (seq_c if client else seq_s) - (length if again else 0)
        flags = rng.choice([ACK, PSH | ACK, PSH, FIN | ACK])
        step: Step = (client, flags, seq, seq_s if client else seq_c, length,
                      rng.choice([1, 1, 2, 150, -1]))
        if rng.random() < 0.1:
            step += (("copy", rng.choice([1, 8])),)
        steps.append(step)
        if not again:
            grow = length + (1 if flags & FIN else 0)
            if client:
                seq_c += grow
            else:
                seq_s += grow
    for _ in range(rng.choice([0, 1, 1, 1, 2])):
        client = rng.random() < 0.4
        flags = RST | rng.choice([0, ACK, ACK, FIN])
        step = (client, flags, rng.choice([0, seq_c if client else seq_s]),
                rng.choice([0, seq_s if client else seq_c]), rng.choice([0, 0, 0, 4]),
                rng.choice([1, 1, -3, 300]))
        if rng.random() < 0.1:
            step += (("copy", 1),)
        steps.append(step)
    if rng.random() < 0.15:
        steps.append((rng.random() < 0.5, ACK, seq_c, seq_s, 0, rng.choice([1, 200])))
    return steps


def _random_pcap(seed: int, tmp_path: Path) -> tuple[Path, int]:
    """A pcap of 150 connections, a fifth of them closed plainly, the others failing or
    reset in random ways; and how many packets the plain closed ones have."""
    rng = random.Random(seed)
    conns, closed = [], 0
    for i in range(150):
        port = 30000 + i
        steps = _closed(port) if rng.random() < 0.2 else _random_steps(rng)
        closed += len(steps) if len(steps) == 8 and steps[-1] == _closed(port)[-1] else 0
        conns.append((port, steps))
    path = tmp_path / "many.pcap"
    path.write_bytes(ck.pcap(_frames(conns)))
    return path, closed


@pytest.mark.parametrize("seed", range(4))
def test_random_failed_connections_as_the_tracker_says(seed: int, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path, closed = _random_pcap(seed, tmp_path)
    got, tracked = _compare(path, monkeypatch)
    kinds = {f["kind"] for f in got["findings"]}
    assert {"refused", "reset", "syn-unanswered"} <= kinds
    assert 0 < tracked < got["points"][0]["packets"] - closed  # both ways taken


@pytest.mark.parametrize("options", [(), ("-S",), ("-tttt",)])
@pytest.mark.parametrize("seed", range(2))
def test_random_printed_connections_as_the_tracker_says(
        seed: int, options: tuple[str, ...], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path, closed = _random_pcap(seed, tmp_path)
    got, tracked = _compare(_printed(path, *options), monkeypatch)
    assert {"refused", "reset", "syn-unanswered"} <= {f["kind"] for f in got["findings"]}
    assert 0 < tracked <= got["points"][0]["packets"] - closed  # both ways taken
