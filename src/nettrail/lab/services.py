"""Services started inside lab hosts: OpenSSH ``sshd`` and nettrail's ``tcp-server``.

Keys and configs are generated in the lab's state directory; every process is recorded in
the lab state so ``down`` can stop it even when the process that started it is gone.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from nettrail.errors import CapabilityError, LabError
from nettrail.lab import shell
from nettrail.lab.plan import in_ns
from nettrail.lab.scenario import Service

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")
_READY_TIMEOUT = 5.0


def ssh_dir(state_dir: Path) -> Path:
    """Where the lab's ssh host key, client key and authorized_keys live."""
    return state_dir / "ssh"


def client_key(state_dir: Path) -> Path:
    """The private key the lab's ssh client logs in with."""
    return ssh_dir(state_dir) / "client_key"


def make_keys(state_dir: Path) -> None:
    """Generate the sshd host key and the client key pair, and authorize the client key."""
    d = ssh_dir(state_dir)
    d.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "client_key"):
        if not (d / name).exists():
            _keygen(d / name)
    (d / "authorized_keys").write_bytes((d / "client_key.pub").read_bytes())


def _keygen(path: Path) -> None:
    # ssh-keygen only writes files: nothing here touches a network namespace.
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nettrail-lab",
                        "-f", str(path)], check=True, capture_output=True, timeout=20)
    except FileNotFoundError as exc:
        raise CapabilityError("the lab needs ssh-keygen (openssh-client)") from exc
    except subprocess.CalledProcessError as exc:
        raise LabError(f"ssh-keygen failed: {exc.stderr.decode(errors='replace')}") from exc


def sshd_config(state_dir: Path, port: int) -> Path:
    """Write an sshd config for ``port`` using the lab's keys; return its path."""
    d = ssh_dir(state_dir)
    path = d / f"sshd_config.{port}"
    path.write_text("\n".join((
        f"Port {port}",
        "ListenAddress 0.0.0.0",
        f"HostKey {d / 'host_key'}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}",
        "PidFile none",
        "StrictModes no",
        "UsePAM no",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UseDNS no",
        "LogLevel VERBOSE",
        "",
    )), encoding="utf-8")
    return path


def argv_for(service: Service, ns: str, state_dir: Path) -> tuple[str, ...]:
    """The command that runs ``service`` inside namespace ``ns``."""
    if service.kind == "sshd":
        if not Path(SSHD).exists():
            raise CapabilityError(f"the lab needs OpenSSH's {SSHD} (openssh-server)")
        make_keys(state_dir)
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        return in_ns(ns, SSHD, "-D", "-e", "-f", str(sshd_config(state_dir, service.port)))
    return in_ns(ns, sys.executable, "-m", "nettrail.cli.labtool", "serve",
                 "--port", str(service.port), "--bytes", str(service.bytes))


def start(service: Service, ns: str, state_dir: Path) -> subprocess.Popen[bytes]:
    """Start ``service`` in ``ns``, wait until it listens, and return its process."""
    log = state_dir / f"{service.host}-{service.name}.log"
    proc = shell.spawn(argv_for(service, ns, state_dir), log)
    deadline = time.monotonic() + _READY_TIMEOUT
    while not shell.listening(ns, service.port):
        if proc.poll() is not None or time.monotonic() > deadline:
            shell.kill([proc.pid])
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise LabError(f"service {service.name} ({service.kind}) in {ns} did not start "
                           f"listening on port {service.port}: {tail[0]}")
        time.sleep(0.02)
    return proc
