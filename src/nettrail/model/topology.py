"""A host's network topology at one moment: namespaces, links, routes and every NAT rule."""

from __future__ import annotations

from dataclasses import dataclass, field

TOPOLOGY_VERSION = 1


@dataclass(frozen=True, slots=True)
class Link:
    """A network device inside one namespace, with what ties it to others.

    ``peer_index``/``peer_netnsid`` are the kernel's view of a veth's other end (netnsid as
    numbered inside this namespace); ``peer`` is that end resolved to ``namespace/device``.
    ``vni``/``remote``/``local`` describe a VXLAN or Geneve tunnel; ``master`` the bridge
    (or VRF/bond) the device is a port of.
    """

    index: int
    name: str
    kind: str
    mac: str = ""
    mtu: int = 0
    up: bool = False
    master: str | None = None
    peer_index: int | None = None
    peer_netnsid: int | None = None
    peer: str | None = None
    vni: int | None = None
    remote: str | None = None
    local: str | None = None


@dataclass(frozen=True, slots=True)
class Address:
    """An IP address with its prefix length on a device (``198.51.100.1/24`` on ``qr-…``)."""

    device: str
    address: str


@dataclass(frozen=True, slots=True)
class Route:
    """A route: destination prefix, gateway, output device, routing table."""

    dst: str
    gateway: str | None
    device: str | None
    table: int
    kind: str = "unicast"


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """A policy routing rule: priority, selectors and the table it looks up."""

    priority: int
    table: int
    src: str | None = None
    dst: str | None = None
    iif: str | None = None
    oif: str | None = None
    fwmark: int | None = None


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A neighbour (ARP) entry: IP address, MAC address, device, state."""

    address: str
    mac: str
    device: str
    state: str


@dataclass(frozen=True, slots=True)
class NatRule:
    """One place that rewrites addresses: a rule, a flow, a tc action or a conntrack entry.

    ``source`` is the mechanism (``iptables-nft``, ``iptables-legacy``, ``ip6tables-nft``,
    ``ip6tables-legacy``, ``nftables``, ``tc``, ``openflow``, ``conntrack``); ``where`` the
    table/chain, device or bridge inside the namespace; ``kind`` ``dnat`` (destination
    rewritten) or ``snat`` (source rewritten);
    ``before`` the addresses or prefixes it matches on the rewritten side, ``after`` the
    addresses it writes (empty when it takes them from elsewhere: masquerade, ``ct(nat)``);
    ``stateful`` whether conntrack undoes it on the replies; ``text`` the rule as quoted;
    ``hooks`` the netfilter hooks its chain is reached from (lower case: ``prerouting``,
    ``input``, ``forward``, ``output``, ``postrouting``, nft's ``ingress``/``egress``),
    through jumps from the built-in or base chains; empty when not known (no such chain
    found, or not netfilter).
    """

    namespace: str
    source: str
    where: str
    kind: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    stateful: bool
    text: str
    hooks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OvsBridge:
    """An Open vSwitch bridge: the namespace its ovs-vswitchd runs in, ports, flow count."""

    name: str
    namespace: str
    ports: tuple[str, ...]
    flows: int
    socket: str


@dataclass(frozen=True, slots=True)
class Namespace:
    """One network namespace: how it is known (name, holders), devices, routing, NAT.

    ``inode`` identifies it in the kernel; ``name`` is its /run/netns name, ``root`` for the
    host's own namespace, or ``pid:N(comm)`` for one only a process holds. ``rules`` counts
    the filtering/NAT rules seen per source (``iptables-nft``: 12).
    """

    name: str
    inode: int
    links: tuple[Link, ...] = ()
    addresses: tuple[Address, ...] = ()
    routes: tuple[Route, ...] = ()
    policy: tuple[PolicyRule, ...] = ()
    neighbours: tuple[Neighbour, ...] = ()
    nat: tuple[NatRule, ...] = ()
    rules: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Topology:
    """A snapshot of one host: its namespaces, OVS bridges, and what could not be read."""

    host: str
    kernel: str
    taken_at: float
    namespaces: tuple[Namespace, ...]
    bridges: tuple[OvsBridge, ...] = ()
    notes: tuple[str, ...] = ()
    version: int = TOPOLOGY_VERSION


@dataclass(frozen=True, slots=True)
class NatOwner:
    """One place that translates an address: ``to`` it (it is written) or ``from`` it (it is
    matched and rewritten), by ``rule``. ``place`` is a namespace (its netfilter, tc and
    conntrack) or ``namespace bridge NAME`` (an OVS bridge's flows)."""

    address: str
    place: str
    direction: str
    rule: NatRule
