"""What collect sends to a host: every user value reaches the remote script as one argument."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from nettrail.cli.collect import late_options, looks_like_filter, split_rest
from nettrail.collect import pcapfile, remote
from nettrail.collect.host import parse_time
from nettrail.collect.ssh import check_host
from nettrail.errors import InputError
from nettrail.lab.clockshift import PcapShifter

HOSTILE = [
    "'; touch {marker}; echo '",
    "$(touch {marker})",
    "`touch {marker}`",
    "tcp port 22\ntouch {marker}",
    "\"; touch {marker}; \"",
    "tcp and ( host 1 ) || touch {marker} &",
    "\\'; touch {marker} #",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_a_hostile_argument_reaches_the_script_verbatim(template: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    value = template.format(marker=marker)
    # what the remote login shell does with the command line ssh sends
    line = remote.command('printf "%s" "$2"', ("3600", value))
    out = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, check=True)
    assert out.stdout == value
    assert not marker.exists()


@pytest.mark.parametrize(("script", "rest"), [(remote.CAPTURE, ("", "100")),
                                              (remote.AGENT, ("30", "trace"))])
def test_the_scripts_refuse_a_non_numeric_number(script: str, rest: tuple[str, ...],
                                                 tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    line = remote.command(script, (f"1; touch {marker}", *rest))
    out = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, check=False)
    assert out.returncode == 2 and "bad arguments" in out.stderr
    assert not marker.exists()


@pytest.mark.parametrize("name", ["-oProxyCommand=touch /tmp/x", "a b", "host;id", "$(id)",
                                  "a\nb", "", "x" * 300, "`id`"])
def test_host_names_that_could_be_options_or_shell_are_refused(name: str) -> None:
    with pytest.raises(InputError, match="not a host name"):
        check_host(name)


@pytest.mark.parametrize("name", ["netnode", "root@10.0.0.1", "[fe80::1%eth0]", "a-b.c_d"])
def test_plain_host_names_pass(name: str) -> None:
    assert check_host(name) == name


def test_filter_hosts_and_command_are_told_apart() -> None:
    assert split_rest(["tcp port 22", "a", "b", "--", "ssh", "x"], None) == (
        "tcp port 22", ["a", "b"], ["ssh", "x"])
    assert split_rest(["icmp", "a"], None) == ("icmp", ["a"], [])
    assert split_rest(["a", "b"], None) == ("", ["a", "b"], [])
    assert split_rest(["tcp"], None) == ("", ["tcp"], [])  # a lone word is a host
    assert split_rest(["a"], "udp") == ("udp", ["a"], [])
    assert looks_like_filter("(tcp)") and not looks_like_filter("compute")
    with pytest.raises(InputError, match="at least one HOST"):
        split_rest(["--", "true"], None)
    with pytest.raises(InputError, match="unexpected option"):
        split_rest(["a", "--duration", "3"], None)


def test_probe_answers_are_parsed_to_ns() -> None:
    assert parse_time("1796318310.062619\n") == 1796318310_062619000
    assert parse_time("1796318310.062619123") == 1796318310_062619123
    assert parse_time("17") == 17_000_000_000
    assert parse_time("garbage") is None and parse_time("1.x") is None


def _pcap(records: list[tuple[int, int, bytes]], magic: int = 0xA1B2C3D4) -> bytes:
    out = struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, 276)
    for sec, usec, data in records:
        out += struct.pack("<IIII", sec, usec, len(data), len(data)) + data
    return out


def test_a_pcap_stream_is_shifted_in_any_pieces() -> None:
    stream = _pcap([(100, 10_000, b"abc"), (101, 999_990, b"defg")])
    shifter = PcapShifter(-25_000_000)
    out = b"".join(shifter.feed(stream[i:i + 5]) for i in range(0, len(stream), 5))
    out += shifter.rest()
    assert out == _pcap([(99, 985_000, b"abc"), (101, 974_990, b"defg")])


def test_other_output_passes_through() -> None:
    shifter = PcapShifter(-25_000_000)
    assert shifter.feed(b"1796318310.0626\n") == b"1796318310.0626\n"
    assert shifter.feed(b"more") == b"more"


def test_an_unfinished_last_record_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "h.pcap"
    whole = _pcap([(1, 0, b"x" * 10), (2, 0, b"y" * 10)])
    path.write_bytes(whole + struct.pack("<IIII", 3, 0, 50, 50) + b"z" * 20)
    assert pcapfile.trim(path) == (2, len(whole))
    assert path.read_bytes() == whole
    empty = tmp_path / "e.pcap"
    empty.write_bytes(b"\xd4\xc3")
    assert pcapfile.trim(empty) == (0, 0) and not pcapfile.usable(empty)


def test_options_after_the_hosts_are_read() -> None:
    from nettrail.cli.main import build_parser

    args = build_parser("collect").parse_args(
        ["collect", "--output", "r", "tcp port 22", "a", "b", "--duration", "5", "-F", "cfg",
         "--", "ssh", "--duration", "x"])
    late_options(args)
    assert (args.duration, args.ssh_config, str(args.output)) == (5.0, "cfg", "r")
    assert split_rest(args.rest, args.filter_expr) == (
        "tcp port 22", ["a", "b"], ["ssh", "--duration", "x"])
    bad = build_parser("collect").parse_args(["collect", "a", "--bogus"])
    with pytest.raises(InputError, match="unknown option '--bogus'"):
        late_options(bad)


def test_the_capture_script_passes_the_filter_whole_and_stops_at_end_of_stdin(
        tmp_path: Path) -> None:
    import os

    if os.geteuid() != 0:
        pytest.skip("needs root (as non-root the script runs tcpdump through sudo -n)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    args_file = tmp_path / "args"
    stub = bin_dir / "tcpdump"  # stands in for tcpdump: records its arguments, runs until INT
    stub.write_text(f"#!{sys.executable}\n"  # not sh: sh keeps SIGINT ignored in a background job
                    "import signal, sys, time\n"
                    f"open({str(args_file)!r}, 'wb').write(b''.join(a.encode() + b'\\0' "
                    "for a in sys.argv[1:]))\n"
                    "signal.signal(signal.SIGINT, lambda *_: sys.exit(0))\n"
                    "print('listening on any', file=sys.stderr, flush=True)\n"
                    "while True:\n    time.sleep(0.05)\n", encoding="ascii")
    stub.chmod(0o755)
    marker = tmp_path / "pwned"
    hostile = f"tcp port 22 '; touch {marker}; $(touch {marker})"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SSH_CONNECTION":
           "198.51.100.7 40000 198.51.100.1 22"}
    proc = subprocess.Popen(["/bin/sh", "-c", remote.capture_command(hostile, 60)], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None and proc.stdin is not None
    assert b"listening on" in proc.stderr.readline()
    proc.stdin.close()  # the collector stops, or the connection drops
    assert proc.wait(timeout=10) == 0
    args = args_file.read_bytes().split(b"\0")[:-1]
    assert args[-1].decode() == (f"({hostile}) and not (host 198.51.100.7 and host "
                                 "198.51.100.1 and tcp port 40000 and tcp port 22)")
    assert [a.decode() for a in args[:3]] == ["-i", "any", "-n"]
    assert not marker.exists()
