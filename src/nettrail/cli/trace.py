"""`nettrail trace`: not built yet."""

from __future__ import annotations

import argparse
from typing import Any

from nettrail.errors import NettrailError


def register(sub: Any) -> None:
    """Add the `trace` subcommand to the parser."""
    p: argparse.ArgumentParser = sub.add_parser("trace", help="(not built yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run `nettrail trace`."""
    raise NettrailError("nettrail trace is not built yet")
