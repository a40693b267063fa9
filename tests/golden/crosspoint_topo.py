"""Small real topologies for cross-point tests: namespaces, veth, bridges, NAT, tcpdump.

::

    client (ntD-cl) 203.0.113.2 ─┐                      ┌─ 198.51.100.4 vm (ntD-vm)
                                  ntDext ─ ntD-sw ─ ntDten
    netnode (ntD-rt) ntDqg ───────┤  (two Linux bridges)  ├── ntDqr  netnode
      203.0.113.1 + 203.0.113.10  │                       │  198.51.100.1
    compute (ntD-cn) ntDke ───────┘                       └── ntDkt  compute
      203.0.113.254                                           198.51.100.254

The netnode namespace is a router doing Neutron-style 1:1 NAT of the public address
203.0.113.10 to the VM 198.51.100.4 (iptables DNAT/SNAT). Scenarios:

* ``incident``: the VM's default route points to the compute namespace, which rewrites the VM's
  replies to 203.0.113.10 statelessly (nft ``ip saddr set``) and sends them straight to the
  client; the netnode's TCP stack answers the client's ACK with RST.
* ``transit``: the incident as it was captured for real: the compute namespace's external link
  is a port of a bridge (``ntDbx``) inside the netnode namespace, whose uplink joins the
  external bridge, so the compute's already translated replies cross the netnode (two bridge
  ports, never its router side ``ntDqr``/``ntDqg``) on their way to the client.
* ``healthy``: the VM routes through the netnode; the exchange succeeds.
* ``lost``: healthy, plus a netnode rule dropping the client's larger data segments.
* ``refused``: healthy, but nothing listens on the VM.
* ``mtu``: the netnode's external interface has MTU 1400, ICMP frag-needed is dropped there,
  offloads are off, and the VM sends full-size segments.

Every capture point runs ``tcpdump -i any``. Run as a script to record all scenarios into a
directory: ``python tests/golden/crosspoint_topo.py tests/fixtures/crosspoint``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

PREFIX = "ntD-"
NS = {"client": "ntD-cl", "netnode": "ntD-rt", "compute": "ntD-cn", "vm": "ntD-vm"}
SWITCH = "ntD-sw"
POINTS = ("client", "netnode", "compute", "vm")
SCENARIOS = ("incident", "transit", "healthy", "lost", "refused", "mtu")
# Scenarios whose VM replies through the compute namespace and its second L3.
TWO_NAT = ("incident", "transit")
FIP = "203.0.113.10"
VM = "198.51.100.4"
PORT = 22

SERVER = r"""
import socket, sys, time
reply, want = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", @PORT@)); s.listen(4); print("ready", flush=True)
s.settimeout(8)
c, _ = s.accept(); c.settimeout(4)
got = b""
try:
    while len(got) < want:
        chunk = c.recv(65536)
        if not chunk:
            break
        got += chunk
    if reply:
        c.sendall(b"h" * 100)
        time.sleep(0.05)
        c.sendall(b"x" * reply)
except OSError:
    pass
time.sleep(0.3)
c.close()
""".replace("@PORT@", str(PORT))

CLIENT = r"""
import socket, sys
size = int(sys.argv[1]); want = int(sys.argv[2])
s = socket.socket(); s.settimeout(2.5)
try:
    s.connect(("@FIP@", @PORT@))
    s.sendall(b"q" * size)
    got = 0
    while got < want:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += len(chunk)
    print("ok" if got >= want else f"short {got}")
except ConnectionRefusedError:
    print("refused")
except ConnectionResetError:
    print("reset")
except TimeoutError:
    print("timeout")
s.close()
""".replace("@FIP@", FIP).replace("@PORT@", str(PORT))


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def _ns(ns: str, *argv: str) -> str:
    return _run("ip", "netns", "exec", ns, *argv)


def _veth(a_ns: str, a: str, b_ns: str, b: str) -> None:
    _run("ip", "link", "add", a, "netns", a_ns, "type", "veth", "peer", "name", b, "netns", b_ns)
    _run("ip", "-n", a_ns, "link", "set", a, "up")
    _run("ip", "-n", b_ns, "link", "set", b, "up")


class Topology:
    """The namespaces of one scenario; ``close()`` removes everything, also after a failure."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.created: list[str] = []
        self.procs: list[subprocess.Popen[str]] = []

    def __enter__(self) -> Topology:
        for ns in (SWITCH, *NS.values()):  # left over by a run that was killed: ours by name
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process we started and delete every namespace we created."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        self.created.clear()

    def _add_ns(self, ns: str) -> None:
        if not ns.startswith(PREFIX):
            raise ValueError(ns)
        _run("ip", "netns", "add", ns)
        self.created.append(ns)
        for key in ("all", "default"):
            _ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1")
            _ns(ns, "sysctl", "-qw", f"net.ipv4.conf.{key}.rp_filter=0")
        _run("ip", "-n", ns, "link", "set", "lo", "up")

    def _build(self) -> None:
        for ns in (SWITCH, *NS.values()):
            self._add_ns(ns)
        for br in ("ntDext", "ntDten"):
            _run("ip", "-n", SWITCH, "link", "add", br, "type", "bridge")
            _run("ip", "-n", SWITCH, "link", "set", br, "up")
        cl, rt, cn, vm = (NS[p] for p in POINTS)
        links = [(cl, "ntDc0", "ntDc0p", "ntDext"), (rt, "ntDqg", "ntDqgp", "ntDext"),
                 (rt, "ntDqr", "ntDqrp", "ntDten"), (vm, "ntDv0", "ntDv0p", "ntDten"),
                 (cn, "ntDke", "ntDkep", "ntDext"), (cn, "ntDkt", "ntDktp", "ntDten")]
        if self.scenario == "transit":
            links[4:5] = [(rt, "ntDbu", "ntDbup", "ntDext")]
        for ns, dev, peer, br in links:
            _veth(ns, dev, SWITCH, peer)
            _run("ip", "-n", SWITCH, "link", "set", peer, "master", br)
        if self.scenario == "transit":
            self._netnode_bridge(rt, cn)
        addrs = [(cl, "ntDc0", "203.0.113.2/24"), (rt, "ntDqg", "203.0.113.1/24"),
                 (rt, "ntDqg", f"{FIP}/32"), (rt, "ntDqr", "198.51.100.1/24"),
                 (vm, "ntDv0", f"{VM}/24"), (cn, "ntDke", "203.0.113.254/24"),
                 (cn, "ntDkt", "198.51.100.254/24")]
        for ns, dev, addr in addrs:
            _run("ip", "-n", ns, "addr", "add", addr, "dev", dev)
        _run("ip", "-n", cl, "route", "add", "default", "via", "203.0.113.1")
        gw = "198.51.100.254" if self.scenario in TWO_NAT else "198.51.100.1"
        _run("ip", "-n", vm, "route", "add", "default", "via", gw)
        for ns in (rt, cn):
            _ns(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        _ns(rt, "iptables", "-t", "nat", "-A", "PREROUTING", "-d", FIP, "-j", "DNAT",
            "--to-destination", VM)
        _ns(rt, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", VM, "-j", "SNAT",
            "--to-source", FIP)
        self._fault(rt, cn, vm)

    def _fault(self, rt: str, cn: str, vm: str) -> None:
        if self.scenario in TWO_NAT:
            _ns(cn, "nft", "add table ip ntd")
            _ns(cn, "nft", "add chain ip ntd post { type filter hook postrouting priority 0 ; }")
            _ns(cn, "nft", f"add rule ip ntd post ip saddr {VM} tcp sport {PORT} "
                           f"ip saddr set {FIP}")
        elif self.scenario == "lost":
            _ns(rt, "iptables", "-A", "FORWARD", "-p", "tcp", "--dport", str(PORT), "-m",
                "length", "--length", "200:65535", "-j", "DROP")
        elif self.scenario == "mtu":
            _run("ip", "-n", rt, "link", "set", "ntDqg", "mtu", "1400")
            _ns(rt, "iptables", "-A", "OUTPUT", "-p", "icmp", "--icmp-type",
                "fragmentation-needed", "-j", "DROP")
            for ns, dev in ((vm, "ntDv0"), (rt, "ntDqr"), (rt, "ntDqg")):
                _ns(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off")

    def _netnode_bridge(self, rt: str, cn: str) -> None:
        """A bridge in the netnode namespace joining the compute's external link to the
        external network (bridged frames kept away from the netnode's iptables)."""
        _run("ip", "-n", rt, "link", "add", "ntDbx", "type", "bridge")
        _run("ip", "-n", rt, "link", "set", "ntDbx", "up")
        _veth(cn, "ntDke", rt, "ntDkep")
        for dev in ("ntDkep", "ntDbu"):
            _run("ip", "-n", rt, "link", "set", dev, "master", "ntDbx")
        knob = "net.bridge.bridge-nf-call-iptables"
        subprocess.run(["ip", "netns", "exec", rt, "sysctl", "-qw", f"{knob}=0"], check=False,
                       capture_output=True)

    def ifnames(self, point: str) -> dict[str, str]:
        """Interface index to name in a point's namespace (for ``tcpdump -i any`` records)."""
        links = json.loads(_run("ip", "-n", NS[point], "-j", "link"))
        return {str(link["ifindex"]): link["ifname"] for link in links}

    def start_captures(self, outdir: Path) -> None:
        """``tcpdump -i any`` at every point, returning once all are listening."""
        for point in POINTS:
            path = outdir / f"{self.scenario}-{point}.pcap"
            p = subprocess.Popen(
                ["ip", "netns", "exec", NS[point], "tcpdump", "-i", "any", "-n", "-U",
                 "--immediate-mode", "-s", "200", "-B", "8192", "-w", str(path), "ip"],
                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
            self.procs.append(p)
            assert p.stderr is not None
            line = ""
            while "listening" not in line:
                line = p.stderr.readline()
                if not line:
                    raise RuntimeError(f"tcpdump at {point} did not start")

    def stop_captures(self) -> None:
        """Let the captures flush and end."""
        time.sleep(0.3)
        for p in self.procs:
            if p.args[0] == "ip" and "tcpdump" in p.args and p.poll() is None:
                p.send_signal(signal.SIGINT)
                p.wait(timeout=5)
                _, err = p.communicate()
                dropped = re.search(r"(\d+) packets? dropped by kernel", err or "")
                if dropped and int(dropped.group(1)):
                    raise RuntimeError(f"tcpdump dropped packets: {dropped.group(0)}")

    def exchange(self) -> str:
        """Run the scenario's server and client; the client's outcome."""
        vm, cl = NS["vm"], NS["client"]
        size, reply = {"lost": (300, 200), "mtu": (20, 30000)}.get(self.scenario, (20, 200))
        server = None
        if self.scenario != "refused":
            server = subprocess.Popen(["ip", "netns", "exec", vm, sys.executable, "-c", SERVER,
                                       str(reply), str(size)],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True)
            self.procs.append(server)
            assert server.stdout is not None
            if server.stdout.readline().strip() != "ready":
                raise RuntimeError("server did not start")
        want = reply + 100 if reply else 0
        out = _ns(cl, sys.executable, "-c", CLIENT, str(size), str(want)).strip()
        return out


def record(scenario: str, outdir: Path) -> dict[str, object]:
    """Build a scenario, capture its exchange at every point, tear down; the manifest."""
    outdir.mkdir(parents=True, exist_ok=True)
    with Topology(scenario) as topo:
        topo.start_captures(outdir)
        outcome = topo.exchange()
        topo.stop_captures()
        return {"scenario": scenario, "outcome": outcome,
                "points": {p: f"{scenario}-{p}.pcap" for p in POINTS},
                "ifnames": {p: topo.ifnames(p) for p in POINTS}}


def main(argv: list[str]) -> int:
    """Record every scenario into the directory ``argv[0]`` with a manifest per scenario."""
    if os.geteuid() != 0 or shutil.which("tcpdump") is None:
        print("needs root and tcpdump", file=sys.stderr)
        return 2
    outdir = Path(argv[0])
    for scenario in argv[1:] or SCENARIOS:
        manifest = record(scenario, outdir)
        (outdir / f"{scenario}.json").write_text(json.dumps(manifest, indent=1) + "\n")
        print(scenario, manifest["outcome"])
        if scenario in ("incident", "healthy"):
            make_text(outdir, scenario)
    return 0



def _text_lines(pcap: Path, shift_us: int) -> list[str]:
    """``tcpdump -n -r`` lines without interface column, seq/ack or options, time shifted."""
    import re

    out = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    lines = []
    for line in out:
        m = re.match(r"(\d\d):(\d\d):(\d\d)\.(\d{6}) \S+\s+(?:In|Out|M)\s+(IP .*)", line)
        if m is None or "igmp" in line:
            continue
        h, mi, s, us, rest = m.groups()
        t = ((int(h) * 60 + int(mi)) * 60 + int(s)) * 1_000_000 + int(us) + shift_us
        rest = re.sub(r", (seq|ack) [0-9:]+", "", rest)
        rest = re.sub(r", options \[[^\]]*\]", "", rest)
        sec, frac = divmod(t, 1_000_000)
        lines.append(f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.{frac:06d} {rest}")
    return lines


def make_text(outdir: Path, scenario: str, shift_us: int = -25_000) -> None:
    """Two hosts' plain ``tcpdump -n`` text of a recorded scenario: host1 is the netnode,
    host5 the compute host with its VM (``-i any``: every forwarded packet shows up several
    times), its clock ``shift_us`` off."""
    host1 = _text_lines(outdir / f"{scenario}-netnode.pcap", 0)
    host5 = sorted(_text_lines(outdir / f"{scenario}-vm.pcap", shift_us)
                   + _text_lines(outdir / f"{scenario}-compute.pcap", shift_us))
    (outdir / f"{scenario}-host1.txt").write_text("\n".join(host1) + "\n")
    (outdir / f"{scenario}-host5.txt").write_text("\n".join(host5) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
