"""Lab safety rules, checked before anything is built: addresses, names, namespaced commands.

A lab may only use the documentation and benchmarking ranges below, only inside namespaces
whose names start with :data:`PREFIX`; every command the builder runs must target such a
namespace, so nothing is ever configured in the root namespace.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from nettrail.errors import LabError

PREFIX = "ntl-"
"""Every namespace a lab creates starts with this."""

ALLOWED_NETWORKS = (
    ipaddress.IPv4Network("198.51.100.0/24"),
    ipaddress.IPv4Network("203.0.113.0/24"),
    ipaddress.IPv4Network("198.18.0.0/15"),
)
"""The only IPv4 ranges a lab may use (TEST-NET-2, TEST-NET-3, the benchmarking range)."""

MAX_IFNAME = 15
_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_IPV4 = re.compile(r"(?<![\w.:])(\d{1,3}(?:\.\d{1,3}){3})(/\d{1,2})?(?![\w.])")
_NETNS_VERBS = ("add", "del", "delete", "exec", "pids")
_ANY = ipaddress.IPv4Network("0.0.0.0/0")


def address_problem(text: str) -> str | None:
    """Why an IPv4 address, interface address or network is not allowed; None when it is."""
    try:
        net = ipaddress.IPv4Interface(text).network
    except ValueError:
        return f"{text!r} is not an IPv4 address or prefix"
    if net == _ANY:
        return None
    if any(net.subnet_of(allowed) for allowed in ALLOWED_NETWORKS):
        return None
    ranges = ", ".join(str(n) for n in ALLOWED_NETWORKS)
    return f"{text} is outside the lab ranges ({ranges})"


def text_problem(text: str) -> str | None:
    """The first IPv4 literal in free text (a rule, a route) that is not allowed; None if none."""
    for match in _IPV4.finditer(text):
        problem = address_problem(match.group(0))
        if problem is not None:
            return problem
    return None


def ifname_problem(name: str) -> str | None:
    """Why ``name`` cannot be a network device name; None when it can."""
    if len(name) > MAX_IFNAME:
        return f"device name {name!r} is longer than {MAX_IFNAME} characters"
    if not _IFNAME.match(name):
        return f"device name {name!r} has characters outside [A-Za-z0-9_.-]"
    return None


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a scenario or host name (lowercase, digits, dashes)."""
    if not _NAME.match(name):
        return f"{name!r} must be lowercase letters, digits and dashes"
    return None


def netns_name(scenario: str, host: str) -> str:
    """The namespace that stands for ``host`` of ``scenario``: ``ntl-<scenario>-<host>``."""
    return f"{PREFIX}{scenario}-{host}"


def scenario_prefix(scenario: str) -> str:
    """The prefix shared by every namespace of ``scenario``."""
    return f"{PREFIX}{scenario}-"


def check_namespaced(argv: Sequence[str]) -> None:
    """Refuse a command that would not run inside a lab namespace.

    Allowed shapes: ``ip -n NS ...``, ``ip netns add|del|exec|pids NS ...`` with ``NS``
    starting with :data:`PREFIX`.
    """
    args = list(argv)
    ns: str | None = None
    if len(args) >= 3 and args[:2] == ["ip", "-n"]:
        ns = args[2]
    elif len(args) >= 4 and args[:2] == ["ip", "netns"] and args[2] in _NETNS_VERBS:
        ns = args[3]
    if ns is None or not ns.startswith(PREFIX):
        raise LabError(f"refusing a command outside a lab namespace: {' '.join(args)}")
