"""Scenario files: the loader's validation, the plan it turns into, the safety rules (pure)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from nettrail.errors import LabError, ScenarioError
from nettrail.lab import plan, safety, scenario
from nettrail.lab.outcome import classify_ssh

SHIPPED = ("asym-firewall", "dual-l3", "healthy", "linuxbr-dual-l3", "linuxbr-healthy",
           "mtu-blackhole", "netnode-client", "netnode-client-healthy", "port-closed")

MINIMAL = """
name = "tiny"
captures = ["a", "b"]

[traffic]
host = "a"
kind = "tcp-fetch"
target = "198.51.100.2"
port = 80
expect = "refused"

[hosts.a]
[hosts.b]

[links.ab]
a = { host = "a", dev = "eth0", addrs = ["198.51.100.1/24"] }
b = { host = "b", dev = "eth0", addrs = ["198.51.100.2/24"] }
"""


def write(tmp_path: Path, text: str, name: str = "tiny.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        scenario.load(write(tmp_path, text))
    return str(info.value)


def test_shipped_scenarios_are_listed() -> None:
    assert tuple(scenario.available()) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load_and_plan_inside_lab_namespaces(name: str) -> None:
    scn = scenario.load(name)
    assert scn.name == name
    assert all(ns.startswith(f"ntl-{name}-") for ns in scn.namespaces)
    steps = plan.plan(scn)
    for step in steps:
        safety.check_namespaced(step.argv)
        if step.undo is not None:
            safety.check_namespaced(step.undo)
    # every namespace is created before anything is done inside it
    created: set[str] = set()
    for step in steps:
        if step.argv[:3] == ("ip", "netns", "add"):
            created.add(step.argv[3])
        else:
            assert step.argv[2] in created or step.argv[3] in created, step.what


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_use_only_lab_addresses(name: str) -> None:
    text = scenario.scenario_path(name).read_text(encoding="utf-8")
    if name != "healthy" and "extends" in text:
        text += scenario.scenario_path("healthy").read_text(encoding="utf-8")
    allowed = [ipaddress.ip_network(n) for n in ("198.51.100.0/24", "203.0.113.0/24",
                                                 "198.18.0.0/15")]
    found = re.findall(r"\b\d+\.\d+\.\d+\.\d+(?:/\d+)?", text)
    assert found
    for addr in found:
        net = ipaddress.ip_interface(addr).network
        assert any(net.subnet_of(a) for a in allowed), addr


def test_dual_l3_is_healthy_plus_a_stateless_second_l3_in_openflow() -> None:
    healthy, dual = scenario.load("healthy"), scenario.load("dual-l3")
    assert dual.traffic.expect == "reset" and healthy.traffic.expect == "success"
    assert [link for link in dual.links if link.name != "compute-ext"] == \
        [link for link in healthy.links if link.name != "compute-ext"]
    qrouter = [h for h in dual.hosts if h.name.startswith("qrouter-")]
    assert len(qrouter) == 1 and qrouter[0].netns.startswith("ntl-dual-l3-qrouter-")
    devs = {end.dev for link in dual.links for end in (link.a, link.b)}
    assert {"qr-1a2b3c4d-5e", "qg-7d3e1f2a-4b", "tap9c8b7a6d-5e"} <= devs
    # every node's switching is Open vSwitch; only the external network is a Linux bridge
    assert {(b.host, b.name) for b in dual.bridges} == {("extnet", "ext-sw")}
    assert {(b.host, b.name) for b in dual.switches} >= {
        ("netnode", "br-ex"), ("netnode", "br-int"), ("netnode", "br-tun"),
        ("compute", "br-int"), ("compute", "br-tun"), ("compute", "br-ex")}
    assert not dual.vxlans and sum(len(b.tunnels) for b in dual.switches) == 2
    # the second L3: set-field on the VM's replies, output towards br-ex, no conntrack
    flows = [f for b in dual.switches if (b.host, b.name) == ("compute", "br-int")
             for f in b.flows]
    assert any("mod_nw_src:203.0.113.223" in f and "output:int-br-ex" in f for f in flows)
    assert not any("ct(" in f for f in flows)
    assert not [b for b in healthy.switches if b.flows]


def test_linuxbr_twins_keep_the_linux_bridge_way() -> None:
    dual = scenario.load("linuxbr-dual-l3")
    assert not dual.switches and len(dual.vxlans) == 2
    assert {b.name for b in dual.bridges} >= {"br-int", "br-tun", "br-ex"}
    assert "fwd to" in dual.host("compute").nft


def test_ovs_plan_attaches_ports_with_vsctl_and_turns_tx_checksums_off() -> None:
    scn = scenario.load("dual-l3")
    steps = plan.plan(scn)
    text = [" ".join(s.argv) for s in steps]
    assert not any("master br-int" in t or "master br-phy" in t for t in text)
    add_br = [t for t in text if " add-br br-int " in t]
    assert len(add_br) == 2 and all("datapath_type=netdev" in t for t in add_br)
    assert any(t.endswith("add-port br-int tap9c8b7a6d-5e") for t in text)
    assert any("type=patch options:peer=phy-br-ex" in t for t in text)
    assert any("type=vxlan options:remote_ip=198.18.0.1" in t for t in text)
    # each OVS command talks to the host's own daemons, under the lab's state directory
    own = "OVS_RUNDIR=/run/nettrail/lab/dual-l3/ovs/compute"
    assert all(own in t for t in text if "ntl-dual-l3-compute" in t and "ovs-" in t)
    assert "ip netns exec ntl-dual-l3-vm ethtool -K eth0 tx off" in text
    assert not any("tap9c8b7a6d-5e tx off" in t for t in text)
    # bridges exist before their ports, ports before flows that name them
    first = {k: next(i for i, t in enumerate(text) if k in t)
             for k in (" add-br br-int ", "add-port br-int tap", "add-flow br-int")}
    assert first[" add-br br-int "] < first["add-port br-int tap"] < first["add-flow br-int"]


OVS_TINY = MINIMAL.replace('b = { host = "b", dev = "eth0", addrs = ["198.51.100.2/24"] }',
                           'b = { host = "b", dev = "eth0", master = "br0" }') + """
[hosts.b.ovs.br0]
addrs = ["198.51.100.2/24"]
flows = ["priority=10,ip,nw_dst=198.51.100.9,actions=drop"]
"""


def test_ovs_tables_parse(tmp_path: Path) -> None:
    scn = scenario.load(write(tmp_path, OVS_TINY))
    (br0,) = scn.switches
    assert (br0.host, br0.name, br0.addrs) == ("b", "br0", ("198.51.100.2/24",))
    assert br0.flows == ("priority=10,ip,nw_dst=198.51.100.9,actions=drop",)


@pytest.mark.parametrize(("extra", "where", "why"), [
    ('flows = ["ip,nw_dst=10.1.1.1,actions=drop"]', "hosts.b.ovs.br1.flows[0]",
     "outside the lab ranges"),
    ('[hosts.b.ovs.br1.patch.p1]\npeer = "p2"', "hosts.b.ovs.br1.patch.p1.peer",
     "not a patch port"),
    ('[hosts.b.ovs.br1.vxlan.vx1]\nkey = 5\nlocal = "198.18.0.1"\nremote = "192.0.2.9"',
     "hosts.b.ovs.br1.vxlan.vx1.remote", "outside the lab ranges"),
    ('[hosts.b.ovs.br1.vxlan.vx1]\nlocal = "198.18.0.1"\nremote = "198.18.0.2"',
     "hosts.b.ovs.br1.vxlan.vx1.key", "missing"),
    ('colour = "blue"', "hosts.b.ovs.br1.colour", "unknown key"),
])
def test_invalid_ovs_tables_name_file_and_key(tmp_path: Path, extra: str, where: str,
                                              why: str) -> None:
    message = load_error(tmp_path, OVS_TINY + "[hosts.b.ovs.br1]\n" + extra + "\n")
    assert message.startswith(f"{tmp_path / 'tiny.toml'}: {where}: "), message
    assert why in message


def test_a_bridge_cannot_be_both_linux_and_ovs(tmp_path: Path) -> None:
    text = OVS_TINY + "[hosts.b.bridges.br0]\n"
    assert "bridge 'br0' declared twice" in load_error(tmp_path, text)


def test_extends_merges_tables_key_by_key() -> None:
    mtu = scenario.load("mtu-blackhole")
    vm_port = next(link for link in mtu.links if link.name == "vm-port")
    assert vm_port.a.mtu == 1500 and vm_port.a.addrs == ("198.51.100.4/24",)
    assert {s.name for s in mtu.services} == {"sshd", "bulk"}
    assert mtu.offloads is False


def test_minimal_scenario_plans_links_with_undo(tmp_path: Path) -> None:
    scn = scenario.load(write(tmp_path, MINIMAL))
    steps = plan.plan(scn)
    veth = [s for s in steps if "veth" in s.argv]
    assert veth[0].argv == ("ip", "-n", "ntl-tiny-a", "link", "add", "name", "eth0", "type",
                            "veth", "peer", "name", "eth0", "netns", "ntl-tiny-b")
    assert veth[0].undo == ("ip", "-n", "ntl-tiny-a", "link", "del", "eth0")
    assert steps[0].undo == ("ip", "netns", "del", "ntl-tiny-a")


def test_iptables_and_nft_rules_get_an_undo(tmp_path: Path) -> None:
    text = MINIMAL.replace("[hosts.a]\n", '[hosts.a]\niptables = ["-t nat -A POSTROUTING -o eth0 '
                           '-j SNAT --to-source 198.51.100.1"]\nnft = "table inet f { }"\n')
    steps = plan.plan(scenario.load(write(tmp_path, text)))
    undo = [s.undo for s in steps if s.undo and s.undo[2] == "exec"]
    assert undo == [
        ("ip", "netns", "exec", "ntl-tiny-a", "iptables", "-t", "nat", "-D", "POSTROUTING",
         "-o", "eth0", "-j", "SNAT", "--to-source", "198.51.100.1"),
        ("ip", "netns", "exec", "ntl-tiny-a", "nft", "delete", "table", "inet", "f"),
    ]


@pytest.mark.parametrize(("change", "where", "why"), [
    (('addrs = ["198.51.100.1/24"]', 'addrs = ["192.0.2.1/24"]'), "links.ab.a.addrs",
     "outside the lab ranges"),
    (('target = "198.51.100.2"', 'target = "10.0.0.1"'), "traffic.target",
     "outside the lab ranges"),
    (('dev = "eth0", addrs = ["198.51.100.2/24"]', 'dev = "a-very-long-device-name"'),
     "links.ab.b.dev", "longer than 15"),
    (('expect = "refused"', 'expect = "fine"'), "traffic.expect", "not one of"),
    (('port = 80', 'port = 70000'), "traffic.port", "not a TCP port"),
    (('port = 80', 'port = "80"'), "traffic.port", "expected an integer"),
    (('captures = ["a", "b"]', 'captures = ["a", "c"]'), "captures[1]", "unknown host"),
    (('kind = "tcp-fetch"', 'kind = "tcp-fetch"\ncolour = "blue"'), "traffic.colour",
     "unknown key"),
    (('name = "tiny"', 'name = "Tiny Lab"'), "name", "lowercase"),
    (('b = { host = "b"', 'b = { host = "z"'), "links.ab.b.host", "unknown host"),
    (('[hosts.b]', '[hosts.b]\nroutes = ["default via 8.8.8.8"]'), "hosts.b.routes",
     "outside the lab ranges"),
    (('[hosts.b]', '[hosts.b]\niptables = ["-A INPUT -s 10.1.2.3 -j DROP"]'),
     "hosts.b.iptables", "outside the lab ranges"),
    (('dev = "eth0", addrs = ["198.51.100.1/24"]', 'dev = "eth0", mac = "fa:16:3e"'),
     "links.ab.a.mac", "not a MAC address"),
    (('[hosts.b]', '[hosts.b]\nsysctls = { "net.ipv4.ip_forward" = true }'),
     "hosts.b.sysctls.net.ipv4.ip_forward", "expected an integer or a string"),
])
def test_invalid_scenarios_name_file_and_key(tmp_path: Path, change: tuple[str, str],
                                             where: str, why: str) -> None:
    old, new = change
    assert old in MINIMAL
    message = load_error(tmp_path, MINIMAL.replace(old, new, 1))
    assert message.startswith(f"{tmp_path / 'tiny.toml'}: {where}: "), message
    assert why in message


def test_missing_traffic_and_broken_toml_are_scenario_errors(tmp_path: Path) -> None:
    no_traffic = MINIMAL.split("[traffic]")[0] + "[hosts.a]\n"
    assert "traffic: missing" in load_error(tmp_path, no_traffic)
    assert "invalid TOML" in load_error(tmp_path, "name = \n")
    with pytest.raises(ScenarioError, match="^no scenario named 'no-such-scenario' "
                       r"\(known: asym-firewall, "):
        scenario.load("no-such-scenario")


def test_vxlan_needs_its_underlay_device(tmp_path: Path) -> None:
    text = MINIMAL + ('[hosts.a.vxlan.vx0]\nvni = 5\nlocal = "198.18.0.1"\n'
                      'remote = "198.18.0.2"\ndev = "eth9"\n')
    assert "hosts.a.vxlan.vx0.dev: no device 'eth9'" in load_error(tmp_path, text)


def test_safety_rules() -> None:
    assert safety.address_problem("203.0.113.223/32") is None
    assert safety.address_problem("198.19.255.1/24") is None
    assert safety.address_problem("198.20.0.1") is not None
    assert safety.address_problem("192.0.2.1") is not None
    assert safety.text_problem("-d 203.0.113.0/24 -j DROP") is None
    assert safety.text_problem("-d 127.0.0.1 -j DROP") is not None
    assert safety.ifname_problem("qr-1a2b3c4d-5e") is None
    assert safety.ifname_problem("qr-1a2b3c4d-5ef0") is not None
    with pytest.raises(LabError):
        safety.check_namespaced(("ip", "link", "add", "x", "type", "dummy"))
    with pytest.raises(LabError):
        safety.check_namespaced(("ip", "netns", "exec", "foreign", "true"))
    with pytest.raises(LabError):
        safety.check_namespaced(("iptables", "-F"))
    safety.check_namespaced(("ip", "netns", "exec", "ntl-x-a", "true"))


@pytest.mark.parametrize(("code", "stderr", "outcome"), [
    (0, "", "success"),
    (255, "kex_exchange_identification: read: Connection reset by peer\r\n", "reset"),
    (255, "ssh: connect to host 203.0.113.223 port 22: Connection reset by peer", "reset"),
    (255, "ssh: connect to host 203.0.113.223 port 22: Connection refused", "refused"),
    (255, "ssh: connect to host 203.0.113.223 port 22: Connection timed out", "timeout"),
    (255, "Permission denied (publickey).", "error"),
])
def test_ssh_outcomes(code: int, stderr: str, outcome: str) -> None:
    assert classify_ssh(code, stderr)[0] == outcome


def test_state_paths_only_for_lab_names() -> None:
    from nettrail.errors import InputError
    from nettrail.lab import state

    assert state.state_dir("dual-l3").name == "dual-l3"
    for bad in ("../../etc", "a/b", "", "Dual"):
        with pytest.raises(InputError):
            state.state_dir(bad)


def test_extends_needs_a_name_and_an_existing_base(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL, "base.toml")
    child = write(tmp_path, 'extends = "base"\nname = "child"\n[traffic]\nexpect = "timeout"\n',
                  "child.toml")
    scn = scenario.load(child)
    assert (scn.name, scn.traffic.expect, scn.traffic.kind) == ("child", "timeout", "tcp-fetch")
    assert scn.namespaces == ("ntl-child-a", "ntl-child-b")
    nameless = write(tmp_path, 'extends = "base"\n', "nameless.toml")
    with pytest.raises(ScenarioError, match=r"nameless\.toml: name: missing"):
        scenario.load(nameless)
    orphan = write(tmp_path, 'extends = "nope"\nname = "orphan"\n', "orphan.toml")
    with pytest.raises(ScenarioError,
                       match=r"orphan\.toml: extends 'nope': no scenario named 'nope'"):
        scenario.load(orphan)


def test_merge_tables_key_by_key_and_replace_the_rest() -> None:
    base = {"a": {"x": 1, "y": [1]}, "b": 2}
    assert scenario.merge(base, {"a": {"y": [2], "z": 3}, "b": 4}) == {
        "a": {"x": 1, "y": [2], "z": 3}, "b": 4}
    assert base == {"a": {"x": 1, "y": [1]}, "b": 2}


def test_copy_of_a_shipped_scenario_extends_the_shipped_base(tmp_path: Path) -> None:
    copy = tmp_path / "my-port-closed.toml"
    copy.write_text(scenario.scenario_path("port-closed").read_text(encoding="utf-8"))
    loaded, shipped = scenario.load(str(copy)), scenario.load("port-closed")
    assert (loaded.name, loaded.traffic, loaded.hosts) == ("port-closed", shipped.traffic,
                                                           shipped.hosts)


def test_a_typo_in_a_key_suggests_the_known_one(tmp_path: Path) -> None:
    message = load_error(tmp_path, MINIMAL.replace("[hosts.b]", "[hosts.b]\nroutse = []"))
    assert message == f"{tmp_path / 'tiny.toml'}: hosts.b.routse: unknown key (did you mean " \
                      "'routes'?)"


def test_missing_scenario_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.toml: no such file \(shipped scenarios: "):
        scenario.load(str(tmp_path / "nope.toml"))
    with pytest.raises(ScenarioError, match="a directory, not a scenario file"):
        scenario.load(str(tmp_path))
