"""``nettrail snapshot`` on real namespaces: the lab scenarios, nftables-only and legacy
iptables rules, a namespace only a process holds, one that vanishes, Open vSwitch, not root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import require_root, require_tool
from nettrail.lab.pytest_plugin import LabFactory
from nettrail.topology import NetnsRef, snapshot_refs

pytestmark = [pytest.mark.lab, pytest.mark.root]

NETTRAIL = [sys.executable, "-m", "nettrail.cli.main"]
QROUTER = "qrouter-5f1c2d3e-8b7a-4c1e-9d2f-0a6b3c4d5e6f"
FIP_DNAT = ("-A PREROUTING -d 203.0.113.223/32 -m comment --comment floating-ip -j DNAT "
            "--to-destination 198.51.100.4")
# the compute node's second L3: an OpenFlow flow on br-int (dual-l3, Open vSwitch) or an nftables
# netdev rewrite (linuxbr-dual-l3, Linux bridges)
SDN_FLOW = "mod_nw_src:203.0.113.223"
SDN_NFT = "ip saddr 198.51.100.4 ip daddr != 198.51.100.0/24 ip saddr set 203.0.113.223"


def snapshot_json(*namespaces: str) -> tuple[int, dict[str, Any]]:
    """Run ``nettrail snapshot --format json --netns ...``: (exit code, document)."""
    proc = subprocess.run([*NETTRAIL, "snapshot", "--format", "json", "--netns",
                           ",".join(namespaces)], capture_output=True, text=True, timeout=60)
    assert proc.stderr == ""
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize(("scenario", "rewrite"), [("dual-l3", SDN_FLOW),
                                                   ("linuxbr-dual-l3", SDN_NFT)])
def test_dual_l3_conflict_found_with_both_rules(lab_scenario: LabFactory, scenario: str,
                                                rewrite: str) -> None:
    handle = lab_scenario(scenario)
    code, doc = snapshot_json(*handle.scenario.namespaces)
    assert code == 1
    [finding] = doc["findings"]
    assert finding["kind"] == "multiple-nat-owners" and finding["severity"] == "error"
    assert "203.0.113.223" in finding["details"]["addresses"].split()
    places = sorted(finding["details"]["places"].splitlines())
    assert len(places) == 2 and f"ntl-{scenario}-{QROUTER}" in places
    assert next(p for p in places if "qrouter" not in p).startswith(f"ntl-{scenario}-compute")
    assert FIP_DNAT in finding["details"]["rules"]
    assert rewrite in finding["details"]["rules"]
    spaces = {ns["name"]: ns for ns in doc["namespaces"]}
    links = {lk["name"]: lk for lk in spaces[f"ntl-{scenario}-compute"]["links"]}
    assert links["tap9c8b7a6d-5e"]["peer"] == f"ntl-{scenario}-vm/eth0"
    # a Linux bridge's port (kernel master) or an Open vSwitch bridge's (its port list)
    assert links["tap9c8b7a6d-5e"]["master"] == "br-int"
    if rewrite == SDN_NFT:  # on Open vSwitch the tunnel is OVS's own port, not a Linux device
        assert links["vxlan-c6120001"]["vni"] == 1001
        assert links["vxlan-c6120001"]["remote"] == "198.18.0.1"
    qr = spaces[f"ntl-{scenario}-{QROUTER}"]
    assert {"device": "qg-7d3e1f2a-4b", "address": "203.0.113.223/32"} in qr["addresses"]
    assert any(r["dst"] == "default" and r["gateway"] == "203.0.113.1" for r in qr["routes"])


def test_healthy_has_one_owner(lab_scenario: LabFactory, tmp_path: Path) -> None:
    handle = lab_scenario("healthy")
    code, doc = snapshot_json(*handle.scenario.namespaces)
    assert code == 0 and doc["findings"] == []
    owners = {o["address"]: o["owners"] for o in doc["owners"]}
    assert {o["place"] for o in owners["203.0.113.223"]} == {f"ntl-healthy-{QROUTER}"}
    # a run writes each host's snapshot; analyze ties the translations to the rules
    handle.run(tmp_path)
    assert (tmp_path / "snapshots" / f"{QROUTER}.json").is_file()
    text = subprocess.run([*NETTRAIL, "analyze", str(tmp_path)], capture_output=True,
                          text=True, timeout=60).stdout
    assert f"by `{FIP_DNAT}` (iptables-nft nat/PREROUTING) in {QROUTER}" in text
    # the reply is conntrack undoing the DNAT, not the router's SNAT rule for the VM's own
    assert f"by conntrack reversing `{FIP_DNAT}`" in text
    assert "--to-source 203.0.113.223" not in text
    assert "multiple-nat-owners" not in text


def test_lab_run_quotes_both_rules_in_the_diagnosis(lab_scenario: LabFactory,
                                                    tmp_path: Path) -> None:
    handle = lab_scenario("dual-l3")
    handle.run(tmp_path)
    proc = subprocess.run([*NETTRAIL, "analyze", "--format", "json", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    doc = json.loads(proc.stdout)
    explanation = doc["diagnosis"]["explanation"]
    assert f"DNAT by `{FIP_DNAT}` (iptables-nft nat/PREROUTING) in {QROUTER}" in explanation
    assert SDN_FLOW in explanation and "(openflow br-int table=0) in compute" in explanation
    assert "multiple-nat-owners" in [f["kind"] for f in doc["findings"]]


@pytest.fixture
def netns() -> Iterator[Callable[[str], str]]:
    """A factory of fresh ``ntl-snap-*`` namespaces, all deleted at the end."""
    require_root()
    made: list[str] = []

    def make(suffix: str) -> str:
        name = f"ntl-snap-{suffix}"
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "add", name], check=True)
        made.append(name)
        return name

    yield make
    for name in made:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def sh(ns: str, *cmd: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` inside namespace ``ns``."""
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          check=False, input=stdin)


def test_nftables_only_and_legacy_iptables(netns: Callable[[str], str]) -> None:
    require_tool("iptables-legacy")
    nft_ns, legacy_ns = netns("nft"), netns("legacy")
    ruleset = ("table ip edge {\n chain pre {\n  type nat hook prerouting priority -100;\n"
               "  ip daddr 203.0.113.80 dnat to 198.51.100.80\n }\n}\n")
    assert sh(nft_ns, "nft", "-f", "-", stdin=ruleset).returncode == 0
    add = sh(legacy_ns, "iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-s",
             "198.51.100.80/32", "-j", "SNAT", "--to-source", "203.0.113.80")
    if add.returncode != 0:
        pytest.skip(f"legacy iptables unusable in this kernel: {add.stderr.strip()}")
    code, doc = snapshot_json(nft_ns, legacy_ns)
    spaces = {ns["name"]: ns for ns in doc["namespaces"]}
    assert spaces[nft_ns]["rules"] == {"nftables": 1}
    assert spaces[legacy_ns]["rules"].get("iptables-legacy") == 1
    assert code == 1
    [finding] = doc["findings"]
    assert finding["details"]["addresses"] == "198.51.100.80 203.0.113.80"
    assert "ip daddr 203.0.113.80 dnat to 198.51.100.80" in finding["details"]["rules"]
    assert ("-A POSTROUTING -s 198.51.100.80/32 -j SNAT --to-source 203.0.113.80"
            in finding["details"]["rules"])
    sources = {o["source"] for o in doc["owners"][0]["owners"]}
    assert sources == {"nftables", "iptables-legacy"}


def test_process_namespace_found_and_vanished_one_noted(netns: Callable[[str], str]) -> None:
    unshare = require_tool("unshare")
    proc = subprocess.Popen([unshare, "--net", "sleep", "30"])
    try:
        path = f"/proc/{proc.pid}/ns/net"
        deadline = time.monotonic() + 5
        while os.stat(path).st_ino == os.stat("/proc/self/ns/net").st_ino:
            assert time.monotonic() < deadline, "unshare --net did not take effect"
            time.sleep(0.01)
        held = f"pid:{proc.pid}"
        code, doc = snapshot_json(held)
        assert code == 0
        assert doc["namespaces"][0]["name"] == f"pid:{proc.pid}(sleep)"
        gone = netns("gone")
        ref = NetnsRef(gone, os.stat(f"/run/netns/{gone}").st_ino, f"/run/netns/{gone}")
        subprocess.run(["ip", "netns", "del", gone], check=True)
        topo = snapshot_refs([ref, NetnsRef(held, os.stat(path).st_ino, path)],
                             with_ovs=False)
        assert [ns.name for ns in topo.namespaces] == [held]
        assert len(topo.notes) == 1
        assert topo.notes[0].startswith(f"namespace {gone} vanished during the snapshot")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def test_not_root_one_line_exit_3() -> None:
    unshare = require_tool("unshare")
    proc = subprocess.run([unshare, "--user", *NETTRAIL, "snapshot"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "needs root" in proc.stderr


@pytest.fixture
def ovs(netns: Callable[[str], str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A minimal Open vSwitch (userspace datapath) in its own namespace and run directory."""
    for tool in ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl"):
        require_tool(tool)
    ns = netns("ovs")
    run = tmp_path / "ovs"
    run.mkdir()
    env = {**os.environ, "OVS_RUNDIR": str(run), "OVS_LOGDIR": str(run),
           "OVS_DBDIR": str(run)}
    schema = "/usr/share/openvswitch/vswitch.ovsschema"
    db = f"unix:{run}/db.sock"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(["ovsdb-tool", "create", str(run / "conf.db"), schema], check=True)
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, "ovsdb-server", str(run / "conf.db"),
             f"--remote=punix:{run}/db.sock", f"--unixctl={run}/ovsdb-server.ctl",
             f"--log-file={run}/ovsdb.log"], env=env, stderr=subprocess.DEVNULL))
        _wait_for(run / "db.sock")
        subprocess.run(["ovs-vsctl", f"--db={db}", "--no-wait", "init"], check=True, env=env)
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, "ovs-vswitchd", db, f"--log-file={run}/vswitchd.log"],
            env=env, stderr=subprocess.DEVNULL))
        subprocess.run(["ovs-vsctl", f"--db={db}", "--timeout=10", "add-br", "br-int", "--",
                        "set", "bridge", "br-int", "datapath_type=netdev"], check=True, env=env)
        _wait_for(run / "br-int.mgmt")
        yield ns, run
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=10)


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 10
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_openflow_rewrite_is_a_second_owner(ovs: tuple[str, Path],
                                            netns: Callable[[str], str]) -> None:
    ns, run = ovs
    mgmt = f"unix:{run}/br-int.mgmt"
    flows = ["priority=100,ip,nw_src=198.51.100.4,actions=mod_nw_src:203.0.113.223,NORMAL",
             "priority=90,ip,nw_dst=203.0.113.224,actions=ct(commit,nat(dst=198.51.100.5)),"
             "NORMAL"]
    for flow in flows:
        subprocess.run(["ovs-ofctl", "add-flow", mgmt, flow], check=True)
    router = netns("router")
    assert sh(router, "iptables-nft", "-t", "nat", "-A", "PREROUTING", "-d",
              "203.0.113.223/32", "-j", "DNAT", "--to-destination",
              "198.51.100.4").returncode == 0
    code, doc = snapshot_json(ns, router)
    assert code == 1
    [bridge] = doc["bridges"]
    assert (bridge["name"], bridge["namespace"], bridge["flows"]) == ("br-int", ns, 3)
    assert bridge["ports"] == ["br-int"] and bridge["socket"] == f"{run}/br-int.mgmt"
    [finding] = doc["findings"]
    assert sorted(finding["details"]["places"].splitlines()) == [f"{ns} bridge br-int", router]
    assert ("priority=100,ip,nw_src=198.51.100.4 actions=mod_nw_src:203.0.113.223,NORMAL"
            in finding["details"]["rules"])
    owners = {o["address"]: o["owners"] for o in doc["owners"]}
    ct = [o for o in owners["203.0.113.224"] if o["source"] == "openflow"]
    assert [(o["kind"], o["stateful"], o["direction"]) for o in ct] == [("dnat", True, "from")]


def test_unknown_namespace_and_unwritable_output_exit_2(tmp_path: Path) -> None:
    require_root()
    proc = subprocess.run([*NETTRAIL, "snapshot", "--netns", "ntl-snap-absent"],
                          capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == ("nettrail: error: --netns: no such network namespace: "
                           "ntl-snap-absent\n")
    proc = subprocess.run([*NETTRAIL, "snapshot", "--netns", "root", "--output",
                           str(tmp_path / "no" / "such.json")], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "--output" in proc.stderr


V6_PUBLIC, V6_PRIVATE = "2001:db8:1::80", "2001:db8:2::80"


def test_ipv6_owners_ip6tables_both_back_ends_nftables_and_conntrack(
        netns: Callable[[str], str]) -> None:
    require_tool("ip6tables-legacy")
    nft6, legacy6, sdn6 = netns("v6nft"), netns("v6legacy"), netns("v6sdn")
    for rule in (["PREROUTING", "-d", f"{V6_PUBLIC}/128", "-p", "tcp", "--dport", "80", "-j",
                  "DNAT", "--to-destination", f"[{V6_PRIVATE}]:8080"],
                 ["OUTPUT", "-d", f"{V6_PUBLIC}/128", "-p", "udp", "-j", "DNAT",
                  "--to-destination", V6_PRIVATE]):
        add = sh(nft6, "ip6tables-nft", "-t", "nat", "-A", *rule)
        assert add.returncode == 0, add.stderr
    add = sh(legacy6, "ip6tables-legacy", "-t", "nat", "-A", "POSTROUTING", "-s",
             f"{V6_PRIVATE}/128", "-p", "udp", "-j", "SNAT", "--to-source",
             f"[{V6_PUBLIC}]:1000-2000")
    if add.returncode != 0:
        pytest.skip(f"legacy ip6tables unusable in this kernel: {add.stderr.strip()}")
    ruleset = (f"table ip6 sdn {{\n chain raw {{\n  type filter hook prerouting priority -300;\n"
               f"  ip6 saddr {V6_PRIVATE} ip6 saddr set {V6_PUBLIC}\n }}\n}}\n"
               f"table inet edge {{\n chain pre {{\n  type nat hook prerouting priority -100;\n"
               f"  ip6 daddr {V6_PUBLIC} dnat ip6 to {V6_PRIVATE}\n }}\n}}\n")
    add = sh(sdn6, "nft", "-f", "-", stdin=ruleset)
    assert add.returncode == 0, add.stderr
    # a real IPv6 conntrack entry with NAT: a datagram the OUTPUT DNAT rule translates
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "-6", "addr", "add", f"{V6_PRIVATE}/128", "dev", "lo"],
                ["ip", "-6", "route", "add", "2001:db8:1::/64", "dev", "lo"],
                [sys.executable, "-c", "import socket; s = socket.socket(socket.AF_INET6, "
                 f"socket.SOCK_DGRAM); s.bind(('{V6_PRIVATE}', 4000)); "
                 f"s.sendto(b'x', ('{V6_PUBLIC}', 9))"]):
        run = sh(nft6, *cmd)
        assert run.returncode == 0, run.stderr
    code, doc = snapshot_json(nft6, legacy6, sdn6)
    spaces = {ns["name"]: ns for ns in doc["namespaces"]}
    assert spaces[nft6]["rules"] == {"ip6tables-nft": 2, "nftables": 0}
    assert spaces[legacy6]["rules"] == {"ip6tables-legacy": 1, "nftables": 0}
    assert spaces[sdn6]["rules"] == {"nftables": 2}
    [entry] = [r for r in spaces[nft6]["nat"] if r["source"] == "conntrack"]
    assert (entry["kind"], entry["before"], entry["after"]) == ("dnat", [V6_PUBLIC],
                                                                 [V6_PRIVATE])
    assert entry["text"].startswith(f"udp src={V6_PRIVATE} dst={V6_PUBLIC} sport=4000 dport=9")
    assert code == 1
    [finding] = doc["findings"]
    assert finding["details"]["addresses"] == f"{V6_PUBLIC} {V6_PRIVATE}"
    assert sorted(finding["details"]["places"].splitlines()) == sorted([nft6, legacy6, sdn6])
    quoted = finding["details"]["rules"]
    assert (f"{nft6}\tip6tables-nft nat/PREROUTING\t-A PREROUTING -d {V6_PUBLIC}/128 -p tcp -m "
            f"tcp --dport 80 -j DNAT --to-destination [{V6_PRIVATE}]:8080") in quoted
    assert (f"{legacy6}\tip6tables-legacy nat/POSTROUTING\t-A POSTROUTING -s {V6_PRIVATE}/128 "
            f"-p udp -j SNAT --to-source [{V6_PUBLIC}]:1000-2000") in quoted
    assert (f"{sdn6}\tnftables ip6 sdn/raw\tip6 saddr {V6_PRIVATE} ip6 saddr set {V6_PUBLIC}"
            in quoted)
    assert (f"{sdn6}\tnftables inet edge/pre\tip6 daddr {V6_PUBLIC} dnat ip6 to {V6_PRIVATE}"
            in quoted)
    assert f"{nft6}\tconntrack entries\tudp src={V6_PRIVATE}" in quoted


def _tc(ns: str, *args: str, action: str) -> None:
    """``tc ARGS`` in ``ns``; the test skips when the kernel has no such tc action."""
    run = sh(ns, "tc", *args)
    if "Failed to load TC action module" in run.stderr or "not found" in run.stderr:
        pytest.skip(f"the kernel has no tc {action} action (CONFIG_NET_ACT_"
                    f"{action.upper()}): {run.stderr.strip().splitlines()[0]}")
    assert run.returncode == 0, run.stderr


def test_tc_nat_and_pedit_actions_listed_and_a_second_owner(
        netns: Callable[[str], str]) -> None:
    edge, router = netns("tc"), netns("tcrouter")
    for cmd in (["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                ["ip", "link", "set", "v0", "up"], ["tc", "qdisc", "add", "dev", "v0", "clsact"]):
        run = sh(edge, *cmd)
        assert run.returncode == 0, run.stderr
    _tc(edge, "filter", "add", "dev", "v0", "egress", "protocol", "ip", "u32", "match", "ip",
        "src", "198.51.100.4/32", "action", "nat", "egress", "198.51.100.4", "203.0.113.223",
        action="nat")
    _tc(edge, "filter", "add", "dev", "v0", "ingress", "protocol", "ip", "u32", "match", "ip",
        "dst", "203.0.113.223/32", "action", "pedit", "ex", "munge", "ip", "dst", "set",
        "198.51.100.4", action="pedit")
    ruleset = ("table ip edge {\n chain pre {\n  type nat hook prerouting priority -100;\n"
               "  ip daddr 203.0.113.223 dnat to 198.51.100.4\n }\n}\n")
    assert sh(router, "nft", "-f", "-", stdin=ruleset).returncode == 0
    code, doc = snapshot_json(edge, router)
    spaces = {ns["name"]: ns for ns in doc["namespaces"]}
    got = [(r["namespace"], r["where"], r["kind"], r["text"]) for r in spaces[edge]["nat"]]
    assert sorted(got) == [
        (edge, "v0 egress", "snat", "action nat egress 198.51.100.4/32 203.0.113.223"),
        (edge, "v0 ingress", "dnat", "action pedit ex munge ip dst set 198.51.100.4")]
    assert code == 1
    [finding] = [f for f in doc["findings"]
                 if "203.0.113.223" in f["details"]["addresses"].split()]
    assert sorted(finding["details"]["places"].splitlines()) == sorted([edge, router])
    assert (f"{edge}\ttc v0 egress\taction nat egress 198.51.100.4/32 203.0.113.223"
            in finding["details"]["rules"])
    owners = {o["address"]: o["owners"] for o in doc["owners"]}
    assert {(o["place"], o["source"], o["direction"]) for o in owners["198.51.100.4"]} >= {
        (edge, "tc", "to"), (router, "nftables", "to")}


def test_tc_filter_without_rewrite_lists_nothing(netns: Callable[[str], str]) -> None:
    """The tc reader on this kernel's real ``tc -j filter show``: a u32 filter whose action
    (mirred) rewrites no address is read without a note and lists no rule."""
    edge = netns("tcmirred")
    for cmd in (["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                ["ip", "link", "set", "v0", "up"], ["tc", "qdisc", "add", "dev", "v0", "clsact"]):
        run = sh(edge, *cmd)
        assert run.returncode == 0, run.stderr
    _tc(edge, "filter", "add", "dev", "v0", "egress", "protocol", "ip", "u32", "match", "ip",
        "src", "198.51.100.4/32", "action", "mirred", "egress", "redirect", "dev", "v1",
        action="mirred")
    listed = sh(edge, "tc", "-j", "filter", "show", "dev", "v0", "egress")
    assert '"kind":"mirred"' in listed.stdout
    code, doc = snapshot_json(edge)
    [space] = doc["namespaces"]
    assert (code, space["nat"], space["notes"]) == (0, [], [])
