"""A reset is a reset wherever it reaches ssh: the lab's ssh client outcome does not depend on
when the RST arrives relative to ssh's own steps (connect, banner write, banner read).

In `dual-l3` the router's RST normally beats ssh to its SO_ERROR check ("connect to host …:
Connection reset by peer"); when ssh is scheduled first (a loaded machine) the RST lands while
ssh prepares its banner, and OpenSSH reports that only at LogLevel INFO, as "Connection reset by
203.0.113.223 port 22". The test makes that second timing happen on purpose: the lab's ssh
client reads its identity file from a FIFO between connect() and its banner write, so holding
the FIFO closed holds ssh there while a server in the VM resets the connection.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nettrail.lab import services, traffic
from nettrail.lab.outcome import classify_ssh
from nettrail.lab.pytest_plugin import LabFactory

pytestmark = [pytest.mark.lab, pytest.mark.root]

PORT = 2222
RESETTER = """
import socket, struct, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1])))
srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
sys.stdin.readline()
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
conn.close()
print("reset", flush=True)
"""


def established(ns: str, port: int) -> bool:
    """Whether namespace ``ns`` has an established TCP connection to ``port``."""
    out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Htn", "state", "established",
                          f"dport = :{port}"], capture_output=True, text=True, check=True)
    return bool(out.stdout.strip())


def test_reset_before_the_ssh_banner_is_a_reset(lab_scenario: LabFactory,
                                                tmp_path: Path) -> None:
    handle = lab_scenario("healthy")
    key_dir = services.ssh_dir(tmp_path)
    key_dir.mkdir()
    real_key = services.client_key(handle.state.dir)
    os.mkfifo(services.client_key(tmp_path))
    (key_dir / "client_key.pub").write_bytes(Path(f"{real_key}.pub").read_bytes())
    scn = dataclasses.replace(handle.scenario,
                              traffic=dataclasses.replace(handle.scenario.traffic, port=PORT))
    client = handle.ns(scn.traffic.host)
    server = subprocess.Popen(["ip", "netns", "exec", handle.ns("vm"), sys.executable, "-c",
                               RESETTER, str(PORT)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    ssh = None
    try:
        assert server.stdout is not None and server.stdin is not None
        assert server.stdout.readline().strip() == "ready"
        ssh = subprocess.Popen(list(traffic.argv_for(scn, tmp_path)), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # opening the FIFO for writing returns once ssh opens it: connected, banner not sent
        with open(services.client_key(tmp_path), "wb") as fifo:
            assert established(client, PORT), "ssh should hold a connection by now"
            server.stdin.write("reset\n")
            server.stdin.flush()
            assert server.stdout.readline().strip() == "reset"
            deadline = time.monotonic() + 10
            while established(client, PORT):
                assert time.monotonic() < deadline, "the RST never reached the client"
                time.sleep(0.01)
            fifo.write(real_key.read_bytes())
        _, stderr = ssh.communicate(timeout=30)
    finally:
        for proc in (ssh, server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert "connect to host" not in stderr, "the reset should reach ssh after connect()"
    outcome, detail = classify_ssh(ssh.returncode, stderr)
    assert (outcome, detail) == ("reset", f"Connection reset by {scn.traffic.target} port "
                                          f"{PORT}"), stderr


@pytest.mark.parametrize(("code", "stderr", "outcome"), [
    # every way OpenSSH 9 reported the resets of `dual-l3`, by when the RST reached it
    (255, "ssh: connect to host 203.0.113.223 port 22: Connection reset by peer\r\n", "reset"),
    (255, "kex_exchange_identification: read: Connection reset by peer\r\n"
          "Connection reset by 203.0.113.223 port 22\r\n", "reset"),
    (255, "Connection reset by 203.0.113.223 port 22\r\n", "reset"),
    (255, "Connection reset by 203.0.113.223 port -1\r\n", "reset"),
    (255, "Connection reset by UNKNOWN port -1\r\n", "reset"),
    (255, "ssh: connect to host 203.0.113.223 port 22: Connection timed out\r\n", "timeout"),
    (255, "Connection timed out during banner exchange\r\n", "timeout"),
    (255, "Connection closed by 203.0.113.223 port 22\r\n", "error"),
    (255, "", "error"),
])
def test_every_ssh_message_of_a_reset_is_a_reset(code: int, stderr: str, outcome: str) -> None:
    assert classify_ssh(code, stderr)[0] == outcome


def test_a_lab_a_test_took_down_is_built_again(lab_scenario: LabFactory) -> None:
    """The module's factory hands out one lab per scenario; a test that takes it down (as
    most lab tests end) leaves the next test of the module a lab that is up again."""
    from nettrail import lab

    first = lab_scenario("healthy")
    first.down()
    assert not lab.is_up(first.name)
    again = lab_scenario("healthy")
    assert again is not first and lab.is_up(again.name)
    assert again.run_traffic().outcome == again.scenario.traffic.expect
