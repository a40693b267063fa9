"""Lab hosts reachable over SSH: one ``sshd`` per host on its own loopback, and the client config.

Every lab host runs an ``sshd`` listening on ``127.0.0.1:2822`` inside its namespace, with a
host key of its own. Nothing listens or is addressed in the root namespace: the client reaches
a host through ``ProxyCommand ip netns exec NS socat STDIO TCP:127.0.0.1:2822``. Keys, the
``known_hosts`` file and the client config are generated in the lab's state directory.

A host with an emulated clock offset (``clock_offset_ms`` in the scenario) runs every SSH
command through :mod:`nettrail.lab.clockshift`, which shifts what that host reports: its clock
as programs read it (libfaketime) and the timestamps of pcap streams it sends.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from nettrail.errors import CapabilityError, LabError
from nettrail.lab import clockshift, services, shell
from nettrail.lab.plan import in_ns
from nettrail.lab.scenario import Host, Scenario

PORT = 2822
"""The TCP port each lab host's login sshd listens on, on its loopback only."""
SERVICE = "ssh-login"
"""The name the login sshd is recorded under in the lab state."""
CONFIG_NAME = "ssh_config"
KNOWN_HOSTS = "known_hosts"
_READY_TIMEOUT = 5.0


def key_path(state_dir: Path, host: str) -> Path:
    """The host key of lab host ``host``."""
    return services.ssh_dir(state_dir) / "hosts" / host


def host_alias(scenario: str, host: str) -> str:
    """The name the host key of ``host`` is recorded under in known_hosts."""
    return f"ntl-{scenario}-{host}"


def sshd_config(scenario: Scenario, host: Host, state_dir: Path) -> Path:
    """Write the login sshd config of ``host``; return its path."""
    d = services.ssh_dir(state_dir)
    lines = [
        f"Port {PORT}",
        "ListenAddress 127.0.0.1",
        f"HostKey {key_path(state_dir, host.name)}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}",
        "PidFile none", "StrictModes no", "UsePAM no",
        "PermitRootLogin prohibit-password", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UseDNS no", "LogLevel VERBOSE",
        "MaxSessions 64", "MaxStartups 64",
    ]
    if host.clock_offset_ms:
        offset_ns = round(host.clock_offset_ms * 1e6)
        # run as a script: only the standard library is imported, for every session
        lines.append(f"ForceCommand {sys.executable} -I {clockshift.__file__} {offset_ns}")
    path = d / f"sshd_config.{host.name}"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_keys(scenario: Scenario, state_dir: Path) -> None:
    """Generate the client key, one host key per host, and the known_hosts file."""
    services.make_keys(state_dir)
    entries = []
    for host in scenario.hosts:
        key = key_path(state_dir, host.name)
        key.parent.mkdir(parents=True, exist_ok=True)
        if not key.exists():
            _keygen(key)
        pub = key.with_suffix(".pub").read_text(encoding="ascii").split()
        entries.append(f"{host_alias(scenario.name, host.name)} {pub[0]} {pub[1]}\n")
    (services.ssh_dir(state_dir) / KNOWN_HOSTS).write_text("".join(entries), encoding="ascii")


def _keygen(path: Path) -> None:
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name,
                        "-f", str(path)], check=True, capture_output=True, timeout=20)
    except FileNotFoundError as exc:
        raise CapabilityError("the lab needs ssh-keygen (openssh-client)") from exc
    except subprocess.CalledProcessError as exc:
        raise LabError(f"ssh-keygen failed: {exc.stderr.decode(errors='replace')}") from exc


def start_all(scenario: Scenario, state_dir: Path,
              ) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """Start the login sshd of every host, wait until each listens; (host, process) pairs."""
    if not Path(services.SSHD).exists():
        raise CapabilityError(f"the lab needs OpenSSH's {services.SSHD} (openssh-server)")
    make_keys(scenario, state_dir)
    services.PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for host in scenario.hosts:
            argv = in_ns(host.netns, services.SSHD, "-D", "-e", "-f",
                         str(sshd_config(scenario, host, state_dir)))
            log = state_dir / f"{host.name}-{SERVICE}.log"
            started.append((host.name, shell.spawn(argv, log)))
        _wait_listening(scenario, started)
    except BaseException:
        shell.kill([proc.pid for _host, proc in started])
        raise
    return started


def _wait_listening(scenario: Scenario,
                    started: Sequence[tuple[str, subprocess.Popen[bytes]]]) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT
    for name, proc in started:
        ns = scenario.host(name).netns
        while not shell.listening(ns, PORT):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"the ssh login of {name} ({ns}) did not start listening on "
                               f"127.0.0.1:{PORT}")
            time.sleep(0.02)


def client_config(scenario: Scenario, state_dir: Path) -> str:
    """An OpenSSH client config with one ``Host`` entry per lab host (for ``ssh -F``)."""
    d = services.ssh_dir(state_dir)
    blocks = [f"# nettrail lab {scenario.name}: one entry per lab host\n"]
    for host in scenario.hosts:
        blocks.append("\n".join((
            f"Host {host.name}",
            f"    HostName {host.name}",
            "    User root",
            f"    Port {PORT}",
            f"    IdentityFile {services.client_key(state_dir)}",
            "    IdentitiesOnly yes",
            f"    UserKnownHostsFile {d / KNOWN_HOSTS}",
            f"    HostKeyAlias {host_alias(scenario.name, host.name)}",
            f"    ProxyCommand ip netns exec {host.netns} socat STDIO TCP:127.0.0.1:{PORT}",
            "    BatchMode yes",
            "    LogLevel ERROR",
            "",
        )))
    return "\n".join(blocks)


def write_client_config(scenario: Scenario, state_dir: Path) -> Path:
    """Write :func:`client_config` into the lab's state directory; return its path."""
    path = services.ssh_dir(state_dir) / CONFIG_NAME
    path.write_text(client_config(scenario, state_dir), encoding="utf-8")
    return path
