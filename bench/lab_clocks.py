"""Clocks from the packets alone on lab runs of dual-l3, against the truth: every point of a
``nettrail lab run`` is stamped by one kernel (offset 0). For each run directory: compute's
and the VM's estimate, whether every point's holds 0 within its uncertainty, whether the VM's
packets in the diagnosis chain come after the router sent on the DNATed SYN, and how many
translations no point is named for (made up between points).

    python bench/lab_clocks.py SRC_TREE RUN_DIR...   (SRC_TREE: the nettrail source to use)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def measure(tree: str, run: str) -> str:
    """One run directory's line, analysed by the nettrail source in ``tree``."""
    env = dict(os.environ, PYTHONPATH=tree)
    out = subprocess.run([sys.executable, "-m", "nettrail.cli.main", "analyze", "--format",
                          "json", run], capture_output=True, text=True, env=env, check=True)
    report = json.loads(out.stdout)
    clocks = {c["point"]: c for c in report["clock"]}
    held = all(abs(c["offset_ms"]) <= c["uncertainty_ms"] + 0.001 for c in report["clock"])
    diagnosis = report.get("diagnosis") or {}
    chain = diagnosis.get("chain", [])
    dnat = [e["time_ns"] for e in chain if e["note"].startswith("request DNATed")]
    causal = bool(dnat) and all(e["time_ns"] > dnat[0] for e in chain if e["point"] == "vm")
    made_up = sum(1 for t in report["nat"] if not t.get("at"))

    def clock(point: str) -> str:
        c: dict[str, Any] = clocks[point]
        return f"{c['offset_ms']:+.3f} ± {c['uncertainty_ms']:.3f}"

    kind = diagnosis.get("kinds", [None])[0]
    return (f"{os.path.basename(run)}\tcompute {clock('compute')}\tvm {clock('vm')}\t"
            f"truth held {held}\tVM reply after DNAT {causal}\tmade up {made_up}\t{kind}")


if __name__ == "__main__":
    for path in sys.argv[2:]:
        print(measure(sys.argv[1], path))
