"""Texts of several hosts' lines (``capture.text_hosts``): tcpdump run on many hosts at once by
pdsh, clush or pssh -P prints each line after its host's name; dshbak groups them under a head
per host, and so do ansible's ad-hoc commands and pssh -i. Each host is a point of its own,
read as if its lines had been given as a file of their own: the same packets, findings and
diagnosis, the evidence naming the lines of the file given. The real pdsh, dshbak, ansible and
pssh make the texts here, of the real tcpdump's lines."""

from __future__ import annotations

import glob
import json
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import capkit
from nettrail.capture.inputs import open_inputs
from nettrail.capture.points import read_points
from nettrail.capture.text_hosts import text_hosts
from nettrail.cli.main import main
from nettrail.model.packet import ACK, FIN, PSH, SYN

FIXTURES = Path(__file__).parents[1] / "fixtures"
RUNS = FIXTURES / "labruns"
SUITE = Path(__file__).parents[3] / "shared" / "tcpdump-tests"
_PREFIX = re.compile(r"\[pod/([\w.-]+)/[\w.-]+\] |([\w.-]+): ")
"""A host's line: kubectl's (the pod's) or pdsh's."""


def _needs(tool: str, package: str = "pdsh") -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"needs {tool} on the PATH (Debian package {package})")


def _pdsh(hosts: list[str], command: str, cwd: Path) -> str:
    """What the real pdsh prints running ``command`` (``%h``: the host) on ``hosts``, each
    run here (pdsh's ``exec`` module: no SSH)."""
    _needs("pdsh")
    return subprocess.run(["pdsh", "-R", "exec", "-f", "8", "-w", ",".join(hosts),
                           "sh", "-c", command], cwd=cwd, capture_output=True, text=True,
                          check=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                           "LANG": "C.UTF-8"}).stdout


def _run_text(run: str, tmp_path: Path, tcpdump: str = "tcpdump -n",
              stderr: str = "2>&1") -> tuple[list[str], str]:
    """The hosts of a lab run, and what pdsh prints running ``tcpdump`` on each one's pcap
    (copied into ``tmp_path``)."""
    _needs("tcpdump")
    hosts = _copied(run, tmp_path)
    return hosts, _pdsh(hosts, f"{tcpdump} -r %h.pcap {stderr}", tmp_path)


def _copied(run: str, tmp_path: Path) -> list[str]:
    """The hosts of a lab run, each one's pcap copied into ``tmp_path``."""
    hosts = sorted(p.stem for p in (RUNS / run).glob("*.pcap"))
    for host in hosts:
        shutil.copy(RUNS / run / f"{host}.pcap", tmp_path / f"{host}.pcap")
    return hosts


def _split(text: str) -> tuple[dict[str, list[str]], dict[int, tuple[str, int]]]:
    """Each host's own lines of a pdsh (or kubectl) text, and where each line of it stands in
    its host's (line numbers from 1)."""
    own: dict[str, list[str]] = {}
    where: dict[int, tuple[str, int]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = _PREFIX.match(line)
        assert m is not None, line
        host = m.group(1) or m.group(2)
        lines = own.setdefault(host, [])
        lines.append(line[m.end():])
        where[n] = (host, len(lines))
    return own, where


def _analysed(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["analyze", "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def _as_own(report: dict[str, Any], path: str, where: dict[int, tuple[str, int]],
            own_files: dict[str, str]) -> dict[str, Any]:
    """``report`` of the hosts' text as the report of their own files would be: each
    evidence's file and line those of its host's own file."""
    def fix(x: Any) -> Any:
        if isinstance(x, dict):
            if x.get("file") == path and isinstance(x.get("frame"), int):
                host, line = where[x["frame"]]
                x = {**x, "file": own_files[host], "frame": line}
            return {k: fix(v) for k, v in x.items()}
        if isinstance(x, list):
            return [fix(v) for v in x]
        if isinstance(x, str) and path in x:
            for n in sorted(where, reverse=True):  # "previously FILE:N", "copy of FILE:N"
                host, line = where[n]
                x = x.replace(f"{path}:{n})", f"{own_files[host]}:{line})")
                x = x.replace(f"{path}:{n} ", f"{own_files[host]}:{line} ")
            return x
        return x
    def own_line(m: re.Match[str]) -> str:
        host, line = where[int(m.group(1))]
        return f"{own_files[host]} line {line}"

    out = fix(report)
    for point in out["points"]:  # each point's file, and its lines in its warnings
        point["files"] = [own_files[point["name"]]]
        point["warnings"] = [re.sub(re.escape(path) + r" line (\d+)", own_line, w)
                             for w in point["warnings"]]
    return out


def _same_as_own(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                 *options: str) -> None:
    """The report of ``text`` (a pdsh text) is that of its hosts' lines as files of their
    own, given in the order the hosts first speak (both with ``options``)."""
    path = tmp_path / "all.txt"
    path.write_text(text)
    own, where = _split(text)
    files = {}
    for host, lines in own.items():
        files[host] = str(tmp_path / f"own-{host}.txt")
        Path(files[host]).write_text("\n".join(lines) + "\n")
    assert text_hosts(str(path)) is not None and text_hosts(str(path)).hosts == list(own)
    together = _analysed([*options, str(path)], capsys)
    apart = _analysed([*options, *(f"{h}={f}" for h, f in files.items())], capsys)
    assert [p["name"] for p in together["points"]] == list(own)
    assert _as_own(together, str(path), where, files) == apart
    _same_rows(str(path), where, files)


def _same_rows(path: str, where: dict[int, tuple[str, int]], files: dict[str, str]) -> None:
    """Every packet of each host's lines, as the table holds it, is that of its own file,
    its line that of the same line there."""
    together, errors = read_points(open_inputs([("", path)]))
    apart, errors_apart = read_points(open_inputs(list(files.items())))
    assert not errors and not errors_apart
    for mine, own in zip(together, apart, strict=True):
        assert mine.summary.name == own.summary.name
        got = [r._replace(file=files[where[r.frame][0]], frame=where[r.frame][1])
               for r in mine.table.records()]
        assert got == list(own.table.records())


RUN_NAMES = ["dual-l3", "healthy", "asym-firewall", "mtu-blackhole"]


@pytest.mark.parametrize("run", RUN_NAMES)
def test_pdsh_text_of_a_lab_run_reads_as_the_hosts_own_texts(
        run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _hosts, text = _run_text(run, tmp_path)
    assert "reading from file" in text  # tcpdump's own words come along, after the host
    _same_as_own(text, tmp_path, capsys)
    _same_as_own(text, tmp_path, capsys, "--filter-port", "22")  # read to records


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("flags", ["-v", "-e", "-e -v", "-tt", "-S"])
def test_lines_of_hosts_interleaved_as_a_live_run_prints_them(
        flags: str, seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pdsh prints each host's lines as they come: a ``-v`` packet's two lines may stand
    apart, another host's lines between them."""
    _hosts, text = _run_text("dual-l3", tmp_path, f"tcpdump -n {flags}")
    _same_as_own(_interleaved(text, "{}: ", seed), tmp_path, capsys)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("flags", ["-v", "-e"])
def test_lines_of_pods_as_kubectl_prints_them(
        flags: str, seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``kubectl logs -f --prefix -l app=tcpdump`` prints each line of a pod's container after
    ``[pod/NAME/CONTAINER] `` (kubectl's own format string), the pods' lines as they come:
    each pod is a point, read as its own lines are."""
    _hosts, text = _run_text("dual-l3", tmp_path, f"tcpdump -n {flags}")
    _same_as_own(_interleaved(text, "[pod/{}/tcpdump] ", seed), tmp_path, capsys)


def _interleaved(text: str, prefix: str, seed: int) -> str:
    """The hosts' lines of a pdsh text, each after ``prefix`` (the host for ``{}``), mixed as
    a live run prints them: a line at a time (seed 1), or one to three."""
    own, _ = _split(text)
    queues = {h: [prefix.format(h) + line for line in lines] for h, lines in own.items()}
    rng = random.Random(seed)
    mixed = []
    while queues:
        host = rng.choice(sorted(queues))
        take = rng.randint(1, 3) if seed > 1 else 1  # the first: a host's line at a time
        mixed += queues[host][:take]
        del queues[host][:take]
        if not queues[host]:
            del queues[host]
    return "\n".join(mixed) + "\n"


def test_dshbak_blocks_read_as_the_pdsh_text(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _needs("dshbak")
    hosts, text = _run_text("dual-l3", tmp_path, stderr="2>/dev/null")
    blocks = subprocess.run(["dshbak"], input=text, capture_output=True, text=True,
                            check=True).stdout
    path = tmp_path / "blocks.txt"
    path.write_text(blocks)
    found = text_hosts(str(path))
    heads = {n: line for n, line in enumerate(blocks.splitlines(), 1) if line in hosts}
    assert found is not None and found.hosts == list(heads.values())  # in dshbak's order
    # each host's lines: those after its head, numbered as in the file
    where: dict[int, tuple[str, int]] = {}
    host, seen = "", 0
    for n, line in enumerate(blocks.splitlines(), 1):
        if n in heads:
            host, seen = line, 0
        elif not line.startswith("----") and host:
            seen += 1
            where[n] = (host, seen)
    own, _ = _split(text)
    files = {}
    for h in hosts:
        files[h] = str(tmp_path / f"own-{h}.txt")
        Path(files[h]).write_text("\n".join(own[h]) + "\n")
    together = _analysed([str(path)], capsys)
    apart = _analysed([f"{h}={files[h]}" for h in found.hosts], capsys)
    assert together["diagnosis"]["kinds"] == ["asymmetric-nat", "reset-not-from-server"]
    assert _as_own(together, str(path), where, files) == apart


def test_dshbak_blocks_after_the_command_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """dshbak's text pasted with the command that made it: the hosts are still the points
    (not one point of all their packets)."""
    _needs("dshbak")
    hosts, text = _run_text("dual-l3", tmp_path, stderr="2>/dev/null")
    blocks = subprocess.run(["dshbak"], input=text, capture_output=True, text=True,
                            check=True).stdout
    plain, pasted = tmp_path / "blocks.txt", tmp_path / "pasted.txt"
    plain.write_text(blocks)
    pasted.write_text(f"$ pdsh -w {','.join(hosts)} tcpdump -l -n -i any | dshbak\n{blocks}")
    want, got = _analysed([str(plain)], capsys), _analysed([str(pasted)], capsys)
    assert [(p["name"], p["packets"], p["skipped"]) for p in got["points"]] == [
        (p["name"], p["packets"], p["skipped"]) for p in want["points"]]
    assert len(got["points"]) == len(hosts)
    assert got["diagnosis"]["kinds"] == want["diagnosis"]["kinds"] == [
        "asymmetric-nat", "reset-not-from-server"]


_ANSIBLE_HEAD = re.compile(r"([\w.-]+) \| (?:CHANGED|FAILED) \| rc=\d+ >>$")
_PSSH_HEAD = re.compile(r"\[\d+\] \d\d:\d\d:\d\d \[(?:SUCCESS|FAILURE)\] ([\w.-]+)")


def _ansible(run: str, tmp_path: Path, command: str) -> tuple[list[str], str]:
    """The hosts of a lab run, and what the real ansible prints running ``command`` on each
    (``{{ inventory_hostname }}``: the host) with its ad-hoc ``shell`` module (connection
    ``local``: no SSH), in ``tmp_path`` holding the run's pcaps."""
    _needs("ansible", "ansible-core")
    hosts = _copied(run, tmp_path)
    home = tmp_path / "home"
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": str(home),
           "ANSIBLE_HOME": str(home / "ansible"), "ANSIBLE_LOCAL_TEMP": str(home / "local"),
           "ANSIBLE_REMOTE_TMP": str(home / "remote")}
    done = subprocess.run(["ansible", "all", "-i", ",".join(hosts) + ",", "-c", "local",
                           "-m", "shell", "-a", command], cwd=tmp_path, capture_output=True,
                          text=True, env=env)
    return hosts, done.stdout


def _pssh(run: str, tmp_path: Path, command: str) -> tuple[list[str], str]:
    """The hosts of a lab run, and what the real pssh -i prints running ``command`` on each
    (``$PSSH_HOST``: the host) in ``tmp_path`` holding the run's pcaps: an ``ssh`` on its
    PATH runs the command here (as pdsh's ``exec`` module does)."""
    _needs("parallel-ssh", "pssh")
    hosts = _copied(run, tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text('#!/bin/sh\nfor last; do :; done\nexec sh -c "$last"\n')
    (bin_dir / "ssh").chmod(0o755)
    done = subprocess.run(["parallel-ssh", "-i", "-H", " ".join(hosts), command], cwd=tmp_path,
                          capture_output=True, text=True,
                          env={"PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin",
                               "LANG": "C.UTF-8", "HOME": str(tmp_path)})
    return hosts, done.stdout


class _Read(NamedTuple):
    """A text of blocks in a file, analysed, and each host's own output analysed apart."""

    path: Path
    where: dict[int, tuple[str, int]]
    """Each line of the text: the host and line of that host's own output it is."""
    files: dict[str, str]
    together: dict[str, Any]
    apart: dict[str, Any]


def _blocks(text: str, head: re.Pattern[str], hosts: list[str], tmp_path: Path,
            capsys: pytest.CaptureFixture[str]) -> _Read:
    """``text`` (of blocks, each after a ``head``) analysed, and each host's own output
    (``tcpdump -n -r``, without what it said: glued to a line or after ``Stderr:``), given
    as files of their own in the order the text names the hosts."""
    where: dict[int, tuple[str, int]] = {}
    host, seen = "", 0
    for n, line in enumerate(text.splitlines(), 1):
        m = head.match(line)
        if m is not None:
            host, seen = m.group(1), 0
        elif host and not line.startswith(("Stderr: ", "reading from", "non-zero")):
            seen += 1
            where[n] = (host, seen)
    files = {}
    for h in hosts:
        files[h] = str(tmp_path / f"own-{h}.txt")
        Path(files[h]).write_text(subprocess.run(
            ["tcpdump", "-n", "-r", tmp_path / f"{h}.pcap"], capture_output=True, text=True,
            check=True).stdout)
    path = tmp_path / "blocks.txt"
    path.write_text(text)
    found = text_hosts(str(path))
    assert found is not None and sorted(found.hosts) == hosts
    return _Read(path, where, files, _analysed([str(path)], capsys),
                 _analysed([f"{h}={files[h]}" for h in found.hosts], capsys))


@pytest.mark.parametrize("run", RUN_NAMES)
@pytest.mark.parametrize("tool", ["ansible", "pssh"])
def test_ansible_and_pssh_blocks_read_as_the_hosts_own_texts(
        tool: str, run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``ansible all -m shell -a 'tcpdump -n -r …'`` glues what tcpdump said to its last
    line (``… length 0reading from file …``); ``pssh -i`` prints it after ``Stderr:``. Each
    host's block is a point read as its own output is, what tcpdump said its own words."""
    if tool == "ansible":
        head, (hosts, text) = _ANSIBLE_HEAD, _ansible(run, tmp_path,
                                                      "tcpdump -n -r {{ inventory_hostname }}.pcap")
        assert "length 0reading from file" in text or "]reading from file" in text
    else:
        head, (hosts, text) = _PSSH_HEAD, _pssh(run, tmp_path,
                                                "tcpdump -n -r $PSSH_HOST.pcap")
        assert "\nStderr: reading from file" in text
    read = _blocks(text, head, hosts, tmp_path, capsys)
    assert _as_own(read.together, str(read.path), read.where, read.files) == read.apart


def test_what_ansible_says_of_a_failed_command_is_its_hosts_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """tcpdump stopped by ``timeout`` (exit 124): ansible heads the block ``FAILED | rc=124``
    and glues ``non-zero return code`` to what tcpdump said last. Each host's packets are
    read as before; ansible's words are a warning of the host naming its line, not an
    unreadable line."""
    hosts, text = _ansible("dual-l3", tmp_path,
                           "tcpdump -n -r {{ inventory_hostname }}.pcap; exit 124")
    assert text.count("| FAILED | rc=124 >>") == len(hosts)
    read = _blocks(text, _ANSIBLE_HEAD, hosts, tmp_path, capsys)
    said = {n for n, line in enumerate(text.splitlines(), 1)
            if line.endswith("non-zero return code")}
    assert len(said) == len(hosts)
    for point in read.together["points"]:
        line = max(n for n, (host, _) in read.where.items() if host == point["name"])
        line = min(n for n in said if n >= line)
        word = f"{read.path} line {line}: ansible: non-zero return code"
        assert point["warnings"].count(word) == 1
        point["warnings"].remove(word)
    assert _as_own(read.together, str(read.path), read.where, read.files) == read.apart
    assert read.together["diagnosis"]["kinds"] == ["asymmetric-nat", "reset-not-from-server"]


def test_a_host_ansible_could_not_reach_is_named(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A host ansible could not reach (its JSON after ``UNREACHABLE! => {``, as the real
    ansible prints it) is left out with one line naming it; the other hosts are analysed."""
    lines = [
        "vm | UNREACHABLE! => {",
        '    "changed": false,',
        '    "msg": "Failed to connect to the host via ssh: ssh: connect to host vm port 22: '
        'Connection refused",',
        '    "unreachable": true',
        "}",
        "netnode | CHANGED | rc=0 >>",
        "17:29:35.964388 IP 203.0.113.11.55052 > 203.0.113.223.22: Flags [S], seq 1, win "
        "64240, length 0tcpdump: verbose output suppressed, use -v[v]... for full protocol "
        "decode",
        "listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262144 bytes",
        "compute | CHANGED | rc=0 >>",
        "17:29:35.940424 IP 203.0.113.11.55052 > 198.51.100.4.22: Flags [S], seq 1, win 64240, "
        "length 0tcpdump: verbose output suppressed, use -v[v]... for full protocol decode",
        "listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262144 bytes",
    ]
    path = tmp_path / "ansible.txt"
    path.write_text("\n".join(lines) + "\n")
    assert main(["analyze", "--format", "json", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"nettrail: error: {path}: not tcpdump text: no packet in 4 lines, first: line 2 "
        "'    \"changed\": false,' (the lines of vm)"]
    report = json.loads(out)
    assert [(p["name"], p["packets"], p["skipped"]) for p in report["points"]] == [
        ("netnode", 1, {}), ("compute", 1, {})]
    assert report["nat"][0]["kind"] == "dnat"


def test_lines_of_no_host_are_read_once(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """pdsh's own words (``pdsh@admin: vm: ssh: connect to host vm port 22: Connection
    refused``) are counted unreadable once, at the first host, and named by their line in the
    file; a mangled line of a host, at that host."""
    lines = [
        "pdsh@admin: vm: ssh: connect to host vm port 22: Connection refused",
        "netnode: 17:29:35.964388 IP 203.0.113.11.55052 > 203.0.113.223.22: Flags [S], "
        "seq 1, win 64240, length 0",
        "compute: tcpdump: verbose output suppressed, use -v[v]... for full protocol decode",
        "compute: 17:29:35.9404%% garbled",
        "compute: 17:29:35.940424 IP 203.0.113.11.55052 > 198.51.100.4.22: Flags [S], "
        "seq 1, win 64240, length 0",
        "netnode: 17:29:35.965486 IP 203.0.113.223.22 > 203.0.113.11.55052: Flags [S.], "
        "seq 7, ack 2, win 64240, length 0",
    ]
    path = tmp_path / "pdsh.txt"
    path.write_text("\n".join(lines) + "\n")
    report = _analysed([str(path)], capsys)
    points = {p["name"]: p for p in report["points"]}
    assert list(points) == ["netnode", "compute"]
    assert points["netnode"]["packets"] == 2 and points["compute"]["packets"] == 1
    assert points["netnode"]["skipped"] == {"unparsed-line": 1}
    assert points["compute"]["skipped"] == {"unparsed-line": 1}
    assert any(" line 1:" in w and "pdsh@admin" in w for w in points["netnode"]["warnings"])
    assert any(" line 4:" in w for w in points["compute"]["warnings"])


def test_what_pdsh_says_of_a_host_is_its_warning(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``pdsh@admin: netnode: timeout exited with exit code 124``, printed when the host's
    command ends, is pdsh's, not tcpdump's: a warning of that host naming the line, not an
    unreadable line, nor the rest of the packet line before it."""
    lines = [
        "netnode: 17:29:35.964388 IP 203.0.113.11.55052 > 203.0.113.223.22: Flags [S], "
        "seq 1, win 64240, length 0",
        "compute: 17:29:35.940424 IP 203.0.113.11.55052 > 198.51.100.4.22: Flags [S], "
        "seq 1, win 64240, length 0",
        "pdsh@admin: netnode: timeout exited with exit code 124",
        "pdsh@admin: compute: timeout exited with exit code 124",
    ]
    path = tmp_path / "pdsh.txt"
    path.write_text("\n".join(lines) + "\n")
    report = _analysed([str(path)], capsys)
    points = {p["name"]: p for p in report["points"]}
    for name, line in (("netnode", 3), ("compute", 4)):
        assert points[name]["packets"] == 1
        assert points[name]["skipped"] == {}
        assert points[name]["warnings"] == [
            f"{path} line {line}: pdsh: timeout exited with exit code 124"]


def test_a_host_whose_tcpdump_failed_is_named(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A host whose tcpdump did not start is left out with one line naming the host and what
    tcpdump said (exit 2, as for any faulty capture); the other hosts are analysed."""
    lines = [
        "vm: tcpdump: eth9: No such device exists",
        "netnode: 17:29:35.964388 IP 203.0.113.11.55052 > 203.0.113.223.22: Flags [S], "
        "seq 1, win 64240, length 0",
        "compute: 17:29:35.940424 IP 203.0.113.11.55052 > 198.51.100.4.22: Flags [S], "
        "seq 1, win 64240, length 0",
        "pdsh@admin: vm: tcpdump exited with exit code 1",
    ]
    path = tmp_path / "pdsh.txt"
    path.write_text("\n".join(lines) + "\n")
    assert main(["analyze", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"nettrail: error: {path} line 4: no packet: only tcpdump's own messages, the last "
        "'tcpdump: eth9: No such device exists' (the lines of vm)"]
    assert out.splitlines()[:2] == [
        "nettrail analyze: 2 capture points, 2 connections, 3 findings",
        f"warning: point vm left out of the analysis: nothing of its lines in {path} could be "
        "read"]


def test_a_name_given_names_a_one_host_text(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    line = ("netnode: 17:29:35.964388 IP 203.0.113.11.55052 > 203.0.113.223.22: Flags [S], "
            "seq 1, win 64240, length 0\n")
    path = tmp_path / "one.txt"
    path.write_text(line)
    assert [p["name"] for p in _analysed([str(path)], capsys)["points"]] == ["netnode"]
    assert [p["name"] for p in _analysed([f"router={path}"], capsys)["points"]] == ["router"]


def test_no_text_of_one_capture_is_taken_for_several_hosts() -> None:
    """Every text of tcpdump's own test suite (``-A`` bytes with ``Host:`` lines among them)
    and of ours is the text of one capture."""
    paths = glob.glob(str(SUITE / "*.out")) + glob.glob(str(FIXTURES / "**" / "*.txt"),
                                                        recursive=True)
    assert len(paths) > 800
    assert [p for p in paths if text_hosts(p) is not None] == []


def _busy_pcap(path: Path, nat: bool, seed: int) -> None:
    """A capture of 2,500 short connections (SYN, SYN-ACK, ACK, data, ACK, FIN, FIN, ACK),
    with the server's address translated where ``nat``, and an ARP request after every
    seventh: enough lines for the reader's bulk paths (blocks of common lines, lines of
    another form among them, ``-v`` lines read in a block)."""
    rng = random.Random(seed)
    server = "198.51.100.4" if nat else "203.0.113.223"
    frames = []
    t = 1_700_000_000_000_000_000
    for n in range(2500):
        client, port = f"203.0.113.{10 + n % 200}", 20000 + n
        c, s = rng.randrange(1 << 31), rng.randrange(1 << 31)
        steps = [(True, SYN, c, 0, b""), (False, SYN | ACK, s, c + 1, b""),
                 (True, ACK, c + 1, s + 1, b""), (True, PSH | ACK, c + 1, s + 1, b"x" * 40),
                 (False, ACK, s + 1, c + 41, b""), (True, FIN | ACK, c + 41, s + 1, b""),
                 (False, FIN | ACK, s + 1, c + 42, b""), (True, ACK, c + 42, s + 2, b"")]
        for out, flags, seq, ack, data in steps:
            src, dst, sp, dp = (client, server, port, 22) if out else (server, client, 22, port)
            segment = capkit.tcp(sp, dp, flags, seq, ack, payload=data)
            frames.append((t, capkit.eth(capkit.ipv4(src, dst, 6, segment, ip_id=n & 0xFFFF))))
            t += rng.randrange(20_000, 200_000)
        if n % 7 == 3:  # a line of another form among the common ones (the reader's holes)
            frames.append((t, capkit.eth(capkit.arp(1, capkit.MAC_A, client, "00:00:00:00:00:00",
                                                    server), etype=0x0806)))
            t += rng.randrange(20_000, 200_000)
    path.write_bytes(capkit.pcap(frames))


@pytest.mark.parametrize("flags", ["", "-v", "-e"])
def test_busy_hosts_interleaved_read_as_their_own_texts(
        flags: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two hosts of 20,000 packets each, their lines interleaved a few at a time."""
    _needs("tcpdump")
    for host, nat in (("netnode", False), ("compute", True)):
        _busy_pcap(tmp_path / f"{host}.pcap", nat, seed=7)
    text = _pdsh(["netnode", "compute"], f"tcpdump -n {flags} -r %h.pcap 2>/dev/null",
                 tmp_path)
    own, _ = _split(text)
    assert min(len(lines) for lines in own.values()) >= 20_000
    queues = {h: [f"{h}: {line}" for line in lines] for h, lines in own.items()}
    rng = random.Random(3)
    mixed = []
    while queues:
        host = rng.choice(sorted(queues))
        take = rng.choice((1, 2, 5, 40))
        mixed += queues[host][:take]
        del queues[host][:take]
        if not queues[host]:
            del queues[host]
    _same_as_own("\n".join(mixed) + "\n", tmp_path, capsys)


PASTED = {
    "crlf": lambda text: text.replace("\n", "\r\n"),
    "fenced": lambda text: f"```\n{text}```\n",
    "quoted": lambda text: "".join(f"> {line}\n" for line in text.splitlines()),
    "quoted twice": lambda text: "".join(f">> {line}\n" for line in text.splitlines()),
}


@pytest.mark.parametrize("form", sorted(PASTED))
def test_a_pasted_pdsh_text_reads_as_it_was(form: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A pdsh text pasted into a mail or a chat (CRLF, a code fence, quote marks before the
    hosts' names) gives the points, connections and findings it gave as it was printed."""
    _hosts, text = _run_text("dual-l3", tmp_path)
    printed, pasted = tmp_path / "printed.txt", tmp_path / "pasted.txt"
    printed.write_text(text)
    pasted.write_bytes(PASTED[form](text).encode())
    want, got = _analysed([str(printed)], capsys), _analysed([str(pasted)], capsys)
    for report in (want, got):
        for point in report["points"]:
            point.pop("files")
            point.pop("warnings")
        report.pop("warnings", None)
    shift = 1 if form == "fenced" else 0  # the fence's line before the text

    def same(x: Any, path: str, by: int) -> Any:
        if isinstance(x, dict):
            return {k: v - by if k == "frame" else same(v, path, by) for k, v in x.items()}
        if isinstance(x, list):
            return [same(v, path, by) for v in x]
        if isinstance(x, str):
            return re.sub(re.escape(path) + r"(?::(\d+))?",
                          lambda m: f"F:{int(m.group(1)) - by}" if m.group(1) else "F", x)
        return x

    assert same(got, str(pasted), shift) == same(want, str(printed), 0)
