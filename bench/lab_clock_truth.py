"""Clocks from the packets alone on lab runs of every scenario, two source trees side by side,
against the truth: every point of a ``nettrail lab run`` is stamped by one kernel (offset 0).
Per scenario: the median stated uncertainty, how many points' estimates leave 0 outside it,
and whether the diagnosis, root-cause findings and translations stay the same.

    python bench/lab_clock_truth.py BASE_SRC NEW_SRC RUN_DIR...   (RUN_DIR: NAME-K or any)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any


def analysed(tree: str, run: str) -> tuple[dict[str, tuple[float, float]], Any]:
    """Each point's clock (offset, uncertainty, ms) and what else was decided."""
    env = dict(os.environ, PYTHONPATH=tree)
    out = subprocess.run([sys.executable, "-m", "nettrail.cli.main", "analyze", "--format",
                          "json", run], capture_output=True, text=True, env=env, check=True)
    r = json.loads(out.stdout)
    clocks = {c["point"]: (c["offset_ms"], c["uncertainty_ms"]) for c in r["clock"]
              if c["point"] != c["reference"]}
    decided = ((r.get("diagnosis") or {}).get("kinds"),
               sorted(f["kind"] for f in r["findings"] if f.get("root_cause")), len(r["nat"]))
    return clocks, decided


def main(base: str, new: str, runs: list[str]) -> None:
    rows: dict[str, dict[str, Any]] = {}
    for run in runs:
        name = os.path.basename(run.rstrip("/")).rsplit("-", 1)[0]
        (a, da), (b, db) = analysed(base, run), analysed(new, run)
        row = rows.setdefault(name, {"runs": 0, "ua": [], "ub": [], "oa": 0, "ob": 0, "same": 0})
        row["runs"] += 1
        row["same"] += da == db
        for point, (oa, ua) in a.items():
            ob, ub = b[point]
            row["ua"].append(ua)
            row["ub"].append(ub)
            row["oa"] += abs(oa) > ua + 0.001
            row["ob"] += abs(ob) > ub + 0.001
    print("| scenario | runs | clocks | median ± base (ms) | median ± new (ms) "
          "| truth outside, base | new | same decisions |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['runs']} | {len(r['ua'])} | {statistics.median(r['ua']):.3f} "
              f"| {statistics.median(r['ub']):.3f} | {r['oa']} | {r['ob']} "
              f"| {r['same']} of {r['runs']} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
