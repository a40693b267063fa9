"""``tcpdump -n -i eth0 | nettrail analyze -`` in a lab namespace, stopped with Ctrl-C: what
tcpdump printed is analysed, with the lines it held in its buffer (no ``-l``) and wrote out
only as it stopped. Scenario: tests/lab/scenarios/tso-healthy.toml (client --- mid ---
server)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import require_tool
from nettrail.lab.pytest_plugin import LabFactory

pytestmark = [pytest.mark.lab, pytest.mark.root]

SCENARIOS = Path(__file__).parent / "scenarios"
CONNECTS = 5


def _reading(pid: int) -> None:
    """Wait until process ``pid`` waits on a pipe's read: nettrail started (a fresh clone
    compiles its modules first) and reads its input, its own Ctrl-C set."""
    for _ in range(600):
        if Path(f"/proc/{pid}/wchan").read_text().endswith("pipe_read"):
            return
        time.sleep(0.05)
    raise AssertionError("nettrail did not start reading its standard input in 30 s")


def test_ctrl_c_on_a_tcpdump_pipeline_analyses_all_tcpdump_printed(
        lab_scenario: LabFactory) -> None:
    tcpdump = require_tool("tcpdump")
    handle = lab_scenario(str(SCENARIOS / "tso-healthy.toml"))
    ns = handle.ns("client")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    # packets handed over at once, its output still held in its buffer (no -l)
    capture = subprocess.Popen(["ip", "netns", "exec", ns, tcpdump, "-n", "--immediate-mode",
                                "-i", "eth0", "tcp"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    analysis = subprocess.Popen([sys.executable, "-m", "nettrail.cli.main", "analyze", "-"],
                                stdin=capture.stdout, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
    assert capture.stdout is not None and capture.stderr is not None
    capture.stdout.close()
    try:
        said = b""
        while b"listening on" not in said:
            said += os.read(capture.stderr.fileno(), 4096)
            assert said, "tcpdump ended before it listened"
        for _ in range(CONNECTS):  # mid has no port 9: a SYN and its RST each
            subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                            "import socket\nsocket.socket().connect_ex(('203.0.113.1', 9))"],
                           check=True)
        time.sleep(0.3)  # the last RST captured
        _reading(analysis.pid)
        # the terminal's Ctrl-C, to the pipeline: nettrail's first, the order that loses
        # tcpdump's buffered lines unless nettrail reads on
        analysis.send_signal(signal.SIGINT)
        time.sleep(0.1)
        capture.send_signal(signal.SIGINT)
        out, err = analysis.communicate(timeout=60)
        _, stats = capture.communicate(timeout=60)
    finally:
        for proc in (capture, analysis):
            proc.kill()
        handle.down()
    captured = re.search(rb"(\d+) packets? captured", said + stats)
    assert captured is not None and int(captured.group(1)) == 2 * CONNECTS, said + stats
    assert analysis.returncode == 0, err
    assert re.fullmatch(rb"nettrail: Ctrl-C: /dev/stdin read up to byte \d+; analysing what "
                        rb"came \(Ctrl-C again stops\)\n", err), err
    assert f"Point stdin: {2 * CONNECTS} packets (tcpdump-text)".encode() in out, out
    assert f"{CONNECTS} connections".encode() in out, out
