"""The layers hold (docs/architecture.md): the core (``model/``, ``analyze/``) imports no edge
and nothing that reaches the outside world, and opens no file; ``report/`` imports no capture
reader; ``trace/`` imports nothing from ``report/``. Read from the source's own imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src" / "nettrail"
OUTSIDE = {"subprocess", "ctypes", "socket", "pyroute2", "os", "shutil", "tempfile", "mmap",
           "select", "signal", "pathlib", "multiprocessing", "threading", "urllib", "http"}
"""Modules that reach processes, the kernel, files or the network."""


def _imports(layer: str) -> dict[str, set[str]]:
    """Every module each file of ``layer`` imports (``from a.b import c``: ``a.b``)."""
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / layer).rglob("*.py")):
        names = found.setdefault(path.relative_to(SRC).as_posix(), set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return found


def _opens(layer: str) -> list[str]:
    """Calls of ``open`` and of ``Path``'s reading and writing methods in ``layer``."""
    out = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) \
                else ""
            if name in ("open", "read_bytes", "read_text", "write_bytes", "write_text"):
                out.append(f"{path.relative_to(SRC)}:{node.lineno} {name}")
    return out


@pytest.mark.parametrize("layer", ["model", "analyze"])
def test_the_core_imports_no_edge_and_nothing_of_the_outside(layer: str) -> None:
    allowed = {"nettrail.model"} | ({"nettrail.analyze"} if layer == "analyze" else set())
    wrong = {f"{file}: {name}" for file, names in _imports(layer).items() for name in names
             if (name.startswith("nettrail") and not any(
                 name == a or name.startswith(a + ".") for a in allowed))
             or name.split(".")[0] in OUTSIDE}
    assert not wrong, sorted(wrong)
    assert not _opens(layer)


def test_report_reads_no_capture_and_trace_imports_no_report() -> None:
    readers = {f"{file}: {name}" for file, names in _imports("report").items()
               for name in names if name.startswith("nettrail.capture")}
    assert not readers, sorted(readers)
    renderers = {f"{file}: {name}" for file, names in _imports("trace").items()
                 for name in names if name.startswith("nettrail.report")}
    assert not renderers, sorted(renderers)


def test_the_check_sees_a_forbidden_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    """The scan finds what it looks for (a core file importing socket and opening a file)."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "x.py").write_text(
        "from socket import inet_ntoa\nimport nettrail.capture.pcap\n"
        "def f(p):\n    return open(p).read()\n", encoding="utf-8")
    monkeypatch.setitem(globals(), "SRC", tmp_path)
    assert _imports("model") == {"model/x.py": {"socket", "nettrail.capture.pcap"}}
    assert _opens("model") == ["model/x.py:4 open"]
