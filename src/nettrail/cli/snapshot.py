"""``nettrail snapshot``: this host's namespaces, links, routes and who translates each address.

Exit 0 when no address has two NAT owners, 1 when one has (``multiple-nat-owners``), 2 for
unusable arguments, 3 when not root.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from nettrail.errors import InputError

EXIT_OK = 0
EXIT_FOUND = 1


def register(sub: Any) -> None:
    """Add the ``snapshot`` subcommand to the parser."""
    p: argparse.ArgumentParser = sub.add_parser(
        "snapshot",
        help="this host's topology and NAT owners (who translates each address)",
        description="Read every network namespace of this host (named ones and those only a "
        "process holds): links, addresses, routes, rules, neighbours, and every place that "
        "rewrites addresses (iptables, nftables, tc, OpenFlow, conntrack); report addresses "
        "translated in more than one place. Needs root.",
        epilog="examples:\n"
        "  nettrail snapshot\n"
        "  nettrail snapshot --format json --output host.json\n"
        "  nettrail snapshot --netns qrouter-5f1c2d3e,root\n\n"
        "exit status: 0 no address has two NAT owners; 1 one has; 2 bad arguments; "
        "3 not root",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="report format (default: text)")
    p.add_argument("--netns", metavar="NAMES", type=_names, default=(),
                   help="only these namespaces, comma-separated (root, a /run/netns name, "
                   "pid:N)")
    p.set_defaults(func=run)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("no namespace named")
    return names


def run(args: argparse.Namespace) -> int:
    """Run ``nettrail snapshot``: read, analyse, render; return the exit code."""
    from nettrail.analyze import owners as nat_owners
    from nettrail.topology import snapshot

    topo = snapshot(args.netns)
    rules = nat_owners.topology_rules([topo])
    table = nat_owners.owners(rules)
    found = nat_owners.findings(rules)
    if args.output:
        try:
            with open(args.output, "w") as out:
                _render(args.format, topo, table, found, out)
        except OSError as exc:
            raise InputError(f"--output {args.output}: {exc.strerror or exc}") from exc
    else:
        _render(args.format, topo, table, found, sys.stdout)
    return EXIT_FOUND if found else EXIT_OK


def _render(fmt: str, topo: Any, table: Any, found: Any, out: TextIO) -> None:
    if fmt == "json":
        from nettrail.report import snapshot_json

        snapshot_json.render(topo, table, found, out)
    else:
        from nettrail.report import snapshot_text

        snapshot_text.render(topo, table, found, out)
