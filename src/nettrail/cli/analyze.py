"""`nettrail analyze`: not built yet."""

from __future__ import annotations

import argparse
from typing import Any

from nettrail.errors import NettrailError


def register(sub: Any) -> None:
    """Add the `analyze` subcommand to the parser."""
    p: argparse.ArgumentParser = sub.add_parser("analyze", help="(not built yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run `nettrail analyze`."""
    raise NettrailError("nettrail analyze is not built yet")
