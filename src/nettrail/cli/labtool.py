"""``python -m nettrail.cli.labtool``: the TCP server and client the lab runs in namespaces.

Not a user command: the lab starts it inside lab namespaces. ``serve`` prints ``ready`` once
listening; ``fetch`` prints one JSON object (outcome, received, detail, elapsed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from nettrail.lab import tool


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``serve`` or ``fetch``; exit 0 when fetch succeeds (or serve is stopped)."""
    parser = argparse.ArgumentParser(prog="nettrail-labtool")
    sub = parser.add_subparsers(dest="verb", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--bytes", type=int, default=0)
    fetch = sub.add_parser("fetch")
    fetch.add_argument("target")
    fetch.add_argument("port", type=int)
    fetch.add_argument("--bytes", type=int, default=0)
    fetch.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.verb == "serve":
        try:
            tool.serve(args.port, args.bytes, lambda: print("ready", flush=True))
        except KeyboardInterrupt:
            return 0
        return 0
    result = tool.fetch(args.target, args.port, args.bytes, args.timeout)
    print(json.dumps(result._asdict()), flush=True)
    return 0 if result.outcome == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
