"""Record real captures in two namespaces joined by a veth pair and a VXLAN link.

``record(outdir)`` builds ``ntA-cli`` (198.51.100.1, VXLAN 198.18.0.1) and ``ntA-srv``
(198.51.100.2, VXLAN 198.18.0.2, VNI 42), starts real tcpdump/dumpcap captures, runs real
traffic (a TCP exchange over IPv4, over IPv6 link-local and over VXLAN, a connect to a closed
port, pings, UDP datagrams, a SYN into a tun device) and removes everything again, also on
failure. Files written:

* ``eth.pcap``     tcpdump -i ntA-v0 in ntA-cli (Ethernet, microseconds)
* ``sll.pcap``     tcpdump -i any -y LINUX_SLL in ntA-cli (Linux cooked v1)
* ``any.pcap``     tcpdump -i any --time-stamp-precision=nano in ntA-srv (Linux cooked v2)
* ``multi.pcapng`` dumpcap -i ntA-v1 -i ntA-vx1 in ntA-srv (pcapng, two interfaces)
* ``raw.pcap``     tcpdump -i ntA-tun0 in ntA-cli (raw IP: a tun device, 198.18.0.9/30, whose
  peer 198.18.0.10 is a script holding the device that injects one ICMP echo request)

Run ``python tests/golden/capture_lab.py DIR`` as root to record the files again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CLI, SRV = "ntA-cli", "ntA-srv"
PORT, CLOSED_PORT, UDP_PORT = 8080, 9, 5353

SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", %d)); s.listen(8)
print("ready", flush=True)
for _ in range(3):
    c, _a = s.accept()
    data = c.recv(100)
    c.sendall(b"reply to " + data)
    c.close()
"""

CLIENT = r"""
import socket, struct, sys, time
def csum(data):
    total = sum(struct.unpack("!%%dH" %% (len(data) // 2), data))
    total = (total & 0xFFFF) + (total >> 16)
    return ~(total + (total >> 16)) & 0xFFFF
def ping(family, addr, seq):
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    s = socket.socket(family, socket.SOCK_RAW, proto)
    s.settimeout(5)
    kind = 8 if family == socket.AF_INET else 128
    body = b"nettrail ping payload."
    msg = struct.pack("!BBHHH", kind, 0, 0, 0x4e54, seq) + body
    if family == socket.AF_INET:
        msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
    s.sendto(msg, addr)
    while True:
        data, _a = s.recvfrom(2000)
        if family == socket.AF_INET:
            data = data[(data[0] & 15) * 4:]
        if data[0] in (0, 129) and data[6:8] == struct.pack("!H", seq):
            break
    s.close()
    time.sleep(0.05)
def exchange(family, addr, msg):
    c = socket.socket(family, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect(addr)
    c.sendall(msg)
    c.recv(100)
    c.close()
    time.sleep(0.05)
ping(socket.AF_INET, ("198.51.100.2", 0), 1)
ping(socket.AF_INET, ("198.51.100.2", 0), 2)
ping(socket.AF_INET, ("198.18.0.2", 0), 3)
ll = socket.getaddrinfo("%(ll)s%%ntA-v0", 0, socket.AF_INET6, socket.SOCK_DGRAM)[0][4]
ping(socket.AF_INET6, ll, 4)
exchange(socket.AF_INET, ("198.51.100.2", %(port)d), b"hello over ipv4")
c = socket.socket(); c.settimeout(5)
try:
    c.connect(("198.51.100.2", %(closed)d))
except ConnectionRefusedError:
    pass
c.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"one datagram", ("198.51.100.2", %(udp)d))
info = socket.getaddrinfo("%(ll)s%%ntA-v0", %(port)d, socket.AF_INET6, socket.SOCK_STREAM)
exchange(socket.AF_INET6, info[0][4], b"hello over ipv6")
exchange(socket.AF_INET, ("198.18.0.2", %(port)d), b"hello over vxlan")
u.sendto(b"into the tun", ("198.18.0.10", %(udp)d))
c = socket.socket(); c.settimeout(0.2)
try:
    c.connect(("198.18.0.10", 80))
except OSError:
    pass
c.close()
"""

TUN_HOLDER = r"""
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", b"ntA-tun0", 0x0001 | 0x1000))
# Attaching turns the carrier on, but the kernel's link watcher activates the device's queue
# later (up to a second on a busy machine); until then the echo reply would be dropped.
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    with open("/sys/class/net/ntA-tun0/operstate") as f:
        if f.read().strip() != "down":
            break
    time.sleep(0.01)
def csum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total & 0xFFFF) + (total >> 16)
    return ~(total + (total >> 16)) & 0xFFFF
icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4E54, 9) + b"from the tun peer"[:16]
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 7, 0x4000, 64, 1, 0,
                 bytes([198, 18, 0, 10]), bytes([198, 18, 0, 9]))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
os.write(fd, ip + icmp)
print("ready", flush=True)
sys.stdin.read()
"""


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args[:6])}...: {done.stderr.strip()[-500:]}")
    return done.stdout


def _ns(ns: str, *args: str) -> str:
    return _run("ip", "netns", "exec", ns, *args)


def _build() -> None:
    for ns in (CLI, SRV):
        _run("ip", "netns", "add", ns)
        _ns(ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
        _ns(ns, "ip", "link", "set", "lo", "up")
    _run("ip", "link", "add", "ntA-v0", "netns", CLI, "address", "02:00:00:00:a0:01", "type",
         "veth", "peer", "name", "ntA-v1", "netns", SRV, "address", "02:00:00:00:a0:02")
    for ns, dev, addr, peer, vx_addr in (
        (CLI, "ntA-v0", "198.51.100.1", "198.51.100.2", "198.18.0.1"),
        (SRV, "ntA-v1", "198.51.100.2", "198.51.100.1", "198.18.0.2"),
    ):
        vx = dev.replace("v", "vx")
        _ns(ns, "ip", "addr", "add", f"{addr}/24", "dev", dev)
        _ns(ns, "ip", "link", "set", dev, "up")
        _ns(ns, "ip", "link", "add", vx, "address", "02:00:00:00:b0:0" + dev[-1], "type",
            "vxlan", "id", "42", "local", addr, "remote", peer, "dstport", "4789", "dev", dev)
        _ns(ns, "ip", "addr", "add", f"{vx_addr}/30", "dev", vx)
        _ns(ns, "ip", "link", "set", vx, "up")
    _ns(CLI, "ip", "tuntap", "add", "dev", "ntA-tun0", "mode", "tun")
    _ns(CLI, "ip", "addr", "add", "198.18.0.9/30", "dev", "ntA-tun0")
    _ns(CLI, "ip", "link", "set", "ntA-tun0", "up")


def _teardown() -> None:
    for ns in (CLI, SRV):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def _link_local(ns: str, dev: str) -> str:
    for _ in range(50):
        addrs = json.loads(_ns(ns, "ip", "-j", "-6", "addr", "show", "dev", dev))
        for info in addrs[0].get("addr_info", []) if addrs else []:
            if info.get("scope") == "link" and "tentative" not in info:
                return str(info["local"])
        time.sleep(0.1)
    raise RuntimeError(f"no IPv6 link-local address on {dev}")


def _start(ns: str, args: list[str], ready: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    deadline = time.monotonic() + 10
    while ready not in line and time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{args[0]} ended: {line}")
        line = proc.stderr.readline()
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:  # a helper script that ends when its input closes
        proc.stdin.close()
        try:
            proc.wait(timeout=2)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
        if proc.stderr is not None and os.environ.get("NTA_DEBUG"):
            print(proc.args, proc.stderr.read(), file=sys.stderr)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def ifindexes(ns: str) -> dict[int, str]:
    """Interface index -> name inside namespace ``ns``."""
    return {int(link["ifindex"]): str(link["ifname"])
            for link in json.loads(_ns(ns, "ip", "-j", "link", "show"))}


def record(outdir: Path) -> dict[str, object]:
    """Build the namespaces, capture the traffic into ``outdir``, tear down; return facts."""
    outdir.mkdir(parents=True, exist_ok=True)
    _teardown()
    procs: list[subprocess.Popen[str]] = []
    try:
        _build()
        ll = _link_local(SRV, "ntA-v1")
        _link_local(CLI, "ntA-v0")
        srv_ifs = ifindexes(SRV)
        dump = ["tcpdump", "-n", "-U", "--immediate-mode", "-B", "8192"]
        procs.append(_start(CLI, [*dump, "-i", "ntA-v0", "-w", str(outdir / "eth.pcap")],
                            "listening on"))
        procs.append(_start(CLI, [*dump, "-i", "any", "-y", "LINUX_SLL", "-w",
                                  str(outdir / "sll.pcap")], "listening on"))
        procs.append(_start(SRV, [*dump, "-i", "any", "--time-stamp-precision=nano", "-w",
                                  str(outdir / "any.pcap")], "listening on"))
        procs.append(_start(CLI, [*dump, "-i", "ntA-tun0", "-w", str(outdir / "raw.pcap")],
                            "listening on"))
        holder = subprocess.Popen(["ip", "netns", "exec", CLI, sys.executable, "-c",
                                   TUN_HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        procs.append(holder)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        procs.append(_start(SRV, ["dumpcap", "-q", "-i", "ntA-v1", "-i", "ntA-vx1", "-w",
                                  str(outdir / "multi.pcapng")], "apturing on"))
        server = subprocess.Popen(["ip", "netns", "exec", SRV, sys.executable, "-c",
                                   SERVER % PORT], stdout=subprocess.PIPE, text=True)
        procs.append(server)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        _ns(CLI, sys.executable, "-c", CLIENT % {"port": PORT, "closed": CLOSED_PORT,
                                                "udp": UDP_PORT, "ll": ll})
        server.wait(timeout=10)
        procs.remove(server)
        time.sleep(0.5)
    finally:
        for proc in procs:
            _stop(proc)
        _teardown()
    return {"srv_ifindexes": srv_ifs, "server_ll": ll}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: capture_lab.py OUTDIR")
    facts = record(Path(sys.argv[1]))
    print(json.dumps(facts, indent=1))
    os.sync()
