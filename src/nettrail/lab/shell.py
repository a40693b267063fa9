"""The lab's edge to the system: running commands in lab namespaces, finding and killing them.

Every command goes through :func:`run`, which refuses anything not aimed at a lab namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from nettrail.errors import CapabilityError, LabError
from nettrail.lab import safety

NETNS_DIR = Path("/run/netns")
TOOLS = ("ip", "tcpdump", "sysctl")


def require_lab_capabilities() -> None:
    """Fail with one line when we cannot build labs: not root, or a needed tool missing."""
    if os.geteuid() != 0:
        raise CapabilityError("the lab needs root (CAP_NET_ADMIN) to create network namespaces")
    for tool in TOOLS:
        if shutil.which(tool) is None:
            raise CapabilityError(f"the lab needs the {tool} tool on PATH")


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 20.0) -> str:
    """Run a namespaced command, returning stdout; LabError naming it when it fails."""
    safety.check_namespaced(argv)
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              check=False)
    except FileNotFoundError as exc:
        raise CapabilityError(f"the lab needs the {argv[0]} tool on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout:.0f}s: {' '.join(argv)}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        reason = detail[-1] if detail else f"exit {proc.returncode}"
        raise LabError(f"{' '.join(argv)}: {reason}")
    return proc.stdout


def namespaces(prefix: str = safety.PREFIX) -> list[str]:
    """Names of existing namespaces starting with ``prefix`` (lab ones by default), sorted."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def exists(ns: str) -> bool:
    """Whether a namespace called ``ns`` exists."""
    return (NETNS_DIR / ns).exists()


def pids(ns: str) -> list[int]:
    """PIDs of processes running inside namespace ``ns``."""
    out = run(("ip", "netns", "pids", ns), check=False)
    return [int(tok) for tok in out.split() if tok.isdigit()]


def ns_inode(ns: str) -> int | None:
    """The inode of named namespace ``ns``, as ``/proc/PID/ns/net`` shows it (None: gone)."""
    try:
        return os.stat(f"/run/netns/{ns}").st_ino
    except OSError:
        return None


def pids_in(inodes: Collection[int]) -> list[int]:
    """PIDs of processes in any of the network namespaces ``inodes``, named or no longer."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.stat(f"/proc/{entry.name}/ns/net").st_ino in inodes:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


def kill(pid_list: Sequence[int], grace: float = 2.0) -> None:
    """SIGTERM ``pid_list``, then SIGKILL whatever is still alive after ``grace`` seconds."""
    alive = [p for p in pid_list if _signal(p, signal.SIGTERM)]
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _alive(p)]
    for pid in alive:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def remove_namespace(ns: str) -> None:
    """Kill every process inside ``ns``, then delete it (nothing to do when it is gone)."""
    if not exists(ns):
        return
    kill(pids(ns))
    run(("ip", "netns", "del", ns), check=False)
    if exists(ns):
        raise LabError(f"could not delete namespace {ns}")


def links(ns: str) -> dict[int, str]:
    """Interface index -> name inside namespace ``ns``."""
    out = run(("ip", "-n", ns, "-j", "link", "show"))
    try:
        return {int(d["ifindex"]): str(d["ifname"]) for d in json.loads(out)}
    except (ValueError, KeyError, TypeError) as exc:
        raise LabError(f"unreadable 'ip -j link' output in {ns}") from exc


def spawn(argv: Sequence[str], log: Path | None = None,
          stderr_pipe: bool = False) -> subprocess.Popen[bytes]:
    """Start a namespaced command in its own session; stdout and stderr to ``log`` or a pipe."""
    safety.check_namespaced(argv)
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.PIPE if stderr_pipe else out, start_new_session=True,
        )
    except OSError as exc:
        raise LabError(f"cannot start {' '.join(argv)}: {exc.strerror}") from exc
    finally:
        if log is not None and not isinstance(out, int):
            out.close()


def listening(ns: str, port: int) -> bool:
    """Whether something listens on TCP ``port`` inside namespace ``ns``."""
    out = run(("ip", "netns", "exec", ns, "ss", "-Hltn", f"sport = :{port}"), check=False)
    return bool(out.strip())


def unsettled(ns: str) -> list[str]:
    """Devices of ``ns`` that are up but not yet passing traffic (operstate, bridge port state).

    The kernel brings a new link's operstate (and with it bridge ports) up asynchronously, up
    to a second later; packets sent before that are lost.
    """
    out = run(("ip", "-n", ns, "-j", "-d", "link", "show"))
    waiting = []
    try:
        for dev in json.loads(out):
            if "UP" not in dev.get("flags", ()) or dev.get("ifname") == "lo":
                continue
            port = dev.get("linkinfo", {}).get("info_slave_data", {})
            if dev.get("operstate") not in ("UP", "UNKNOWN") or port.get("state", "forwarding") \
                    != "forwarding":
                waiting.append(str(dev.get("ifname")))
    except (ValueError, TypeError, AttributeError) as exc:
        raise LabError(f"unreadable 'ip -j -d link' output in {ns}") from exc
    return waiting


def wait_settled(namespaces: Sequence[str], timeout: float = 5.0) -> None:
    """Wait until every device that is up in ``namespaces`` passes traffic; LabError if not."""
    deadline = time.monotonic() + timeout
    pending = list(namespaces)
    while pending:
        pending = [ns for ns in pending if unsettled(ns)]
        if not pending:
            return
        if time.monotonic() > deadline:
            detail = ", ".join(f"{ns}: {' '.join(unsettled(ns))}" for ns in pending)
            raise LabError(f"links did not come up within {timeout:.0f}s ({detail})")
        time.sleep(0.05)
