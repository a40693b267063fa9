"""Connections are grouped by a hash of their key (its high bits sorted with the row number):
when keys collide, the grouping falls back to the keys themselves, with the same result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nettrail.analyze import table_flows
from nettrail.report.json import to_dict
from nettrail.run import analyze_files

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mix", ["web", "short"])
def test_colliding_hashes_group_the_same(mix: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / f"{mix}.pcap"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_capture.py"), str(out),
                    "--packets", "20000", "--seed", "3", "--mix", mix], check=True)
    hashed = to_dict(analyze_files([("p", str(out))]).analysis)
    calls = []
    real = np.lexsort

    def spy(keys: object) -> object:
        calls.append(1)
        return real(keys)  # type: ignore[call-overload]

    monkeypatch.setattr(table_flows.np, "lexsort", spy)
    assert to_dict(analyze_files([("p", str(out))]).analysis) == hashed
    assert not calls  # no collision in these keys
    monkeypatch.setattr(table_flows, "_HASH", np.uint64(0))  # every key collides
    assert to_dict(analyze_files([("p", str(out))]).analysis) == hashed
    assert calls
    assert len(hashed["connections"]) > 100
