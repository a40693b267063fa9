"""The small TCP server and client the lab runs inside namespaces (``tcp-server``, ``tcp-fetch``).

Plain sockets, no framing: the server sends ``nbytes`` zero bytes to each client and closes;
the client connects, reads until it has ``nbytes`` (or the peer closes) and reports how it
went as one of the lab's client outcomes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

_CHUNK = 65536


class FetchResult(NamedTuple):
    """How a ``tcp-fetch`` went: a lab outcome, bytes received, why, and seconds taken."""

    outcome: str
    received: int
    detail: str
    elapsed: float


def fetch(target: str, port: int, nbytes: int, timeout: float) -> FetchResult:
    """Connect to ``target:port`` and read ``nbytes``; never raises for network failures."""
    start = time.monotonic()
    received = 0

    def result(outcome: str, detail: str) -> FetchResult:
        return FetchResult(outcome, received, detail, round(time.monotonic() - start, 3))

    try:
        sock = socket.create_connection((target, port), timeout=timeout)
    except ConnectionRefusedError:
        return result("refused", "connection refused")
    except ConnectionResetError:
        return result("reset", "connection reset by peer")
    except TimeoutError:
        return result("timeout", f"connect timed out after {timeout:g}s")
    except OSError as exc:
        return result("error", f"connect failed: {exc.strerror or exc}")
    deadline = start + timeout
    with sock:
        while received < nbytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return result("stalled", f"received {received} of {nbytes} bytes")
            sock.settimeout(remaining)
            try:
                data = sock.recv(_CHUNK)
            except ConnectionResetError:
                return result("reset", f"reset by peer after {received} bytes")
            except TimeoutError:
                return result("stalled", f"received {received} of {nbytes} bytes")
            if not data:
                return result("error", f"peer closed after {received} of {nbytes} bytes")
            received += len(data)
    return result("success", f"received {received} bytes")


def serve(port: int, nbytes: int, ready: Callable[[], None]) -> None:
    """Accept forever on ``port``, sending ``nbytes`` to each client in its own thread."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(64)
    ready()
    payload = bytes(nbytes)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_send, args=(conn, payload), daemon=True).start()


def _send(conn: socket.socket, payload: bytes) -> None:
    with conn:
        conn.settimeout(60)
        try:
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)
            conn.recv(1)
        except OSError:
            return
