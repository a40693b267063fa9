"""tcpdump's own test suite, text half: reading each ``.out`` agrees with tshark on the pcap.

For every test of ``shared/tcpdump-tests`` whose pcap holds TCP (tshark's ``tcp`` frames, the
innermost TCP of a tunnel), the text tcpdump printed for it is read with the text reader and
compared packet by packet with tshark's reading of the pcap: addresses, ports, flags, seq/ack
where printed, and time. The ``-#`` packet number at the start of each printed packet is the
frame number. A test whose text cannot agree (what tcpdump printed does not say it) is listed
in ``CANNOT_AGREE`` with the reason; the test checks that list too, so it cannot go stale.
"""

from __future__ import annotations

from textkit import compare
from truth import SUITE_DIR, require_suite, suite_tests, truth_for

CANNOT_AGREE: dict[str, str] = {}
"""Tests whose printed text cannot agree with tshark, and why."""


def test_suite_text_agrees_with_tshark() -> None:
    """Every suite test with TCP: its text reads as tshark reads its pcap, packet by packet."""
    require_suite()
    tests = suite_tests()
    truths = truth_for(SUITE_DIR / t.pcap for t in tests)
    with_tcp = [(t, truths[SUITE_DIR / t.pcap]) for t in tests]
    checked = [(t, rows) for t, rows in with_tcp if rows]
    failures = {}
    for test, rows in checked:
        assert rows is not None
        problems = compare(test, rows)
        if problems:
            failures[test.name] = problems
    report = "\n".join(f"{name}: {len(p)} disagree, e.g. {p[0]}" for name, p in failures.items()
                       if name not in CANNOT_AGREE)
    assert len(checked) >= 164  # the suite's tests whose pcap holds TCP, per truth.py
    assert not report, f"{len(failures)}/{len(checked)} tests disagree:\n{report}"
    assert set(failures) == set(CANNOT_AGREE), "CANNOT_AGREE lists a test that now agrees"
