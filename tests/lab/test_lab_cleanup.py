"""Lab safety: nothing touches the root namespace, and everything is gone after `down`,
also after a failed build, a build interrupted by SIGTERM/SIGINT and a run killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nettrail import lab
from nettrail.errors import LabError
from nettrail.lab import shell, state
from nettrail.lab.pytest_plugin import require_lab, wait_until_free

pytestmark = [pytest.mark.lab, pytest.mark.root]

NETTRAIL = (sys.executable, "-m", "nettrail.cli.main")


@pytest.fixture(autouse=True)
def _lab_machine() -> None:
    require_lab()
    for name in ("healthy", "dual-l3", "port-closed"):
        wait_until_free(name)


def root_view() -> dict[str, object]:
    """What a lab must never change in the root namespace: links, addresses, routes, rules."""
    def out(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout

    links = sorted(d["ifname"] for d in json.loads(out("ip", "-j", "link", "show")))
    return {
        "links": links,
        "addrs": out("ip", "-o", "addr", "show"),
        "routes": out("ip", "route", "show", "table", "all"),
        "nft": out("nft", "list", "ruleset"),
    }


def lab_pids(name: str) -> list[int]:
    """Every process running inside lab ``name``'s namespaces."""
    return [pid for ns in shell.namespaces(f"ntl-{name}-") for pid in shell.pids(ns)]


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def assert_gone(name: str, pids: list[int]) -> None:
    """No namespace, process or state of lab ``name`` is left."""
    assert shell.namespaces(f"ntl-{name}-") == []
    assert [p for p in pids if alive(p)] == []
    assert state.load(name) is None and not state.state_dir(name).exists()


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``predicate()`` until true; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_up_then_down_leaves_nothing_and_root_namespace_untouched() -> None:
    lab.down("healthy")
    before = root_view()
    with lab.up("healthy") as handle:
        assert handle.ns("vm") == "ntl-healthy-vm"
        assert shell.exists("ntl-healthy-qrouter-5f1c2d3e-8b7a-4c1e-9d2f-0a6b3c4d5e6f")
        rules = subprocess.run(["ip", "netns", "exec", handle.ns(
            "qrouter-5f1c2d3e-8b7a-4c1e-9d2f-0a6b3c4d5e6f"), "iptables-save", "-t", "nat"],
            capture_output=True, text=True, check=True).stdout
        assert "--to-destination 198.51.100.4" in rules
        pids = lab_pids("healthy")
        assert pids, "sshd should run inside the VM namespace"
        assert root_view() == before
        # each OVS host runs its own daemons inside its namespace, files under the lab's state
        for host in ("netnode", "compute"):
            ns = handle.ns(host)
            inode = os.stat(f"/run/netns/{ns}").st_ino
            daemons = {Path(f"/proc/{p}/comm").read_text().strip(): p for p in shell.pids(ns)}
            assert {"ovsdb-server", "ovs-vswitchd"} <= set(daemons), daemons
            for pid in (daemons["ovsdb-server"], daemons["ovs-vswitchd"]):
                assert os.stat(f"/proc/{pid}/ns/net").st_ino == inode
                assert f"{state.state_dir('healthy')}/ovs/{host}/".encode() in \
                    Path(f"/proc/{pid}/cmdline").read_bytes()
            assert "br-int" in shell.links(ns).values()  # the bridge's tap, in the namespace
        assert not {"br-int", "br-tun", "br-ex", "br-phy", "ovs-netdev"} & set(
            root_view()["links"])  # type: ignore[arg-type]
    assert_gone("healthy", pids)
    assert root_view() == before
    assert lab.down("healthy") == []  # idempotent


def test_building_over_an_existing_namespace_is_refused() -> None:
    lab.down("port-closed")
    foreign = "ntl-port-closed-vm"
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    try:
        with pytest.raises(LabError, match="already exists"):
            lab.up("port-closed")
        assert shell.namespaces("ntl-port-closed-") == [foreign]  # left alone
    finally:
        subprocess.run(["ip", "netns", "del", foreign], check=False)


def test_a_failing_step_unwinds_everything(tmp_path: Path) -> None:
    path = tmp_path / "unwind-test.toml"
    path.write_text("""
name = "unwind-test"
[traffic]
host = "a"
kind = "tcp-fetch"
target = "198.51.100.2"
port = 80
expect = "refused"
[hosts.a]
[hosts.b]
iptables = ["-A FORWARD -j NO-SUCH-TARGET"]
[links.ab]
a = { host = "a", dev = "eth0", addrs = ["198.51.100.1/24"] }
b = { host = "b", dev = "eth0", addrs = ["198.51.100.2/24"] }
""", encoding="utf-8")
    with pytest.raises(LabError, match="NO-SUCH-TARGET"):
        lab.up(str(path))
    assert_gone("unwind-test", [])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_build_unwinds(sig: signal.Signals) -> None:
    lab.down("dual-l3")
    # SIGINT at its default in the child whatever this runner inherited: a job started in the
    # background by a shell without job control ignores SIGINT, and so would Python
    proc = subprocess.Popen([*NETTRAIL, "lab", "up", "dual-l3"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert wait_for(lambda: len(shell.namespaces("ntl-dual-l3-")) >= 2
                        or proc.poll() is not None)
        assert proc.poll() is None, "the build ended before the signal could be sent"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.decode().strip() == "nettrail: interrupted"
    assert_gone("dual-l3", [])


def test_down_cleans_up_after_a_run_killed_midway(tmp_path: Path) -> None:
    lab.down("dual-l3")
    proc = subprocess.Popen([*NETTRAIL, "lab", "run", "dual-l3", "--output", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def capturing() -> bool:
            st = state.load("dual-l3")
            return st is not None and sum(k.startswith("capture/") for k in st.pids) == 5
        if not wait_for(capturing):
            proc.kill()
            pytest.fail(f"the run never had its captures up: {proc.communicate()[1]!r}")
        pids = lab_pids("dual-l3")
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    names = {Path(f"/proc/{p}/comm").read_text().strip() for p in pids if alive(p)}
    assert {"tcpdump", "sshd", "ovsdb-server", "ovs-vswitchd"} <= names  # left running
    assert lab.down("dual-l3")
    assert_gone("dual-l3", pids)


def test_cli_verbs_and_their_exit_codes(tmp_path: Path) -> None:
    def nettrail(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*NETTRAIL, *args], capture_output=True, text=True, timeout=60,
                              check=False)

    listed = nettrail("lab", "list")
    assert listed.returncode == 0
    assert [ln.split()[0] for ln in listed.stdout.splitlines()] == lab.available()
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[hosts.a]\n[traffic]\nhost = "a"\nkind = "ssh"\n'
                   'target = "203.0.113.1"\nport = 22\nexpect = "maybe"\n', encoding="utf-8")
    for args in (("lab", "up", str(bad)), ("lab", "up", "no-such-lab")):
        res = nettrail(*args)
        assert res.returncode == 2 and res.stdout == ""
        assert len(res.stderr.splitlines()) == 1 and res.stderr.startswith("nettrail: error: ")
    res = nettrail("lab", "up", str(bad))
    assert "bad.toml: traffic.expect: 'maybe' is not one of" in res.stderr
    assert nettrail("lab", "down", "port-closed").returncode == 0
    assert nettrail("lab", "down", "port-closed").returncode == 0
    assert nettrail("lab", "status").returncode == 0
    assert os.geteuid() == 0
