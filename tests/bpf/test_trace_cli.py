"""`nettrail trace` as a process: outputs, exit status, and nothing left attached after any exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ntf_topo import VIP, Topo, nat_topo_fixture, require_bpf

from conftest import require_tool

pytestmark = [pytest.mark.bpf, pytest.mark.root]
__all__ = ["nat_topo_fixture"]

NETTRAIL = [sys.executable, "-m", "nettrail.cli.main"]


def our_programs(pid: int) -> set[int]:
    """IDs of the BPF programs process ``pid`` holds (from its fds' fdinfo)."""
    ids = set()
    for fd in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = fd.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("prog_id:"):
                ids.add(int(line.split()[1]))
    return ids


def still_loaded(ids: set[int]) -> set[int]:
    """The programs of ``ids`` still loaded (the kernel frees them shortly after close)."""
    for _ in range(50):
        out = subprocess.run(["bpftool", "-j", "prog", "list"], capture_output=True, text=True,
                             check=True).stdout
        left = ids & {p["id"] for p in json.loads(out)}
        links = subprocess.run(["bpftool", "-j", "link", "list"], capture_output=True,
                               text=True, check=True).stdout
        left |= ids & {link.get("prog_id") for link in json.loads(links)}
        if not left:
            return set()
        time.sleep(0.1)
    return left


def start_tracer(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], set[int]]:
    ready = tmp_path / "ready"
    proc = subprocess.Popen([*NETTRAIL, "trace", "-q", "--ready-file", str(ready), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(300):
        if ready.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert ready.exists(), f"tracer never ready: {proc.communicate()[1]}"
    try:
        ids = our_programs(proc.pid)
        assert len(ids) >= 4, ids
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, ids


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_nothing_left_attached(tmp_path: Path, sig: signal.Signals) -> None:
    require_bpf()
    require_tool("bpftool")
    proc, ids = start_tracer(tmp_path, "tcp port 9")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    if sig != signal.SIGKILL:
        assert proc.returncode == 0, err
        assert "0 lost" in err
    assert still_loaded(ids) == set()


def test_nothing_left_after_normal_exit(tmp_path: Path) -> None:
    require_bpf()
    require_tool("bpftool")
    proc, ids = start_tracer(tmp_path, "--duration", "1", "tcp port 9")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "0 lost" in err
    assert still_loaded(ids) == set()


def test_command_mode_json_and_pcapng(nat_topo: Topo, tmp_path: Path) -> None:
    require_bpf()
    tshark = require_tool("tshark")
    t = nat_topo
    jpath, ppath = tmp_path / "t.jsonl", tmp_path / "t.pcapng"
    code = ("import socket,sys;s=socket.socket();s.settimeout(1);"
            f"sys.exit(s.connect_ex(('{VIP}',22)))")
    proc = subprocess.run(
        [*NETTRAIL, "trace", "--output-json", str(jpath), "--output-pcapng", str(ppath),
         "host", VIP, "and", "tcp", "port", "22", "--",
         "ip", "netns", "exec", t.client, "python3", "-c", code],
        capture_output=True, text=True, timeout=60)
    # the command's status (ECONNREFUSED) is the tracer's status
    assert proc.returncode == 111, proc.stderr
    assert "packet 1:" in proc.stdout and f"DNAT {VIP}:22 -> 203.0.113.2:22 in {t.router}" \
        in proc.stdout
    assert f"RST made by the TCP stack of namespace {t.server} (no socket)" in proc.stderr
    recs = [json.loads(line) for line in jpath.read_text().splitlines()]
    assert recs[0]["type"] == "header" and recs[0]["kernel"] == os.uname().release
    assert recs[-1]["type"] == "summary" and recs[-1]["lost"] == 0
    kinds = [(r["kind"], r["netns"], r.get("tcp_flags")) for r in recs[1:-1]]
    assert ("xmit", t.client, "S") in kinds and ("reset", t.server, "S") in kinds
    assert ("recv", t.client, "R.") in kinds
    out = subprocess.run([tshark, "-r", str(ppath), "-T", "fields", "-e",
                          "frame.interface_name", "-e", "tcp.flags.str", "-e", "frame.comment"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    assert any(r[0].endswith(f"/{t.client}/{t.c_dev}") and "nettrail xmit" in r[2]
               for r in rows)
    assert any(f"/{t.server}/" in r[0] and "RST made by the TCP stack" in r[2] for r in rows)
    assert any(r[0].endswith(f"/{t.router}/{t.r_out}")
               and f"DNAT {VIP}:22 -> 203.0.113.2:22 in {t.router}" in r[2] for r in rows)


def test_bad_filter_and_missing_object(tmp_path: Path) -> None:
    proc = subprocess.run([*NETTRAIL, "trace", "arp", "or", "host"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unsupported primitive 'arp'" in proc.stderr
    proc = subprocess.run([*NETTRAIL, "trace", "--filter-netns", "ntF-none", "tcp"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "no network namespace named 'ntF-none'" in proc.stderr
    proc = subprocess.run([*NETTRAIL, "trace", "tcp", "--duration", "1"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "must come before the filter" in proc.stderr
    from nettrail.errors import CapabilityError
    from nettrail.trace.config import TraceConfig
    from nettrail.trace.session import TraceSession
    with pytest.raises(CapabilityError, match="not built"):
        TraceSession(TraceConfig(), tmp_path / "missing.o").start()


def test_not_root_is_one_line() -> None:
    # A user namespace of its own: uid 65534 inside, no capability in the machine's namespace,
    # yet the checkout and the interpreter stay readable wherever they live (a clone under
    # /root, a pyenv interpreter): switching to user nobody would test directory modes instead.
    unshare = require_tool("unshare")
    proc = subprocess.run([unshare, "--user", *NETTRAIL, "trace", "tcp"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr == ("nettrail: missing capability: tracing needs root "
                           "(CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN)\n")


def test_analyze_with_nothing_traced_says_so() -> None:
    require_bpf()
    proc = subprocess.run([*NETTRAIL, "trace", "--duration", "0.5", "--analyze", "-q",
                           "host", "198.18.255.254"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "nettrail: --analyze: no packet was traced, nothing to analyze\n" in proc.stderr
