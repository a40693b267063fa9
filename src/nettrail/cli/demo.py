"""`nettrail demo`: reproduce the dual-L3 incident in a lab, explain it, then its healthy twin.

For each of ``dual-l3`` and ``healthy``: build the lab, capture at every point while the
client connects, tear the lab down, analyse the captures (packets only: the analyzer is given
the pcaps and their interface names, never the scenario; the rules behind each translation
come from the hosts' snapshots taken during the run) and print the diagnosis, clocks and
translations; the full text report and an HTML report are written beside the captures.
Exit 0 when both clients saw what their scenario expects.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from nettrail import lab
from nettrail.cli.lab import write_run
from nettrail.lab.handle import RunResult
from nettrail.model.analysis import Analysis
from nettrail.report import html as report_html
from nettrail.report import text as report_text

SCENARIOS = ("dual-l3", "healthy")
EXIT_OK = 0
EXIT_UNEXPECTED = 1


def register(sub: Any) -> None:
    """Add the `demo` subcommand to the parser."""
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="reproduce the dual-L3 incident in a lab and explain it",
        description="Build the dual-l3 lab, reproduce the reset, analyse the captures and "
                    "print the diagnosis; then the same for the healthy twin.")
    p.add_argument("--output", type=Path, default=Path("nettrail-demo"), metavar="DIR",
                   help="directory for captures and reports (default nettrail-demo)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; return 0 when both scenarios behaved as expected."""
    out = sys.stdout
    start = time.monotonic()
    ok = True
    for name in SCENARIOS:
        ok = _one(name, args.output / name, out) and ok
    out.write(f"\ndemo finished in {time.monotonic() - start:.1f}s; captures and reports in "
              f"{args.output}/\n")
    return EXIT_OK if ok else EXIT_UNEXPECTED


def _one(name: str, output: Path, out: TextIO) -> bool:
    scn = lab.load(name)
    out.write(f"=== {name}: {scn.summary}\n")
    out.flush()
    with lab.up(name) as handle:
        result = handle.run(output)
    write_run(result, out)
    analysis = analyze(result)
    report = output / "report.txt"
    full = render_text(analysis)
    report.write_text(full, encoding="utf-8")
    out.write("\n" + full.split("\nPoint ", 1)[0].rstrip("\n") + "\n")
    if analysis.diagnosis is None:
        out.write("\nNo root cause: nettrail finds no failure in these captures.\n")
    out.write(f"\nfull report: {report}\n")
    out.write(f"HTML report: {write_html(analysis, output / 'report.html')}\n")
    out.write("\n")
    out.flush()
    return result.traffic.as_expected


def analyze(result: RunResult) -> Analysis:
    """Analyse a lab run's captures with nettrail's pipeline (packets and interface names),
    then tie each translation to the rule behind it from the hosts' snapshots in the run.
    (Imported here: the analysis loads numpy, which building the lab does not need.)"""
    from nettrail.cli.analyze import with_snapshots
    from nettrail.run import analyze_files

    analysis = analyze_files(list(result.captures), ifnames=result.ifnames).analysis
    return with_snapshots(analysis, [str(result.output)])


def render_text(analysis: Analysis) -> str:
    """The analysis as nettrail's text report."""
    buf = io.StringIO()
    report_text.render(analysis, buf)
    return buf.getvalue()


def write_html(analysis: Analysis, path: Path) -> Path:
    """Write the HTML report of ``analysis`` to ``path``; return the path."""
    with path.open("w", encoding="utf-8") as fh:
        report_html.render(analysis, fh)
    return path
