"""Golden: the ladder SVG of the hand-built dual-l3 analysis, byte for byte after normalising.

Regenerate after an intended change with ``NETTRAIL_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from fixtures.report_analysis import dual_l3_analysis
from nettrail.report.ladder import build_ladders
from nettrail.report.svg import render_svg

EXPECTED = Path(__file__).parent / "expected"


def normalise(svg: str) -> str:
    """Drop what may vary without meaning: trailing blanks, and ``-0`` against ``0``."""
    lines = [line.rstrip() for line in svg.splitlines()]
    return re.sub(r'"-0"', '"0"', "\n".join(lines)).strip() + "\n"


@pytest.mark.parametrize(("index", "name"), [(0, "ladder_dual_l3.svg"),
                                             (1, "ladder_healthy.svg")])
def test_ladder_svg(index: int, name: str) -> None:
    got = normalise(render_svg(build_ladders(dual_l3_analysis())[index]))
    path = EXPECTED / name
    if os.environ.get("NETTRAIL_UPDATE_GOLDEN"):
        path.write_text(got)
    assert got == normalise(path.read_text())
