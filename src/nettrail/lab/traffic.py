"""Drive a scenario's client traffic from its client host and classify what the client saw."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from nettrail.errors import LabError
from nettrail.lab import safety, services, shell
from nettrail.lab.outcome import SSH_LOG_LEVEL, TrafficResult, classify_ssh
from nettrail.lab.plan import in_ns
from nettrail.lab.scenario import Scenario


def argv_for(scenario: Scenario, state_dir: Path) -> tuple[str, ...]:
    """The client command of ``scenario``, run inside its client host."""
    t = scenario.traffic
    ns = scenario.host(t.host).netns
    if t.kind == "ssh":
        return in_ns(
            ns, "ssh", "-F", "/dev/null", "-i", str(services.client_key(state_dir)),
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", f"LogLevel={SSH_LOG_LEVEL}",
            "-o", f"ConnectTimeout={max(1, round(t.timeout))}",
            "-p", str(t.port), f"root@{t.target}", "true",
        )
    return in_ns(ns, sys.executable, "-m", "nettrail.cli.labtool", "fetch", t.target,
                 str(t.port), "--bytes", str(t.bytes), "--timeout", str(t.timeout))


def drive(scenario: Scenario, state_dir: Path) -> TrafficResult:
    """Run the client once and return its outcome next to the expected one."""
    t = scenario.traffic
    if t.kind == "ssh":
        services.make_keys(state_dir)
    argv = argv_for(scenario, state_dir)
    safety.check_namespaced(argv)
    start = time.monotonic()
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False,
                              timeout=t.timeout + 15)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"client {' '.join(argv[4:6])} did not end within "
                       f"{t.timeout + 15:.0f}s") from exc
    elapsed = round(time.monotonic() - start, 3)
    client_ns = scenario.host(t.host).netns
    if proc.returncode != 0 and not shell.exists(client_ns):
        raise LabError(f"lab {scenario.name} was taken down while its client ran "
                       f"({client_ns} is gone)")
    if t.kind == "ssh":
        outcome, detail = classify_ssh(proc.returncode, proc.stderr)
        return TrafficResult(t.kind, outcome, t.expect, proc.returncode, detail, elapsed)
    return _fetch_result(t.expect, proc, elapsed)


def _fetch_result(expect: str, proc: subprocess.CompletedProcess[str],
                  elapsed: float) -> TrafficResult:
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        return TrafficResult("tcp-fetch", str(data["outcome"]), expect, proc.returncode,
                             str(data["detail"]), elapsed, int(data["received"]))
    except (IndexError, ValueError, KeyError, TypeError):
        detail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return TrafficResult("tcp-fetch", "error", expect, proc.returncode, detail, elapsed)
