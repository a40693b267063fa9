"""`nettrail lab`: not built yet."""

from __future__ import annotations

import argparse
from typing import Any

from nettrail.errors import NettrailError


def register(sub: Any) -> None:
    """Add the `lab` subcommand to the parser."""
    p: argparse.ArgumentParser = sub.add_parser("lab", help="(not built yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run `nettrail lab`."""
    raise NettrailError("nettrail lab is not built yet")
