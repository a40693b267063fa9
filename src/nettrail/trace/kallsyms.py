"""Kernel addresses -> ``function+0xoff`` from /proc/kallsyms (root sees real addresses)."""

from __future__ import annotations

import bisect
from pathlib import Path

KALLSYMS = Path("/proc/kallsyms")


class Kallsyms:
    """A sorted table of text symbols, loaded once."""

    def __init__(self, path: Path = KALLSYMS) -> None:
        addrs: list[tuple[int, str]] = []
        try:
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3 and parts[1] in "tTwW":
                        addr = int(parts[0], 16)
                        if addr:
                            addrs.append((addr, parts[2]))
        except OSError:
            addrs = []
        addrs.sort()
        self._addrs = [a for a, _ in addrs]
        self._names = [n for _, n in addrs]

    def symbol(self, addr: int) -> str:
        """``name+0xoff`` of a kernel text address, else its hex."""
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i < 0:
            return hex(addr)
        return f"{self._names[i]}+{addr - self._addrs[i]:#x}"
