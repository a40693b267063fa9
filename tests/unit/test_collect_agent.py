"""The remote agent without a remote host: the archive, its boot from stdin, the trace stream's
split into points, and which host reports which namespace on a shared kernel."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest
from test_trace_decode import ANCHOR, FIP, VM, hops_table

from nettrail.capture import open_capture
from nettrail.capture.decode import LINKTYPE_ETHERNET, LINKTYPE_RAW
from nettrail.collect import agent, remote, tracefile, zipapp
from nettrail.collect.peers import Peer, Peers, peer_of
from nettrail.report.pcapng import PcapngWriter
from nettrail.report.trace_pcapng import PcapngOut
from nettrail.trace.filter import compile_filter
from nettrail.trace.session import OBJECT_PATH

needs_object = pytest.mark.skipif(not OBJECT_PATH.is_file(),
                                  reason=f"needs the BPF object {OBJECT_PATH} (make bpf)")

ETH_TCP = bytes.fromhex(
    "02000000000102000000000208004500002800014000400600007f0000017f000001"
    "d43100160000000100000000500220000000000000")
IP_TCP = ETH_TCP[14:]


def run_agent(args: list[str], archive: bytes, size: int | None = None,
              ) -> subprocess.CompletedProcess[bytes]:
    """What the remote login shell does with the agent's command line, the archive on stdin."""
    line = remote.agent_command(len(archive) if size is None else size, 30, args)
    return subprocess.run(["/bin/sh", "-c", line], input=archive, capture_output=True,
                          timeout=60, check=False)


@needs_object
def test_the_archive_holds_nettrail_and_the_bpf_object() -> None:
    names = set(zipfile.ZipFile(io.BytesIO(zipapp.build())).namelist())
    assert {"__main__.py", "nettrail/collect/agent.py", "nettrail/topology/netlink.py",
            zipapp.BPF_OBJECT} <= names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)


@needs_object
def test_the_archive_runs_as_a_file_with_the_hosts_python(tmp_path: Path) -> None:
    path = zipapp.write(tmp_path / "nettrail.pyz")
    out = subprocess.run(["python3", "-I", str(path), "snapshot", "--help"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0 and "--netns" in out.stdout, out.stderr


HOSTILE = ["'; touch {m}; echo '", "$(touch {m})", "`touch {m}`", "x\ntouch {m}",
           "((( ; touch {m}"]


@needs_object
@pytest.mark.parametrize("template", HOSTILE)
def test_the_agent_boots_from_stdin_and_a_hostile_filter_is_only_a_filter(
        template: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    value = template.format(m=marker)
    out = run_agent(["trace", "--filter", value], zipapp.build())
    err = out.stderr.decode()
    # imported from the archive in memory, the agent parsed the filter and refused it
    assert out.returncode == 2, err
    assert err.startswith("nettrail-agent: ") and err.count("\n") == 1, err
    assert not marker.exists()


@needs_object
def test_a_cut_archive_is_refused() -> None:
    archive = zipapp.build()
    out = run_agent(["snapshot"], archive[:1000], size=len(archive))
    assert out.returncode == 1 and b"archive was cut short" in out.stderr


def test_own_and_other_ssh_connections_are_left_out_within_the_rule_budget() -> None:
    text, kept = agent.filter_with_exclusions("tcp port 22", [(40000, 22), (40001, 22)])
    assert text == "(tcp port 22) and not (port 40000 or port 40001)"
    assert kept == [(40000, 22), (40001, 22)]
    many = [(40000 + i, 22) for i in range(20)]
    text, kept = agent.filter_with_exclusions("host 203.0.113.223 and tcp port 22", many)
    assert 0 < len(kept) < 20 and kept[0] == (40000, 22)
    assert len(compile_filter(text)) <= agent.MAX_RULES
    assert agent.filter_with_exclusions("", [(1, 2)])[0] == "not (port 1)"
    assert agent.ssh_ports("127.0.0.1 41234 127.0.0.1 2822") == (41234, 2822)
    assert agent.ssh_ports("") is None and agent.ssh_ports("a b c d") is None


def _stream(path: Path, cut: int = 0) -> None:
    """A stream as the agent writes it: namespaces 11 (host a's), 12 (host b's), 13 (other)."""
    buf = io.BytesIO()
    w = PcapngWriter(buf)
    ifs = [w.add_interface("eth0", LINKTYPE_ETHERNET, comment="netns 11 ns-a"),
           w.add_interface("qg-1", LINKTYPE_RAW, comment="netns 13 qrouter-1"),
           w.add_interface("eth0", LINKTYPE_ETHERNET, comment="netns 12 ns-b"),
           w.add_interface("qr-1", LINKTYPE_ETHERNET, comment="netns 13 qrouter-1")]
    for i, if_id in enumerate([0, 1, 2, 3, 0, 1]):
        w.write_packet(ifs[if_id], 1_796_000_000_000_000_000 + i * 1000,
                       IP_TCP if if_id == 1 else ETH_TCP, 54, f"nettrail xmit packet {i}")
    data = buf.getvalue()
    path.write_bytes(data[:len(data) - cut])


def _shared_kernel() -> Peers:
    peers = Peers(["a", "b", "c"])
    peers.register("a", Peer("a", "boot1", 11, (40000, 22)))
    peers.register("b", Peer("b", "boot1", 12, (40001, 22)))
    peers.register("c", Peer("c", "boot2", 21, (40002, 22)))
    return peers


def test_a_stream_splits_into_one_readable_pcapng_per_point(tmp_path: Path) -> None:
    stream = tmp_path / "a.stream"
    _stream(stream, cut=10)  # the last packet unfinished: the connection dropped
    peers = _shared_kernel()
    found = tracefile.split(stream, "a", tmp_path, lambda i, n: peers.point_of("a", i, n))
    assert [(p.name, p.path.name, p.packets, p.interfaces) for p in found] == [
        ("a", "a.pcapng", 2, ["eth0"]),
        ("qrouter-1", "a@qrouter-1.pcapng", 2, ["qg-1", "qr-1"])]
    recs = list(open_capture(str(tmp_path / "a@qrouter-1.pcapng")))
    assert [r.ifname for r in recs] == ["qg-1", "qr-1"]
    assert [r.ts_ns % 10**6 for r in recs] == [1000, 3000]
    assert all(r.l4 is not None and r.l4.dport == 22 for r in recs)
    assert not (tmp_path / "a@ns-b.pcapng").exists()  # b reports its own namespace


def test_the_agents_stream_of_a_trace_splits_into_its_namespaces(tmp_path: Path) -> None:
    # the agent's writer over a decoded batch: transmits and receives only, a NAT noted
    stream = tmp_path / "h.stream"
    with stream.open("wb") as fh:
        out = PcapngOut(fh, kinds=agent.DIRECTIONS, by_device=True, comment="agent")
        out.write(hops_table())
    assert out.packets == 3  # the reset's and the drop's packets are not streamed
    found = tracefile.split(stream, "h", tmp_path, lambda _inode, name: name)
    assert [(p.name, p.packets, p.interfaces) for p in found] == [
        ("client", 1, ["eth0"]), ("qrouter-1", 2, ["qg-1", "qr-1"])]
    recs = list(open_capture(str(tmp_path / "h@qrouter-1.pcapng")))
    assert [r.ts_ns - ANCHOR for r in recs] == [2000, 3000]
    assert recs[1].comment is not None and f"DNAT {FIP}:22 -> {VM}:22" in recs[1].comment


def test_hosts_on_one_kernel_report_each_namespace_once() -> None:
    peers = _shared_kernel()
    assert peers.point_of("a", 11, "ns-a") == "a"
    assert peers.point_of("a", 12, "ns-b") is None
    assert peers.point_of("b", 12, "ns-b") == "b"
    assert peers.point_of("a", 13, "qrouter-1") == "qrouter-1"
    assert peers.point_of("b", 13, "qrouter-1") is None
    assert peers.point_of("c", 22, "qrouter-2") == "c/qrouter-2"  # a kernel of its own
    assert peers.others_ssh("a") == [(40001, 22)] and peers.others_ssh("c") == []
    assert peers.snapshot_args("a") == ["--per-netns", "--skip-netns", "12"]
    assert peers.snapshot_args("b") == ["--own-only", "--per-netns"]
    assert peers.snapshot_args("c") == []


def test_a_host_that_never_connected_does_not_hold_the_others() -> None:
    peers = Peers(["a", "b"])
    peers.register("a", peer_of("a", {"boot_id": "x", "netns": "net:[4026532174]",
                                      "ssh": "127.0.0.1 41000 127.0.0.1 2822"}))
    peers.register("b", None)
    peers.wait(5)  # returns at once: both registered
    assert peers.sharing("a") == [Peer("a", "x", 4026532174, (41000, 2822))]
    assert peers.point_of("a", 5, "other") == "a/other"


@pytest.mark.parametrize("bad", ["1:", "x:2", "70000:1"])
def test_agent_arguments_are_checked(bad: str) -> None:
    with pytest.raises(Exception, match="port pair"):
        agent.port_pair(bad)
