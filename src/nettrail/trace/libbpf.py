"""The only ctypes module: the few libbpf 1.x calls nettrail uses, with errors translated.

Every failure becomes a ``TraceError`` (or ``CapabilityError`` when the machine lacks
something) carrying the call, the errno text and the last lines libbpf logged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from nettrail.errors import CapabilityError, TraceError

LIBBPF_SONAME = "libbpf.so.1"

_vp = ctypes.c_void_p
_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class _Lib:
    """libbpf and libc loaded once, with argument types declared."""

    def __init__(self) -> None:
        try:
            self.bpf = ctypes.CDLL(LIBBPF_SONAME, use_errno=True)
        except OSError as exc:
            raise CapabilityError(f"{LIBBPF_SONAME} not found (install libbpf1)") from exc
        self.libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self.log: list[str] = []
        self._buf = ctypes.create_string_buffer(1 << 20)
        self._declare()
        self._printer = _PRINT_FN(self._print)
        self.bpf.libbpf_set_print(self._printer)

    def _declare(self) -> None:
        b = self.bpf
        sigs: dict[str, tuple[object, list[object]]] = {
            "bpf_object__open_file": (_vp, [ctypes.c_char_p, _vp]),
            "bpf_object__load": (ctypes.c_int, [_vp]),
            "bpf_object__close": (None, [_vp]),
            "bpf_object__find_map_by_name": (_vp, [_vp, ctypes.c_char_p]),
            "bpf_object__find_program_by_name": (_vp, [_vp, ctypes.c_char_p]),
            "bpf_map__initial_value": (_vp, [_vp, ctypes.POINTER(ctypes.c_size_t)]),
            "bpf_map__set_max_entries": (ctypes.c_int, [_vp, ctypes.c_uint32]),
            "bpf_map__fd": (ctypes.c_int, [_vp]),
            "bpf_program__set_autoload": (ctypes.c_int, [_vp, ctypes.c_bool]),
            "bpf_program__attach": (_vp, [_vp]),
            "bpf_link__destroy": (ctypes.c_int, [_vp]),
            "bpf_map_lookup_elem": (ctypes.c_int, [ctypes.c_int, _vp, _vp]),
            "libbpf_set_print": (_vp, [_vp]),
            "libbpf_num_possible_cpus": (ctypes.c_int, []),
            "bpf_enable_stats": (ctypes.c_int, [ctypes.c_int]),
        }
        for name, (res, args) in sigs.items():
            fn = getattr(b, name)
            fn.restype = res
            fn.argtypes = args
        self.libc.vsnprintf.restype = ctypes.c_int
        self.libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, _vp]

    def _print(self, level: int, fmt: bytes | None, ap: int | None) -> int:
        buf = self._buf
        self.libc.vsnprintf(buf, len(buf), fmt, ap)
        for line in buf.value.decode(errors="replace").splitlines():
            if line.strip():
                self.log.append(line.rstrip())
        del self.log[:-400]
        return 0


_LIB: _Lib | None = None


def lib() -> _Lib:
    """The loaded library (loaded on first use)."""
    global _LIB
    if _LIB is None:
        _LIB = _Lib()
    return _LIB


def _fail(call: str, err: int) -> TraceError | CapabilityError:
    tail = "; ".join(line for line in lib().log[-3:] if line)
    msg = f"{call} failed: {os.strerror(err)}"
    if err == errno.EPERM:
        return CapabilityError(f"{msg} (needs root: CAP_BPF and CAP_PERFMON)")
    return TraceError(f"{msg}{' (' + tail + ')' if tail else ''}")


@contextmanager
def _logged() -> Iterator[None]:
    lib().log.clear()
    yield


class BpfObject:
    """An opened BPF object file: maps and programs by name, then load and attach."""

    def __init__(self, path: str) -> None:
        with _logged():
            ptr = lib().bpf.bpf_object__open_file(path.encode(), None)
            if not ptr:
                raise _fail(f"opening {path}", ctypes.get_errno())
        self._ptr: int | None = ptr
        self._links: list[int] = []

    @property
    def ptr(self) -> int:
        """The ``struct bpf_object *``; raises once closed."""
        if self._ptr is None:
            raise TraceError("BPF object already closed")
        return self._ptr

    def _map(self, name: str) -> int:
        m = lib().bpf.bpf_object__find_map_by_name(self.ptr, name.encode())
        if not m:
            raise TraceError(f"BPF object has no map {name}")
        return int(m)

    def _prog(self, name: str) -> int:
        p = lib().bpf.bpf_object__find_program_by_name(self.ptr, name.encode())
        if not p:
            raise TraceError(f"BPF object has no program {name}")
        return int(p)

    def set_initial_value(self, map_name: str, data: bytes, offset: int = 0) -> None:
        """Write ``data`` into a global-data map (``.rodata``) before load."""
        size = ctypes.c_size_t()
        mem = lib().bpf.bpf_map__initial_value(self._map(map_name), ctypes.byref(size))
        if not mem or offset + len(data) > size.value:
            raise TraceError(f"map {map_name} too small for {len(data)} bytes at {offset}")
        ctypes.memmove(mem + offset, data, len(data))

    def set_max_entries(self, map_name: str, entries: int) -> None:
        """Resize a map before load (ring buffer bytes, hash entries)."""
        rc = lib().bpf.bpf_map__set_max_entries(self._map(map_name), entries)
        if rc < 0:
            raise _fail(f"resizing map {map_name}", -rc)

    def set_autoload(self, prog_name: str, on: bool) -> None:
        """Choose whether a program is loaded."""
        lib().bpf.bpf_program__set_autoload(self._prog(prog_name), on)

    def load(self) -> None:
        """Load every autoloaded program and create the maps (the verifier runs here)."""
        with _logged():
            rc = lib().bpf.bpf_object__load(self.ptr)
            if rc < 0:
                raise _fail("loading the BPF object", -rc)

    def attach(self, prog_name: str) -> None:
        """Attach a program at the hook its section names; the link lives with this object."""
        with _logged():
            link = lib().bpf.bpf_program__attach(self._prog(prog_name))
            if not link:
                raise _fail(f"attaching {prog_name}", ctypes.get_errno())
        self._links.append(int(link))

    def map_fd(self, map_name: str) -> int:
        """The file descriptor of a loaded map."""
        fd = int(lib().bpf.bpf_map__fd(self._map(map_name)))
        if fd < 0:
            raise TraceError(f"map {map_name} is not loaded")
        return fd

    def close(self) -> None:
        """Detach every link and free the object (idempotent)."""
        while self._links:
            lib().bpf.bpf_link__destroy(self._links.pop())
        if self._ptr is not None:
            lib().bpf.bpf_object__close(self._ptr)
            self._ptr = None


def lookup(fd: int, key: bytes, value_size: int) -> bytes | None:
    """One map element by key, or None when absent."""
    kbuf = ctypes.create_string_buffer(key, len(key))
    vbuf = ctypes.create_string_buffer(value_size)
    rc = lib().bpf.bpf_map_lookup_elem(fd, kbuf, vbuf)
    if rc < 0:
        err = ctypes.get_errno()
        if err == errno.ENOENT:
            return None
        raise _fail("bpf_map_lookup_elem", err)
    return vbuf.raw


def enable_run_stats() -> int:
    """Make the kernel count run time of every BPF program while the returned fd is open."""
    fd = int(lib().bpf.bpf_enable_stats(0))  # BPF_STATS_RUN_TIME
    if fd < 0:
        raise _fail("bpf_enable_stats", -fd)
    return fd


def possible_cpus() -> int:
    """How many CPUs per-CPU maps hold a slot for."""
    n = int(lib().bpf.libbpf_num_possible_cpus())
    if n <= 0:
        raise TraceError("cannot count possible CPUs")
    return n
