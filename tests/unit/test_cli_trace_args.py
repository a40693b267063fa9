"""``nettrail trace`` argument errors that need no kernel: one line naming what and where."""

from __future__ import annotations

import pytest

from nettrail.cli.main import main
from nettrail.errors import FilterError
from nettrail.trace.filter import compile_filter

SUPPORTED = ("host, net, port, portrange, src, dst, ether host|src|dst, vlan, less, greater, "
             "tcp, udp, icmp, icmp6, ip, ip6, proto, tcp[tcpflags]")


@pytest.mark.parametrize(("expr", "message"), [
    ("foo bar", f"unsupported primitive 'foo' (column 1); supported: {SUPPORTED}"),
    ("host 198.51.100.1 and portx 22",
     f"unsupported primitive 'portx' (column 23); supported: {SUPPORTED}"),
    ("host 999.1.1.1", "not an address: '999.1.1.1' (column 6)"),
    ("port 99999", "99999 out of range 0-65535 (column 6)"),
    ("host 198.51.100.1 )", "unexpected ')' (column 19)"),
    ("tcp[tcpflags] & tcp-syn > 0",
     "expected '!=' or '=' after tcp[tcpflags], found '>' (column 25)"),
    ("host", "unexpected end of filter"),
])
def test_filter_errors_point_at_the_offending_word(expr: str, message: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(expr)
    assert str(info.value) == f"filter {expr!r}: {message}"


@pytest.mark.parametrize(("value", "message"), [
    ("0", "must be more than 0 seconds, not 0"),
    ("-1", "must be more than 0 seconds, not -1"),
    ("nan", "must be more than 0 seconds, not nan"),
    ("soon", "not a number of seconds: 'soon'"),
])
def test_duration_must_be_positive(value: str, message: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["trace", "--duration", value])
    assert info.value.code == 2
    assert capsys.readouterr().err == f"nettrail: error: argument --duration: {message}\n"


def test_help_shows_filter_and_command_in_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["trace", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: nettrail trace [OPTIONS] [FILTER ...] [-- COMMAND ...]\n")
    assert "examples:\n  nettrail trace host" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--ring-size", "3"], "argument --ring-size: must be a power of two (1, 2, 4, 8, 16, ...), "
                           "not 3"),
    (["--hooks", "xmit,bogus"], "--hooks: unknown hook 'bogus'; known: xmit, recv, drop, reset, "
                                "synack-retransmit"),
    (["--ready-file", "/nonexistent-dir/ready"],
     "cannot write ready file /nonexistent-dir/ready: no writable directory /nonexistent-dir"),
])
def test_bad_options_are_refused_before_tracing(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["trace", "--duration", "1", "-q", *argv])
    except SystemExit as exc:
        code = int(str(exc.code))
    assert code == 2
    assert capsys.readouterr().err == f"nettrail: error: {message}\n"


def test_connection_following_is_on_unless_refused() -> None:
    import argparse

    from nettrail.cli import trace as cli_trace
    from nettrail.trace import layout as L
    from nettrail.trace.config import to_rodata
    from nettrail.trace.netns_names import NetnsNames

    parser = argparse.ArgumentParser()
    cli_trace.register(parser.add_subparsers())
    for extra, want in (([], L.CFG_CONNS), (["--no-follow-connections"], 0),
                        (["--no-follow"], 0), (["--no-conntrack"], 0)):
        args = parser.parse_args(["trace", *extra, "host", "203.0.113.223"])
        words, _ = cli_trace.split_rest(args.rest)
        cfg = cli_trace.build_config(args, words, NetnsNames())
        flags = L.CONFIG_HEAD_STRUCT.unpack_from(to_rodata(cfg))[0]
        assert flags & L.CFG_CONNS == want, extra
