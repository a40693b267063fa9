"""Lab only: run an SSH command as if this host's clock were off by a fixed offset.

A lab host with ``clock_offset_ms`` has this as its sshd ``ForceCommand``
(``python -I .../clockshift.py OFFSET_NS``: run as a script, it imports the standard library
only). It runs ``$SSH_ORIGINAL_COMMAND`` with
libfaketime preloaded (every clock a program reads is shifted) and shifts the record
timestamps of a pcap stream the command writes to stdout (packet times come from the kernel,
which libfaketime cannot reach). Any other output passes through unchanged.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1),
}
_CHUNK = 1 << 16


class PcapShifter:
    """Shifts the record timestamps of a pcap byte stream fed in arbitrary pieces."""

    def __init__(self, offset_ns: int) -> None:
        self.offset_ns = offset_ns
        self.buf = bytearray()
        self.mode: tuple[str, int] | None = None
        self.passthrough = False
        self.header_done = False

    def feed(self, data: bytes) -> bytes:
        """The bytes ready to pass on after ``data`` (whole records only, once pcap)."""
        if self.passthrough:
            return data
        self.buf += data
        if self.mode is None:
            if len(self.buf) < 4:
                return b""
            self.mode = _MAGICS.get(bytes(self.buf[:4]))
            if self.mode is None:
                self.passthrough = True
                head, self.buf = bytes(self.buf), bytearray()
                return head
        out = bytearray()
        if not self.header_done:
            if len(self.buf) < 24:
                return b""
            out += self.buf[:24]
            del self.buf[:24]
            self.header_done = True
        order, unit = self.mode
        pos = 0
        while len(self.buf) - pos >= 16:
            sec, frac, caplen, length = struct.unpack_from(order + "IIII", self.buf, pos)
            if len(self.buf) - pos - 16 < caplen:
                break
            ns = sec * 1_000_000_000 + frac * unit + self.offset_ns
            sec, rest = divmod(ns, 1_000_000_000)
            out += struct.pack(order + "IIII", sec, rest // unit, caplen, length)
            out += self.buf[pos + 16:pos + 16 + caplen]
            pos += 16 + caplen
        del self.buf[:pos]
        return bytes(out)

    def rest(self) -> bytes:
        """What is left at the end of the stream (an incomplete record), unchanged."""
        out, self.buf = bytes(self.buf), bytearray()
        return out


def child_env(offset_ns: int) -> dict[str, str]:
    """The environment of the command: libfaketime preloaded with the offset."""
    env = dict(os.environ)
    env.pop("SSH_ORIGINAL_COMMAND", None)
    if LIBFAKETIME.exists():
        env["LD_PRELOAD"] = str(LIBFAKETIME)
        env["FAKETIME"] = f"{offset_ns / 1e9:+.9f}"
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        env["FAKETIME_NO_CACHE"] = "1"
    return env


def main(argv: Sequence[str]) -> int:
    """Run the SSH command with its clock and pcap output shifted by ``argv[0]`` ns."""
    offset_ns = int(argv[0])
    command = os.environ.get("SSH_ORIGINAL_COMMAND") or "exec /bin/sh"
    child = subprocess.Popen(["/bin/sh", "-c", command], stdout=subprocess.PIPE,
                             env=child_env(offset_ns))
    assert child.stdout is not None
    shifter = PcapShifter(offset_ns)
    fd = child.stdout.fileno()
    try:
        while True:
            data = os.read(fd, _CHUNK)
            if not data:
                break
            _write(shifter.feed(data))
        _write(shifter.rest())
    except BrokenPipeError:
        child.send_signal(signal.SIGINT)
    return child.wait()


def _write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
