"""The system OpenSSH client: one master connection per host, sessions multiplexed over it.

The user's ``~/.ssh/config`` (or ``-F FILE``), jump hosts, agents and certificates apply as
for any ``ssh``. Always ``-T`` (no pty) and ``BatchMode`` (never a prompt); host keys are
checked strictly unless the user opts in to accepting new ones. The destination follows
``--`` after a check that it cannot be taken for an option.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from nettrail.collect import remote
from nettrail.errors import InputError

_HOST = re.compile(r"^[A-Za-z0-9_.@%:\[\]-]{1,255}$")
_FINGERPRINT = re.compile(r"Server host key: (\S+) (SHA256:\S+)")
_NOISE = ("debug", "OpenSSH_", "Authenticated to", "Transferred:", "Bytes per second")


def check_host(name: str) -> str:
    """``name`` when it can only be read as a destination; InputError otherwise."""
    if not _HOST.match(name) or name.startswith("-"):
        raise InputError(f"not a host name: {name!r} (letters, digits and . _ - @ : % [ ] "
                         "only, not starting with -)")
    return name


@dataclass(frozen=True)
class SshOptions:
    """How to reach hosts: config file, host key policy, connect timeout."""

    config: str | None = None
    accept_new_host_keys: bool = False
    connect_timeout: int = 10


def base_argv(opts: SshOptions, control: Path) -> list[str]:
    """``ssh`` with our fixed options and the master's control socket."""
    argv = ["ssh"]
    if opts.config:
        argv += ["-F", opts.config]
    argv += ["-T", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={opts.connect_timeout}",
             "-o", "StrictHostKeyChecking=" + ("accept-new" if opts.accept_new_host_keys
                                               else "yes"),
             "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
             "-S", str(control)]
    return argv


class Master:
    """The master connection to one host (``ssh -M -N``); sessions run through it."""

    def __init__(self, host: str, opts: SshOptions, workdir: Path) -> None:
        self.host = check_host(host)
        self.opts = opts
        self.control = workdir / "ctl"
        self.log = workdir / "master.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start connecting (returns at once; :meth:`wait_ready` waits)."""
        # The master's own session waits for the end of its stdin, a pipe from this process:
        # if this process dies (even SIGKILL), the session ends and with it the master.
        argv = base_argv(self.opts, self.control)
        argv += ["-M", "-v", "-o", "ControlPersist=no", "--", self.host, remote.WAIT]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log,
                                         stderr=log, start_new_session=True)

    def wait_ready(self, timeout: float) -> str | None:
        """Wait until authenticated (the control socket exists); None, or why it failed."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while not self.control.exists():
            if self.proc.poll() is not None:
                return self.failure() or f"ssh exited with status {self.proc.returncode}"
            if time.monotonic() > deadline:
                return f"no connection within {timeout:.0f}s"
            time.sleep(0.01)
        return None

    def failure(self) -> str:
        """The last meaningful line ssh wrote about this connection."""
        lines = [ln.strip() for ln in self.log.read_text(errors="replace").splitlines()]
        useful = [ln for ln in lines if ln and not ln.startswith(_NOISE)]
        return useful[-1] if useful else ""

    def fingerprint(self) -> str | None:
        """The server's host key as ``TYPE SHA256:…``, from the master's log."""
        with contextlib.suppress(OSError):
            m = _FINGERPRINT.search(self.log.read_text(errors="replace"))
            if m:
                return f"{m.group(1)} {m.group(2)}"
        return None

    def session(self, remote: str, *, stdin: int | None = subprocess.PIPE,
                stderr: int | None = subprocess.PIPE) -> subprocess.Popen[bytes]:
        """Run ``remote`` (one quoted command line) through the master."""
        argv = [*base_argv(self.opts, self.control), "-o", "ControlMaster=no", "--",
                self.host, remote]
        return subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
                                start_new_session=True)

    def run(self, remote: str, timeout: float,
            stdin: bytes | None = None) -> tuple[int, str, str]:
        """Run ``remote`` to its end (``stdin`` its input): exit status, stdout, stderr."""
        proc = self.session(remote, stdin=subprocess.DEVNULL if stdin is None else
                            subprocess.PIPE)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return 255, out.decode(errors="replace"), f"no answer within {timeout:.0f}s"
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def close(self) -> None:
        """End the master connection (and with it every session still open)."""
        if self.proc is None:
            return
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
