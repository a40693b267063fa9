"""``nettrail collect`` against real sshd in lab hosts: captures, clocks, failures, cleanup.

The dual-l3 lab's hosts each run sshd on their own loopback; the compute node's clock is
emulated 25 ms behind (capture timestamps and clock probes alike). Nothing tells collect so.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nettrail.capture import open_capture
from nettrail.lab import services, shell, sshhosts
from nettrail.lab.handle import LabHandle
from nettrail.lab.plan import in_ns
from nettrail.model.packet import TCPHeader

pytestmark = [pytest.mark.lab, pytest.mark.root]

NETTRAIL = [sys.executable, "-m", "nettrail.cli.main"]
_SYS_TGKILL = {"x86_64": 234, "aarch64": 131}.get(os.uname().machine, 234)
MS = 1_000_000
LEFTOVER_COMMANDS = ("tcpdump", "timeout", "sh", "bash", "dash", "socat", "python3", "sleep")


@pytest.fixture(scope="module")
def dual(lab_scenario: Callable[[str], LabHandle]) -> LabHandle:
    """The dual-l3 lab, up for this module."""
    return lab_scenario("dual-l3")


@pytest.fixture(scope="module")
def ssh_config(dual: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The lab's client config plus hosts that refuse, hang, or have no tcpdump."""
    d = tmp_path_factory.mktemp("collect")
    text, sshd = _broken_hosts(dual, d)
    path = d / "ssh_config"
    path.write_text(sshhosts.client_config(dual.scenario, dual.state.dir) + text,
                    encoding="utf-8")
    try:
        yield path
    finally:
        shell.kill([sshd.pid])
        sshd.wait()


def _broken_hosts(dual: LabHandle, d: Path) -> tuple[str, subprocess.Popen[bytes]]:
    ns = dual.ns("extnet")
    # "hanging": SYNs to 127.0.0.1:2823 in extnet are dropped; "notcpdump": an sshd whose
    # sessions get a PATH without tcpdump (and without anything else)
    shell.run(in_ns(ns, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "2823", "-j", "DROP"))
    empty = d / "empty-path"
    empty.mkdir()
    key = sshhosts.key_path(dual.state.dir, "extnet")
    cfg = d / "sshd_notcpdump"
    cfg.write_text("\n".join((
        "Port 2824", "ListenAddress 127.0.0.1", f"HostKey {key}",
        f"AuthorizedKeysFile {services.ssh_dir(dual.state.dir) / 'authorized_keys'}",
        "PidFile none", "StrictModes no", "UsePAM no", "PermitRootLogin prohibit-password",
        "PasswordAuthentication no", "UseDNS no", f"SetEnv PATH={empty}", "")),
        encoding="utf-8")
    proc = shell.spawn(in_ns(ns, services.SSHD, "-D", "-e", "-f", str(cfg)), d / "sshd.log")
    deadline = time.monotonic() + 5
    while not shell.listening(ns, 2824) and time.monotonic() < deadline:
        time.sleep(0.02)
    base = sshhosts.client_config(dual.scenario, dual.state.dir).split("\nHost extnet\n")[1]
    base = base.split("\nHost ")[0]
    entries = []
    for name, port in (("refused", 2829), ("hanging", 2823), ("notcpdump", 2824)):
        body = base.replace(f"TCP:127.0.0.1:{sshhosts.PORT}", f"TCP:127.0.0.1:{port}")
        entries.append(f"\nHost {name}\n{body}")
    # "newkey": a real host whose key is not in its known_hosts file yet
    fresh = d / "fresh_known_hosts"
    fresh.touch()
    known = str(services.ssh_dir(dual.state.dir) / sshhosts.KNOWN_HOSTS)
    entries.append(f"\nHost newkey\n{base.replace(known, str(fresh))}")
    return "".join(entries), proc


def collect(config: Path, out: Path, *args: str, timeout: float = 60,
            ) -> subprocess.CompletedProcess[str]:
    """Run ``nettrail collect -F config --output out ARGS`` to its end."""
    argv = [*NETTRAIL, "collect", "-F", str(config), "--output", str(out),
            "--connect-timeout", "2", "--probes", "100", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def manifest(out: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    """The run's hosts by name."""
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {h["name"]: h for h in data["hosts"]}


def processes(dual: LabHandle) -> dict[str, list[str]]:
    """Command names of the processes alive in each lab namespace."""
    result = {}
    for ns in dual.scenario.namespaces:
        names = []
        for pid in shell.pids(ns):
            try:
                names.append(Path(f"/proc/{pid}/comm").read_text().strip())
            except OSError:
                continue
        result[ns] = sorted(names)
    return result


def assert_nothing_left(dual: LabHandle, before: dict[str, list[str]]) -> None:
    """Every lab namespace is back to the processes it had before (remote cleanup may take a
    moment after a connection drops)."""
    lab_before = {k: v for k, v in before.items() if k != "control-dirs"}
    deadline = time.monotonic() + 8
    while processes(dual) != lab_before and time.monotonic() < deadline:
        time.sleep(0.1)
    after = processes(dual)
    assert after == lab_before
    assert not any(c in LEFTOVER_COMMANDS for names in after.values() for c in names)
    assert _local_ssh() == []
    assert _control_dirs() <= set(before.get("control-dirs", []))


def _control_dirs() -> set[str]:
    """collect's private control directories present here."""
    return {str(p) for p in Path(tempfile.gettempdir()).glob("nettrail-ssh-*")}


def _local_ssh() -> list[str]:
    """ssh processes of collect runs still alive here (control sockets in nettrail-ssh-*)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"ssh") and any(b"/nettrail-ssh-" in a for a in argv):
            found.append(proc.name)
    return found


def root_namespace() -> str:
    """Links, addresses and routes of the root namespace."""
    out = [subprocess.run(["ip", "-j", *cmd], capture_output=True, text=True, check=True).stdout
           for cmd in (["link", "show"], ["addr", "show"], ["route", "show", "table", "all"])]
    return "\n".join(out)


def ssh_ports(pcap: Path) -> set[int]:
    """TCP ports of the SSH login (2822) seen in a capture: nettrail's own must be absent."""
    ports = set()
    for rec in open_capture(str(pcap)):
        l4 = rec.l4
        if isinstance(l4, TCPHeader) and sshhosts.PORT in (l4.sport, l4.dport):
            ports.add(l4.sport)
    return ports


@pytest.fixture
def baseline(dual: LabHandle, ssh_config: Path) -> Iterator[dict[str, list[str]]]:
    """Processes in the lab (and control directories here) before a test; the test must
    leave exactly these."""
    yield {**processes(dual), "control-dirs": sorted(_control_dirs())}


def test_lab_ssh_config_works_with_plain_ssh(dual: LabHandle, ssh_config: Path) -> None:
    out = subprocess.run(["ssh", "-F", str(ssh_config), "-o", "StrictHostKeyChecking=yes",
                          "netnode", "cat /proc/self/net/dev | grep -c eth"],
                         capture_output=True, text=True, timeout=20, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"  # netnode's eth0 and eth1, seen from inside it


def test_two_hosts_clocks_recovered_and_own_ssh_excluded(
        dual: LabHandle, ssh_config: Path, tmp_path: Path,
        baseline: dict[str, list[str]]) -> None:
    root_before = root_namespace()
    out = tmp_path / "run"
    res = collect(ssh_config, out, "netnode", "compute", "--",
                  *NETTRAIL, "lab", "traffic", "dual-l3")
    assert res.returncode == 0, res.stderr
    hosts = manifest(out)
    assert [h["state"] for h in hosts.values()] == ["done", "done"]
    for name, truth_ms in (("netnode", 0), ("compute", -25)):
        clock = hosts[name]["clock"]
        for when in ("before", "after"):
            est = clock[when]
            assert abs(est["offset_ns"] - truth_ms * MS) <= est["uncertainty_ns"], (name, est)
            assert est["probes"] == 100
        key = sshhosts.key_path(dual.state.dir, name).with_suffix(".pub")
        fp = subprocess.run(["ssh-keygen", "-lf", str(key)], capture_output=True, text=True,
                            check=True).stdout.split()[1]
        assert hosts[name]["host_key"] == f"ssh-ed25519 {fp}"
        assert hosts[name]["packets"] > 0
        assert ssh_ports(out / f"{name}.pcap") == set()
    text = (out / "manifest.json").read_text(encoding="utf-8")
    assert "clock_offset" not in text
    assert root_namespace() == root_before
    assert_nothing_left(dual, baseline)


def test_four_hosts_then_analyze_gives_the_diagnosis(
        dual: LabHandle, ssh_config: Path, tmp_path: Path,
        baseline: dict[str, list[str]]) -> None:
    out = tmp_path / "run"
    res = collect(ssh_config, out, "tcp port 22", "client", dual.scenario.hosts[3].name,
                  "compute", "vm", "--", *NETTRAIL, "lab", "traffic", "dual-l3")
    assert res.returncode == 0, res.stderr
    assert all(h["state"] == "done" for h in manifest(out).values())
    report = subprocess.run([*NETTRAIL, "analyze", "--format", "json", str(out)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert "two L3 implementations" in data["diagnosis"]["headline"]
    checks = {c["point"]: c for c in data["clock_checks"]}
    compute = checks["compute"]
    # The probes must be right. The packets see this pair in one direction only at times (the
    # reply is translated on the way); such an estimate is the bound at zero transit with a
    # 1 ms floor (more when it is reached through another point's), which the OVS userspace
    # path's transit can exceed: then, and only then, the two may disagree, and the combined
    # clock is the probes'.
    assert compute["verdict"] == "agree" or compute["packet_uncertainty_ms"] >= 1.0, (
        json.dumps(compute))
    assert abs(compute["probe_offset_ms"] + 25) <= compute["probe_uncertainty_ms"]
    assert abs(compute["offset_ms"] + 25) <= compute["uncertainty_ms"] + 0.001
    vm = checks["vm"]
    assert vm["verdict"] == "agree" or vm["packet_uncertainty_ms"] >= 1.0, json.dumps(vm)
    assert abs(vm["offset_ms"]) <= vm["uncertainty_ms"] + 0.001, json.dumps(vm)
    # the times are corrected with that combined clock (the probes', where the packets' bound
    # was one way and off), not the packets' alone
    clock = {c["point"]: c for c in data["clock"]}
    for point, truth_ms in (("compute", -25), ("vm", 0)):
        c = clock[point]
        assert c["source"] in ("both", "probes"), json.dumps(c)
        assert abs(c["offset_ms"] - truth_ms) <= c["uncertainty_ms"] + 0.001, json.dumps(c)
    # every host's snapshot was taken: the rules behind both translations are quoted
    assert_rules_quoted([r for t in data["nat"] for r in t.get("rules", [])],
                        dual.scenario.hosts[3].name, "compute")
    assert_nothing_left(dual, baseline)


ROUTER_NS = "ntl-dual-l3-qrouter-5f1c2d3e-8b7a-4c1e-9d2f-0a6b3c4d5e6f"


def assert_rules_quoted(rules: list[str], router: str, compute: str) -> None:
    """The router namespace's DNAT rule and compute's OpenFlow flow are among ``rules``, each
    quoted as in the point (host or namespace) it belongs to."""
    assert any("-j DNAT --to-destination 198.51.100.4` (iptables-nft nat/PREROUTING) in "
               f"{router}" in r for r in rules), rules
    assert any("mod_nw_src:203.0.113.223" in r and "(openflow br-int table=0) in "
               f"{compute}" in r for r in rules), rules


def test_ebpf_on_two_hosts_at_once_sees_the_router_namespace_reset(
        dual: LabHandle, ssh_config: Path, tmp_path: Path,
        baseline: dict[str, list[str]]) -> None:
    out = tmp_path / "run"
    res = collect(ssh_config, out, "--tracer", "ebpf", "tcp port 22", "client", "netnode",
                  "--", *NETTRAIL, "lab", "traffic", "dual-l3", timeout=120)
    assert res.returncode == 0, res.stderr
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    points = {p["name"]: p for p in data["points"]}
    # each host its own namespace; the namespaces of no host once, from the first host
    assert {"client", "netnode", ROUTER_NS, "ntl-dual-l3-compute"} <= set(points)
    assert points["netnode"]["host"] == "netnode" and points[ROUTER_NS]["host"] == "client"
    assert len({p["netns_inode"] for p in points.values()}) == len(points)
    for p in points.values():  # neither tracer traced a collection's SSH stream
        assert ssh_ports(out / p["pcap"]) == set(), p["name"]
    for h in data["hosts"]:
        assert h["state"] == "done" and h["tracer"]["lost"] == 0, h
        assert h["snapshot"]["files"], h
    report = subprocess.run([*NETTRAIL, "analyze", "--format", "json", str(out)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert report.returncode == 0, report.stderr
    analysis = json.loads(report.stdout)
    diagnosis = analysis["diagnosis"]
    assert "two L3 implementations" in diagnosis["headline"]
    assert f"made by the TCP stack at {ROUTER_NS}" in diagnosis["explanation"].replace(
        "\n", " ").replace("\n", ""), diagnosis
    assert_rules_quoted([r for t in analysis["nat"] for r in t.get("rules", [])], ROUTER_NS,
                        "ntl-dual-l3-compute")
    assert_nothing_left(dual, baseline)


def test_refused_hanging_and_tcpdump_less_hosts_fail_alone(
        dual: LabHandle, ssh_config: Path, tmp_path: Path,
        baseline: dict[str, list[str]]) -> None:
    out = tmp_path / "run"
    res = collect(ssh_config, out, "--duration", "1", "netnode", "refused", "hanging",
                  "notcpdump")  # a host that blocked the others would hit the 60 s timeout
    assert res.returncode == 5, res.stderr
    hosts = manifest(out)
    assert hosts["netnode"]["state"] == "done" and hosts["netnode"]["packets"] >= 0
    for name in ("refused", "hanging", "notcpdump"):
        assert hosts[name]["state"] == "failed" and hosts[name]["reason"], hosts[name]
    assert "tcpdump not found" in hosts["notcpdump"]["reason"]
    assert "timed out" in hosts["hanging"]["reason"]
    assert "notcpdump: failed: nettrail-collect: tcpdump not found" in res.stderr
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [p["name"] for p in data["points"]] == ["netnode"]
    assert_nothing_left(dual, baseline)


def test_an_unknown_host_key_is_refused_unless_new_keys_are_accepted(
        dual: LabHandle, ssh_config: Path, tmp_path: Path,
        baseline: dict[str, list[str]]) -> None:
    res = collect(ssh_config, tmp_path / "r1", "--duration", "0.2", "newkey")
    assert res.returncode == 5
    assert "Host key verification failed" in manifest(tmp_path / "r1")["newkey"]["reason"]
    fresh = ssh_config.parent / "fresh_known_hosts"
    assert fresh.read_text() == ""
    res = collect(ssh_config, tmp_path / "r2", "--duration", "0.2", "--accept-new-host-keys",
                  "newkey")
    assert res.returncode == 0, res.stderr
    recorded = manifest(tmp_path / "r2")["newkey"]["host_key"]
    assert recorded.startswith("ssh-ed25519 SHA256:")
    assert "ntl-dual-l3-extnet ssh-ed25519" in fresh.read_text()
    assert_nothing_left(dual, baseline)


def test_hostile_filter_host_and_command_cannot_inject(
        dual: LabHandle, ssh_config: Path, tmp_path: Path,
        baseline: dict[str, list[str]]) -> None:
    marker = tmp_path / "pwned"
    res = collect(ssh_config, tmp_path / "r1", "--duration", "0.5",
                  f"tcp port 22 '; touch {marker}; echo '$(touch {marker})`touch {marker}`",
                  "netnode")
    assert res.returncode == 5
    assert "syntax error" in manifest(tmp_path / "r1")["netnode"]["reason"]
    res = collect(ssh_config, tmp_path / "r2", "--duration", "0.5",
                  f"netnode;touch {marker}")
    assert res.returncode == 2 and "not a host name" in res.stderr
    odd = tmp_path / "odd; touch pwned2 $(touch pwned3)"
    res = collect(ssh_config, tmp_path / "r3", "--settle", "0", "netnode", "--", "touch",
                  str(odd))
    assert res.returncode == 0, res.stderr
    assert odd.exists()
    assert not marker.exists() and not (tmp_path / "pwned2").exists()
    assert not Path("pwned2").exists() and not Path("pwned3").exists()
    assert_nothing_left(dual, baseline)


def _wait_capturing(proc: subprocess.Popen[str], hosts: int) -> str:
    assert proc.stderr is not None
    seen = ""
    while seen.count(": capturing") < hosts:
        line = proc.stderr.readline()
        assert line, seen
        seen += line
    return seen


def _wait_or_dump(proc: subprocess.Popen[str], timeout: float) -> int:
    """The exit status; on a hang, every thread's stack (faulthandler on SIGABRT) in the
    failure message."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"no exit within {timeout:.0f} s; its threads:\n{err}")


def _to_another_thread(pid: int, sig: int) -> None:
    """Send ``sig`` to a thread of ``pid`` other than its main one (tgkill), as the kernel
    does now and then with a signal sent to the process."""
    tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir() if int(t.name) != pid]
    assert tids, "collect runs no other thread"
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(_SYS_TGKILL, pid, tids[0], sig) == 0, os.strerror(ctypes.get_errno())


@pytest.mark.parametrize(("sig", "thread"), [
    (signal.SIGINT, "process"), (signal.SIGTERM, "process"),
    (signal.SIGINT, "host-thread"), (signal.SIGTERM, "host-thread")])
def test_interrupt_mid_capture_writes_the_run_and_leaves_nothing(
        dual: LabHandle, ssh_config: Path, tmp_path: Path, sig: int, thread: str,
        baseline: dict[str, list[str]]) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen([*NETTRAIL, "collect", "-F", str(ssh_config), "--output", str(out),
                             "--probes", "100", "netnode", "compute"],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    try:
        _wait_capturing(proc, 2)
        if thread == "process":
            proc.send_signal(sig)
        else:
            _to_another_thread(proc.pid, sig)
        assert _wait_or_dump(proc, 90) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert data["interrupted"] is True
    assert [p["name"] for p in data["points"]] == ["netnode", "compute"]
    assert all(h["state"] == "done" for h in data["hosts"])
    assert_nothing_left(dual, baseline)


@pytest.mark.parametrize(("tracer", "how"), [("tcpdump", "killed-ssh"), ("ebpf", "sigterm"),
                                           ("ebpf", "killed-ssh")])
def test_a_stopped_or_cut_capture_fails_its_host_only_and_leaves_nothing(
        dual: LabHandle, ssh_config: Path, tmp_path: Path, tracer: str, how: str,
        baseline: dict[str, list[str]]) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen([*NETTRAIL, "collect", "-F", str(ssh_config), "--output", str(out),
                             "--probes", "100", "--tracer", tracer, "--duration", "20",
                             "netnode", "compute"], stderr=subprocess.PIPE, text=True)
    try:
        _wait_capturing(proc, 2)
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 130
        else:  # the connection drops: the remote side must clean up on its own
            os.kill(_master_of(proc.pid, "compute"), signal.SIGKILL)
            assert proc.wait(timeout=60) == 5
    finally:
        if proc.poll() is None:
            proc.kill()
    hosts = manifest(out)
    assert hosts["netnode"]["state"] == "done"
    if how == "killed-ssh":
        assert hosts["compute"]["state"] == "failed"
        assert "ended early" in hosts["compute"]["reason"]
    assert not list(out.glob(".*.stream.pcapng"))
    assert_nothing_left(dual, baseline)
    assert _tracers() == []


def _tracers() -> list[str]:
    """BPF programs of nettrail's tracer still loaded in the kernel."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=False).stdout
    return [p["name"] for p in json.loads(out or "[]") if p.get("name") in
            ("nt_xmit", "nt_recv", "nt_drop", "nt_reset", "nt_synack", "nt_consume")]


def _master_of(parent: int, host: str) -> int:
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            argv = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"-M" in argv \
                and host.encode() in argv:
            return int(p.name)
    raise AssertionError(f"no ssh master for {host}")


def test_collect_killed_outright_leaves_nothing_on_the_hosts_or_here(
        dual: LabHandle, ssh_config: Path, tmp_path: Path,
        baseline: dict[str, list[str]]) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen([*NETTRAIL, "collect", "-F", str(ssh_config), "--output", str(out),
                             "--probes", "100", "netnode", "compute"],
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_capturing(proc, 2)
        proc.kill()  # no cleanup code runs: the ends of stdin do the work
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while _local_ssh() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _local_ssh() == []
    for d in _control_dirs() - set(baseline["control-dirs"]):  # its own temporary directories
        shutil.rmtree(d)
    assert_nothing_left(dual, baseline)
