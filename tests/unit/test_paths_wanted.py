"""An analysis made without packet paths (``paths=False``, as text and JSON output ask for)
is the analysis made with them, less the paths: every other field the same, and the same
text and JSON reports."""

from __future__ import annotations

import dataclasses
import io

import pytest

from fixturekit import SCENARIOS, scenario_inputs
from nettrail.report import json as report_json
from nettrail.report import text as report_text
from nettrail.run import analyze_files


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_analysis_without_paths_is_the_same_less_the_paths(scenario: str) -> None:
    inputs = scenario_inputs(scenario)
    full = analyze_files(inputs).analysis
    bare = analyze_files(inputs, paths=False).analysis
    assert full.paths and not bare.paths
    assert bare == dataclasses.replace(full, paths=())
    for render in (report_json.render, report_text.render):
        with_paths, without = io.StringIO(), io.StringIO()
        render(full, with_paths)
        render(bare, without)
        assert without.getvalue() == with_paths.getvalue()
