"""nettrail as one zip archive to run on a remote host with its own ``python3``.

The archive holds the ``nettrail`` package (its Python files and the compiled BPF object;
on the host the snapshot needs nothing but the standard library, the eBPF tracer numpy too)
and a ``__main__.py``:
``python3 nettrail.pyz snapshot`` works as ``nettrail snapshot``. Remote collection does not
write it anywhere: it is sent over the SSH session's stdin and read into an anonymous memory
file (see :mod:`~.remote` and :mod:`~.agent`), gone when the process ends, however it ends.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import zipfile
from pathlib import Path

from nettrail.errors import CapabilityError

BPF_OBJECT = "nettrail/trace/bpf/trace.bpf.o"
"""Where the compiled BPF object sits inside the archive."""
MAIN = "from nettrail.cli.main import main\nraise SystemExit(main())\n"
PACKAGES = ("nettrail",)
"""The packages the archive holds (the snapshot reads netlink itself: no pyroute2)."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise CapabilityError(f"cannot build the remote archive: package {name} not found")
    return Path(next(iter(spec.submodule_search_locations)))


def _files(name: str) -> list[tuple[Path, str]]:
    """(file, name in the archive) of a package's Python files, sorted."""
    root = _package_dir(name)
    return [(p, f"{name}/{p.relative_to(root).as_posix()}")
            for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts]


@functools.cache
def build() -> bytes:
    """The archive as bytes (built once per process); CapabilityError without the BPF object."""
    obj = _package_dir("nettrail") / "trace" / "bpf" / "trace.bpf.o"
    if not obj.is_file():
        raise CapabilityError(f"--tracer ebpf needs the BPF object {obj} (run: make bpf)")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.writestr("__main__.py", MAIN)
        for name in PACKAGES:
            for path, arcname in _files(name):
                zf.write(path, arcname)
        zf.write(obj, BPF_OBJECT)
    return buf.getvalue()


def write(path: Path) -> Path:
    """Write the archive to ``path`` (``python3 PATH snapshot`` runs it); return the path."""
    path.write_bytes(build())
    return path
