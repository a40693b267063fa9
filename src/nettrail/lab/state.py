"""What a lab that is up leaves on disk: ``/run/nettrail/lab/<scenario>/state.json``.

The state is written before the first namespace is created and updated as processes start,
so a ``down`` in another process (even after the builder was killed) finds everything.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nettrail.errors import InputError, LabError
from nettrail.lab import safety

STATE_ROOT = Path("/run/nettrail/lab")
"""Per-scenario state directories live here."""


@dataclass
class LabState:
    """A lab's namespaces, the processes started in them (name -> pid), and who built it."""

    scenario: str
    path: str
    namespaces: list[str]
    pids: dict[str, int] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    owner: int = field(default_factory=os.getpid)

    @property
    def owner_alive(self) -> bool:
        """Whether the process that built this lab is still running."""
        try:
            os.kill(self.owner, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return self.owner > 0

    @property
    def dir(self) -> Path:
        """The state directory of this lab (keys, configs, logs live there too)."""
        return state_dir(self.scenario)


def state_dir(scenario: str) -> Path:
    """The state directory of ``scenario`` (InputError for a name that is not a lab name)."""
    problem = safety.name_problem(scenario)
    if problem:
        raise InputError(f"not a lab name: {problem}")
    return STATE_ROOT / scenario


def save(state: LabState) -> None:
    """Write ``state`` atomically."""
    try:
        state.dir.mkdir(parents=True, exist_ok=True)
        tmp = state.dir / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
        tmp.replace(state.dir / "state.json")
    except OSError as exc:
        raise LabError(f"cannot write lab state in {state.dir}: {exc.strerror}") from exc


def load(scenario: str) -> LabState | None:
    """The saved state of ``scenario``, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((state_dir(scenario) / "state.json").read_text(encoding="utf-8"))
        return LabState(
            scenario=str(data["scenario"]), path=str(data["path"]),
            namespaces=[str(n) for n in data["namespaces"]],
            pids={str(k): int(v) for k, v in data.get("pids", {}).items()},
            created=float(data.get("created", 0.0)),
            owner=int(data.get("owner", 0)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove(scenario: str) -> None:
    """Delete the state directory of ``scenario`` (nothing to do when absent)."""
    shutil.rmtree(state_dir(scenario), ignore_errors=True)


def known() -> list[str]:
    """Scenarios that have a state directory, sorted."""
    if not STATE_ROOT.is_dir():
        return []
    return sorted(p.name for p in STATE_ROOT.iterdir() if p.is_dir())
