"""``analyze_files``: capture files in, one analysis out (files read here, analysed purely)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from nettrail.analyze.pipeline import analyze
from nettrail.capture.inputs import Inputs
from nettrail.capture.points import PacketFilter, read_points
from nettrail.errors import InputError
from nettrail.model.analysis import Analysis

__all__ = ["AnalysisRun", "PacketFilter", "analyze_files"]


class AnalysisRun(NamedTuple):
    """An analysis and the capture faults met while reading (empty when every file was good)."""

    analysis: Analysis
    errors: tuple[InputError, ...]


def analyze_files(
    inputs: Sequence[tuple[str, str]] | Inputs,
    *,
    packet_filter: PacketFilter | None = None,
    ifnames: Mapping[str, Mapping[int, str]] | None = None,
) -> AnalysisRun:
    """Analyse capture files given as (point, path) pairs, or already opened by
    ``capture.inputs.open_inputs``; the first point is the reference.

    Several files may share a point (read in the order given). ``ifnames`` maps a point to the
    interface index -> name table of its Linux cooked v2 captures (from a lab manifest; not
    used with ``Inputs``, which already hold them).
    A capture fault ends reading of that file only: the good packets before it are analysed
    and the fault is returned beside the analysis.
    """
    points, errors = read_points(inputs, packet_filter=packet_filter, ifnames=ifnames)
    return AnalysisRun(analyze(points), tuple(errors))
