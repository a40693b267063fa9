"""`nettrail demo` end to end: the incident reproduced and explained, then its healthy twin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nettrail import lab
from nettrail.lab import shell
from nettrail.lab.pytest_plugin import require_lab, wait_until_free

pytestmark = [pytest.mark.lab, pytest.mark.root, pytest.mark.slow]


def test_demo_reproduces_explains_and_cleans_up(tmp_path: Path) -> None:
    require_lab()
    for name in ("dual-l3", "healthy"):
        wait_until_free(name)
        lab.down(name)
    proc = subprocess.run([sys.executable, "-m", "nettrail.cli.main", "demo", "--output",
                           str(tmp_path)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    dual, healthy = proc.stdout.split("=== healthy")
    assert "client (ssh): reset (as expected)" in dual
    assert "DIAGNOSIS: floating IP 203.0.113.223 is served by two L3" in dual
    assert "client (ssh): success (as expected)" in healthy
    assert "DIAGNOSIS" not in healthy and "No root cause" in healthy
    for name in ("dual-l3", "healthy"):
        assert (tmp_path / name / "manifest.json").is_file()
        assert (tmp_path / name / "report.txt").stat().st_size > 0
        assert (tmp_path / name / "report.html").read_text().startswith("<!DOCTYPE html>")
        assert shell.namespaces(f"ntl-{name}-") == []
