"""``nettrail analyze -`` and ``<(...)``: a capture given as a pipe (or a terminal's paste) is
saved once and read as the file it would have been, named by the path the user gave."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nettrail.cli.main import main
from nettrail.run import analyze_files

FIXTURES = Path(__file__).parents[1] / "fixtures"
PCAP = FIXTURES / "captures" / "lab-any.pcap"
TEXT = FIXTURES / "text" / "incident-netnode.txt"
NETTRAIL = [sys.executable, "-m", "nettrail.cli.main"]


@pytest.fixture
def stdin_fd() -> Iterator[None]:
    """Standard input (descriptor 0) of this process put back as it was after the test."""
    kept = os.dup(0)
    try:
        yield
    finally:
        os.dup2(kept, 0)
        os.close(kept)


def _pipe_to(fd: int, data: bytes) -> None:
    """A pipe on descriptor ``fd`` that gives ``data``, then its end."""
    r, w = os.pipe()

    def write() -> None:
        with contextlib.suppress(BrokenPipeError), os.fdopen(w, "wb") as out:
            out.write(data)  # a test that does not read it closes its end

    threading.Thread(target=write, daemon=True).start()
    os.dup2(r, fd)
    os.close(r)


def _json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    code = main(["analyze", "--format", "json", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


@pytest.mark.parametrize("path", [PCAP, TEXT])
def test_a_pipe_on_standard_input_reads_as_its_file(
    path: Path, stdin_fd: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, from_file, _ = _json([f"stdin={path}"], capsys)
    _pipe_to(0, path.read_bytes())
    code_piped, piped, err = _json(["-"], capsys)
    assert err == ""
    assert code_piped == code == 0
    assert piped["points"][0]["files"] == ["/dev/stdin"]
    assert piped == json.loads(json.dumps(from_file).replace(str(path), "/dev/stdin"))


def test_a_process_substitution_reads_as_its_file(
    stdin_fd: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """``nettrail analyze netnode=<(tcpdump -nr x.pcap)``: the descriptor's path names it."""
    fd = os.dup(0)  # a free descriptor number, then the pipe on it
    try:
        _pipe_to(fd, TEXT.read_bytes())
        code, report, err = _json([f"netnode=/dev/fd/{fd}"], capsys)
        _, from_file, _ = _json([f"netnode={TEXT}"], capsys)
    finally:
        os.close(fd)
    assert err == ""
    assert code == 0
    assert report["points"][0]["files"] == [f"/dev/fd/{fd}"]
    assert json.dumps(report) == json.dumps(from_file).replace(str(TEXT), f"/dev/fd/{fd}")
    assert report["diagnosis"]["headline"]


def test_a_file_given_with_a_redirection_is_read_in_place(
    stdin_fd: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(PCAP, "rb") as f:
        os.dup2(f.fileno(), 0)
    code, report, _ = _json(["-"], capsys)
    assert code == 0
    assert report["points"][0]["name"] == "stdin"
    assert report["points"][0]["files"] == ["/dev/stdin"]
    assert report["points"][0]["packets"] == 66


def test_hosts_text_piped_is_a_point_per_host(
    stdin_fd: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pdsh -w netnode,compute tcpdump -nr ... | nettrail analyze -``."""
    lines = [f"{host}: {line}" for host, name in (("netnode", "incident-netnode.txt"),
                                                  ("compute", "incident-compute.txt"))
             for line in (FIXTURES / "text" / name).read_text().splitlines()]
    _pipe_to(0, ("\n".join(lines) + "\n").encode())
    code, report, _ = _json(["-"], capsys)
    assert code == 0
    assert [p["name"] for p in report["points"]] == ["netnode", "compute"]


@pytest.mark.parametrize(("data", "why"), [
    (b"", "/dev/stdin at byte 0: empty file"),
    (b"\x1f\x8b\x08\x00rest", "/dev/stdin at byte 0: gzip-compressed file: decompress it first "
                              "(gunzip -k /dev/stdin)"),
])
def test_a_pipe_of_nothing_usable_is_one_line(
    data: bytes, why: str, stdin_fd: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _pipe_to(0, data)
    assert main(["analyze", "-"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"nettrail: error: {why}\n"


def test_a_closed_standard_input_is_one_line(
    stdin_fd: None, capsys: pytest.CaptureFixture[str]
) -> None:
    os.close(0)
    assert main(["analyze", "-"]) == 2
    assert capsys.readouterr() == ("", "nettrail: error: /dev/stdin: not open: nothing to read\n")


def _started(args: list[str], **kw: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    return subprocess.Popen([*NETTRAIL, *args], env=env, **kw)  # type: ignore[call-overload]


def _unread(fd: int) -> int:
    """The bytes in the pipe ``fd`` is an end of, not read yet."""
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, bytes(4)), sys.byteorder)


@pytest.mark.parametrize("last", [b"", b"rest"])
def test_ctrl_c_ends_a_live_pipe_and_what_came_is_analysed(last: bytes) -> None:
    """``tcpdump ... | nettrail analyze -`` stopped with Ctrl-C: the lines the pipe gave are
    analysed, exit 0, with what its writer writes out as it stops (``rest``: tcpdump without
    ``-l`` writes its last buffer then; it may be most of the text) up to its end, or (``""``)
    until it has been quiet a while, its pipe still open (a writer Ctrl-C did not stop)."""
    data = TEXT.read_bytes()
    half = data.rindex(b"\n", 0, len(data) // 2) + 1 if last else len(data)
    packets = analyze_files([("stdin", str(TEXT))]).analysis.points[0].packets
    r, w = os.pipe()
    proc = _started(["analyze", "-"], stdin=r, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(r)
    try:
        os.write(w, data[:half])
        while _unread(w):  # until nettrail has read it: it reads with its Ctrl-C set
            assert proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        if last:
            time.sleep(0.2)  # the writer's way out
            os.write(w, data[half:])
            os.close(w)
        out, err = proc.communicate(timeout=60)
    finally:
        if not last:
            os.close(w)
        proc.kill()
    assert err.decode() == (f"nettrail: Ctrl-C: /dev/stdin read up to byte {len(data)}; "
                            "analysing what came (Ctrl-C again stops)\n")
    assert proc.returncode == 0
    assert f"Point stdin: {packets} packets".encode() in out


def test_a_terminal_is_read_up_to_ctrl_d_and_the_user_is_told() -> None:
    """A text pasted into ``nettrail analyze -`` at a terminal."""
    master, slave = pty.openpty()
    proc = _started(["analyze", "-"], stdin=slave, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
    os.close(slave)
    try:
        said = b""
        while b"Ctrl-D" not in said:  # the prompt goes to stderr before the read
            assert proc.stderr is not None
            ready, _, _ = select.select([proc.stderr], [], [], 30)
            assert ready, "no prompt"
            said += os.read(proc.stderr.fileno(), 4096)
        for line in TEXT.read_bytes().splitlines(keepends=True):
            os.write(master, line)
        os.write(master, b"\x04")  # Ctrl-D at the start of a line: the end
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        proc.kill()
    assert said + err == (b"nettrail: reading /dev/stdin until Ctrl-D (paste the capture's "
                          b"text)\n")
    assert proc.returncode == 0
    assert b"Point stdin: " in out


@pytest.mark.parametrize("twice", [["-", "-"], ["-", "/dev/stdin"], ["/dev/fd/0", "/dev/stdin"]])
def test_standard_input_given_twice_is_refused_before_it_is_read(
    twice: list[str], stdin_fd: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read once and then again as the saved file, it would be matched against itself."""
    _pipe_to(0, PCAP.read_bytes())
    assert main(["analyze", *twice]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"nettrail: error: {twice[1]}: given twice")


def test_a_device_that_is_no_terminal_is_read_in_place_not_saved(
    stdin_fd: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """``nettrail analyze - < /dev/zero`` would be saved for ever: its head is enough."""
    fd = os.open("/dev/zero", os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    assert main(["analyze", "-"]) == 2
    assert capsys.readouterr() == ("", "nettrail: error: /dev/stdin at byte 0: not a pcap, "
                                       "pcapng or tcpdump text file (starts 0x00000000)\n")
