"""Running a tool (nft, iptables-save, ovs-ofctl) to its end, bounded in time."""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from typing import IO, Any


def communicate(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str] | None:
    """``proc``'s (stdout, stderr) once it ends, or None when it was killed after ``timeout``
    seconds. Both pipes are read as they fill (selectors), then the exit is waited for without
    a timeout, which needs no polling sleep: on hosts where a preloaded clock library
    (libfaketime) makes ``nanosleep`` fail, the read still works."""
    pipes: dict[IO[Any], list[bytes]] = {f: [] for f in (proc.stdout, proc.stderr) if f}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for f in pipes:
            sel.register(f, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait()
                return None
            for key, _ in sel.select(left):
                data = os.read(key.fd, 1 << 16)
                if data:
                    pipes[key.fileobj].append(data)  # type: ignore[index]
                else:
                    sel.unregister(key.fileobj)
    for f in pipes:
        f.close()
    proc.wait()
    out, err = (b"".join(pipes.get(f, [])).decode(errors="replace")  # type: ignore[arg-type]
                for f in (proc.stdout, proc.stderr))
    return out, err
