"""The text report: layout rules that the golden files do not exercise."""

from __future__ import annotations

import io
from pathlib import Path

from flowkit import Wire
from nettrail.analyze.pipeline import analyze_records
from nettrail.model.analysis import ClockOffset, NatTranslation
from nettrail.model.flow import Endpoint
from nettrail.model.packet import ACK, RST, SYN
from nettrail.report import text


def test_many_connections_are_counted_and_only_failures_listed() -> None:
    w = Wire()
    for i in range(40):
        c, s = f"198.51.100.2:{40000 + i}", "203.0.113.10:80"
        w.tcp(i, c, s, SYN, seq=i)
        if i % 10 == 0:
            w.tcp(i + 0.1, s, c, RST | ACK, seq=0, ack=i + 1)
        else:
            w.tcp(i + 0.1, s, c, SYN | ACK, seq=9, ack=i + 1)
            w.tcp(i + 0.2, c, s, ACK, seq=i + 1, ack=10)
    out = io.StringIO()
    text.render(analyze_records({"host1": w.records}), out)
    report = out.getvalue()
    assert "    by outcome: established 36, refused 4\n" in report
    assert report.count("  refused  2 packets") == 4
    assert "  established  " not in report
    assert "... 36 more not shown (--format json lists them all)" in report


def test_clock_and_nat_lines() -> None:
    ref = ClockOffset("host1", "host1", 0.0, 0.0, 0)
    ahead = ClockOffset("host5", "host1", -25_000_000.0, 400_000.0, 12)
    assert text.clock_text(ref) == "host1's clock is the reference"
    assert text.clock_text(ahead) == "host5's clock is 25.0 ± 0.4 ms behind host1 (12 samples)"
    probes = ClockOffset("host5", "host1", -25_014_000.0, 184_000.0, 0, source="probes")
    assert text.clock_text(probes) == ("host5's clock is 25.0 ± 0.2 ms behind host1 (by the SSH "
                                       "clock probes)")
    same = ClockOffset("host1@ns", "host1", 0.0, 0.0, 4, source="host")
    assert text.clock_text(same) == "host1@ns's clock is host1's (one host, one kernel clock)"
    both = ClockOffset("host2", "host1", 0.0, 180_000.0, 4, source="both")
    assert text.clock_text(both) == ("host2's clock agrees with host1 (within 0.180 ms, by the "
                                     "SSH clock probes and 4 samples)")
    nat = NatTranslation("dnat", "request", Endpoint("203.0.113.10", 22),
                         Endpoint("198.51.100.4", 22), "client", "netnode", "netnode", 3)
    assert text.nat_text(nat) == ("dnat on the request: 203.0.113.10:22 -> 198.51.100.4:22 "
                                  "between client and netnode, translated at netnode (3 packets)")


def test_a_clock_from_packets_seen_one_way_says_what_it_leaves_open() -> None:
    transit = "seen one way only: off by the packets' transit between the points"
    open_ = ClockOffset("host5", "host1", -25_000_000.0, 1_000_000.0, 3, two_sided=False)
    assert text.clock_text(open_) == (f"host5's clock is 25.0 ± 1.0 ms behind host1 (3 samples; "
                                      f"{transit})")
    limited = ClockOffset("host5", "host1", -25_000_000.0, 1_000_000.0, 3, two_sided=False,
                          limits=(-25_000_000.0, None))
    assert text.clock_text(limited).endswith(f"; {transit}; at least 25.0 ms behind)")
    ahead = ClockOffset("host5", "host1", 4_000_000.0, 1_000_000.0, 3, two_sided=False,
                        limits=(4_000_000.0, -2_000_000.0))
    assert ahead.one_way_note.endswith("; at most 2.0 ms behind; at most 4.0 ms ahead")
    zero = ClockOffset("host5", "host1", 0.0, 1_000_000.0, 3, two_sided=False,
                       limits=(None, -0.0))
    assert text.clock_text(zero) == ("host5's clock agrees with host1 (within 1.000 ms, "
                                     f"3 samples; {transit}; not behind)")
    both_ways = ClockOffset("host5", "host1", -25_000_000.0, 400_000.0, 12,
                            limits=(-24_600_000.0, -25_400_000.0))
    probes = ClockOffset("host5", "host1", -25_000_000.0, 200_000.0, 0, two_sided=False,
                         source="probes")
    assert both_ways.one_way_note == probes.one_way_note == ""
    assert "one way" not in text.clock_text(both_ways) + text.clock_text(probes)


def test_time_text_is_utc_with_microseconds() -> None:
    assert text.time_text(1_700_000_000_123_456_789) == "22:13:20.123456"


def test_clock_lines_never_say_zero_ms_ahead_and_name_unaligned_points() -> None:
    same = ClockOffset("netnode", "client", 12_000.0, 15_000.0, 3)
    assert text.clock_text(same) == ("netnode's clock agrees with client "
                                     "(within 0.015 ms, 3 samples)")
    precise = ClockOffset("host5", "host1", -24_992_000.0, 9_000.0, 2)
    assert text.clock_text(precise) == ("host5's clock is 24.992 ± 0.009 ms behind host1 "
                                        "(2 samples)")
    w = Wire("a", "a.pcap")
    w.tcp(0, "198.51.100.1:40000", "203.0.113.2:80", SYN, seq=1)
    other = Wire("b", "b.pcap")
    other.tcp(0, "198.51.100.7:40001", "203.0.113.9:81", SYN, seq=5)
    out = io.StringIO()
    text.render(analyze_records({"a": w.records, "b": other.records}), out)
    assert "  b's clock is unknown: no packet was seen both there and at a\n" in out.getvalue()


def test_long_durations_are_readable() -> None:
    assert text.duration_text(400_000) == "0.4 ms"
    assert text.duration_text(3_000_000_000) == "3000.0 ms"
    assert text.duration_text(42_500_000_000) == "42.5 s"
    assert text.duration_text((16 * 3600 + 5 * 60 + 9) * 1_000_000_000) == "16 h 05 min 09 s"


def test_a_clock_left_out_as_too_wide_says_so() -> None:
    """A point whose packets were seen at the reference too, but whose estimate was left out
    (wider than the captures: the whole exchange took 0.85 ms), is not said to share no
    packet with the reference: the Clocks section gives the reason its finding gives."""
    from nettrail.run import analyze_files

    fixtures = Path(__file__).parent.parent / "fixtures" / "collect-fast"
    run = analyze_files([(name, str(fixtures / f"{name}.pcap"))
                         for name in ("client", "qrouter", "compute", "vm")])
    out = io.StringIO()
    text.render(run.analysis, out)
    assert ("  qrouter's clock is unknown: its estimate (± 1.205 ms) is wider than the "
            "captures (0.846 ms)\n") in out.getvalue()
    assert "no packet was seen both there" not in out.getvalue()
