"""tcpdump text as people paste it: e-mail, markdown, tcpdump 3.x, names and placeholders.

The inputs are fixtures under ``tests/fixtures/text/`` (their README says how each was made);
the golden test pins every record; these tests state what matters in each form.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nettrail.capture.base import CaptureStats
from nettrail.capture.tcpdump_text import read_text
from nettrail.cli.main import main
from nettrail.model.packet import ACK, PSH, RST, SYN, PacketRecord

FIXTURES = Path(__file__).parents[1] / "fixtures" / "text"


def _read(name: str) -> tuple[list[PacketRecord], CaptureStats]:
    path = FIXTURES / name
    stats = CaptureStats(path=str(path), point="p")
    return list(read_text(str(path), "p", stats)), stats


def _tcp(rec: PacketRecord) -> tuple[str, int, str, int, int, int | None, int | None]:
    ip, tcp = rec.ip, rec.tcp
    assert ip is not None and tcp is not None
    return ip.src, tcp.sport, ip.dst, tcp.dport, tcp.flags, tcp.seq, tcp.ack


def test_tcpdump_3x_syntax() -> None:
    records, stats = _read("pasted-3x.txt")
    assert [_tcp(r) for r in records] == [
        ("client", 1284, "server", 22, SYN, 2549095564, None),
        ("server", 22, "client", 1284, SYN | ACK, 3011985342, 2549095565),
        ("client", 1284, "server", 22, ACK, None, 3011985343),
        ("client", 1284, "server", 22, PSH | ACK, 2549095565, 3011985343),  # "P 1:369(368)"
        ("server", 22, "client", 1284, RST, 3011985343, None),
    ]
    assert records[3].tcp is not None and records[3].tcp.payload_len == 368
    assert records[1].tcp is not None and records[1].tcp.options.ts_val == 94325133
    rst_ip = records[4].ip
    assert rst_ip is not None and (rst_ip.ttl, rst_ip.ip_id, rst_ip.df) == (46, 18387, True)
    assert not stats.warnings and not stats.skipped


def test_mail_quoting_and_quoted_printable() -> None:
    records, stats = _read("pasted-mail.txt")
    assert [_tcp(r)[4:] for r in records] == [
        (SYN, 2921520146, None),  # "seq 29215=" / "20146": a soft break inside a number
        (SYN | ACK, 1030395500, 2921520147),
        (PSH | ACK, 2921520147, 1030395501),
        (RST, 1030395501, None),
    ]
    syn = records[0].tcp
    assert syn is not None and syn.options.wscale == 7  # "wsc=" / "ale 7"
    assert stats.skipped == {"unparsed-line": 2}  # the "wrote:" line and the prose
    assert any("lines left out" in w and "line 10" in w for w in stats.warnings)


def test_markdown_fences_indent_and_bold() -> None:
    records, stats = _read("pasted-markdown.txt")
    assert [r.frame for r in records] == [3, 4, 5, 10, 11]
    assert [_tcp(r)[4] for r in records] == [SYN, SYN | ACK, RST | ACK, SYN, RST | ACK]
    assert records[3].headers.eth is not None and records[3].wire_len == 74
    last = records[4].tcp
    assert last is not None and (last.seq, last.ack, last.seq_relative) == (0, 6, False)
    assert stats.skipped == {"unparsed-line": 2}


def test_names_and_placeholders_are_opaque_hosts() -> None:
    records, stats = _read("pasted-names.txt")
    assert [_tcp(r)[:4] for r in records] == [
        ("<POD_IP>", 38122, "xxx.xxx.xxx.xxx", 443),
        ("xxx.xxx.xxx.xxx", 443, "<POD_IP>", 38122),
        ("client", 22, "10.0.0.7", 5555),  # VXLAN between nodeC.local and nodeA.local
        ("client", 1284, "server", 22),
        ("server", 22, "client", 1284),
        ("203.0.113.223", 22, "198.51.100.4", 1284),
    ]
    outer = records[2].headers.ip
    assert outer is not None and (outer.src, outer.dst, records[2].vni) == (
        "nodeC.local", "nodeA.local", 1)
    rst = records[1].tcp  # answers the SYN (seq 100): absolute, not an excerpt
    assert rst is not None and (rst.ack, rst.seq_relative) == (101, False)
    assert not stats.warnings


def test_a_name_never_merges_with_an_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--format", "json", f"p={FIXTURES / 'pasted-names.txt'}"]) == 0
    conns = json.loads(capsys.readouterr().out)["connections"]
    hosts = [sorted(c[side]["addr"] for side in ("client", "server")) for c in conns]
    assert ["client", "server"] in hosts and ["198.51.100.4", "203.0.113.223"] in hosts
    assert len(conns) == 4  # placeholders, VXLAN inner, the label pair, the address pair


def test_incident_text_with_a_mangled_hour(capsys: pytest.CaptureFixture[str]) -> None:
    records, stats = _read("incident-netnode.txt")
    assert [r.time_ok for r in records] == [True, True, True, False, True]
    assert records[3].ts_ns == records[2].ts_ns  # kept by order
    assert "line 8: timestamp '4:35:12.101900'" in stats.warnings[0]
    netnode, compute = FIXTURES / "incident-netnode.txt", FIXTURES / "incident-compute.txt"
    main(["analyze", "--format", "json", f"host1={netnode}", f"host5={compute}"])
    clocks = {c["point"]: c for c in json.loads(capsys.readouterr().out)["clock"]}
    assert 20 < clocks["host5"]["offset_ms"] < 30  # the 25 ms skew, not ten hours


def test_not_tcpdump_text_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "/etc/passwd"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("nettrail: error: /etc/passwd: not tcpdump text: no packet in ")
    assert len(err.splitlines()) == 1


def test_a_name_at_one_point_and_an_address_at_another_is_no_translation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = FIXTURES / "names-point-a.txt", FIXTURES / "names-point-b.txt"
    assert main(["analyze", "--format", "json", f"a={a}", f"b={b}"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nat"] == []  # "server" may or may not be 203.0.113.9: the text does not say
    assert {c["server"]["addr"] for c in out["connections"]} == {"server", "203.0.113.9"}


@pytest.mark.parametrize("space", ["\xa0", "\u202f", "\t"], ids=["nbsp", "narrow-nbsp", "tab"])
def test_non_breaking_spaces_read_as_spaces(space: str, tmp_path: Path) -> None:
    """Text pasted through a chat or a web page (some of its spaces non-breaking ones), or
    saved by an editor that made tabs of spaces: every other space of a line here. The same
    packets as the text as tcpdump printed it."""
    plain, _ = _read("incident-netnode.txt")
    lines = (FIXTURES / "incident-netnode.txt").read_text().splitlines(keepends=True)
    pasted = tmp_path / "pasted.txt"
    pasted.write_text("".join(
        "".join(ch if ch != " " or i % 2 else space for i, ch in enumerate(line))
        for line in lines))
    stats = CaptureStats(path=str(pasted), point="p")
    records = list(read_text(str(pasted), "p", stats))
    assert [(r.ts_ns, r.headers) for r in records] == [(r.ts_ns, r.headers) for r in plain]
    assert any(("tabs" if space == "\t" else "non-breaking") in w for w in stats.warnings)


def test_log_times_before_each_line_are_removed(tmp_path: Path) -> None:
    """tcpdump run in a pod, its output fetched with ``kubectl logs --timestamps``: each line,
    tcpdump's own messages too, behind the log's RFC 3339 time. tcpdump's times are read."""
    plain, plain_stats = _read("incident-netnode.txt")
    lines = (FIXTURES / "incident-netnode.txt").read_text().splitlines(keepends=True)
    logged = tmp_path / "logged.txt"
    logged.write_text("".join(f"2026-12-03T14:35:{12 + i % 40:02d}.{i:09d}Z {line}"
                              for i, line in enumerate(lines)))
    stats = CaptureStats(path=str(logged), point="p")
    records = list(read_text(str(logged), "p", stats))
    assert [(r.ts_ns, r.headers) for r in records] == [(r.ts_ns, r.headers) for r in plain]
    assert stats.skipped == plain_stats.skipped
    assert any("kubectl logs --timestamps" in w for w in stats.warnings)


@pytest.mark.parametrize("prompt", ["[root@netnode ~]# ", "root@netnode:~# ", "$ ",
                                    "[stack@compute-0 ~]$ sudo "],
                         ids=["rhel-root", "debian-root", "bare", "rhel-sudo"])
def test_shell_prompts_around_the_text_are_not_unread_lines(prompt: str,
                                                            tmp_path: Path) -> None:
    """The command line with its prompt before the packets and the empty prompt after them,
    as a terminal shows them: tcpdump's own messages, not lines that could not be read."""
    plain, plain_stats = _read("incident-netnode.txt")
    body = (FIXTURES / "incident-netnode.txt").read_text().splitlines(keepends=True)[1:]
    pasted = tmp_path / "pasted.txt"
    pasted.write_text(f"{prompt}tcpdump -ni any tcp port 22\n" + "".join(body)
                      + prompt.removesuffix("sudo ") + "\n")
    stats = CaptureStats(path=str(pasted), point="p")
    records = list(read_text(str(pasted), "p", stats))
    assert [(r.ts_ns, r.headers) for r in records] == [(r.ts_ns, r.headers) for r in plain]
    assert stats.skipped == plain_stats.skipped
