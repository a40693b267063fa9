"""Scenario files (TOML) read into frozen records, validated with errors naming file and key.

A scenario describes hosts (each one network namespace), bridges and VXLAN devices inside
hosts, veth links between hosts, addresses, routes, sysctls, iptables/nftables rules,
services, the traffic to drive and the capture points. ``extends = "other"`` starts from
``other.toml`` in the same directory (else the shipped scenario of that name) and merges this
file's tables over it, key by key.
The format is documented in docs/lab.md.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from nettrail.errors import ScenarioError
from nettrail.lab import ovs, safety
from nettrail.lab.parts import HostPart

SCENARIO_DIR = Path(__file__).parent / "scenarios"
"""Where the scenarios shipped with nettrail live."""

OUTCOMES = ("success", "reset", "refused", "timeout", "stalled", "error")
"""Client outcomes a traffic run can end with (see docs/lab.md)."""

TRAFFIC_KINDS = ("ssh", "tcp-fetch")
SERVICE_KINDS = ("sshd", "tcp-server")
_MAX_EXTENDS = 4
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_T = TypeVar("_T")
_P = TypeVar("_P", bound=HostPart)


@dataclass(frozen=True, slots=True)
class End:
    """One end of a veth link: the host it lives in, its device name and settings."""

    host: str
    dev: str
    mac: str | None = None
    mtu: int | None = None
    master: str | None = None
    addrs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Link:
    """A veth pair between two hosts (or inside one, as a patch pair)."""

    name: str
    a: End
    b: End


@dataclass(frozen=True, slots=True)
class Bridge(HostPart):
    """A Linux bridge inside a host (standing in for an OVS bridge or a switch)."""

    addrs: tuple[str, ...] = ()
    mtu: int | None = None


@dataclass(frozen=True, slots=True)
class Vxlan(HostPart):
    """A VXLAN device inside a host, tunnelling to ``remote`` over ``dev``."""

    vni: int
    local: str
    remote: str
    dev: str
    port: int = 4789
    master: str | None = None
    mtu: int | None = None


@dataclass(frozen=True, slots=True)
class Service(HostPart):
    """A server process started inside a host: ``sshd`` or nettrail's ``tcp-server``."""

    kind: str
    port: int
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class Host:
    """One host of the lab: a network namespace, its routes, sysctls and firewall rules."""

    name: str
    netns: str
    sysctls: tuple[tuple[str, str], ...] = ()
    routes: tuple[str, ...] = ()
    iptables: tuple[str, ...] = ()
    nft: str = ""
    clock_offset_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Traffic:
    """The client traffic a run drives, and the client outcome the scenario expects."""

    host: str
    kind: str
    target: str
    port: int
    expect: str
    timeout: float = 5.0
    bytes: int = 0
    settle: float = 1.0


@dataclass(frozen=True, slots=True)
class Scenario:
    """A lab scenario, validated: everything the builder and the runner need."""

    name: str
    summary: str
    path: str
    hosts: tuple[Host, ...]
    bridges: tuple[Bridge, ...]
    links: tuple[Link, ...]
    vxlans: tuple[Vxlan, ...]
    services: tuple[Service, ...]
    traffic: Traffic
    captures: tuple[str, ...]
    offloads: bool = True
    switches: tuple[ovs.OvsBridge, ...] = ()

    def host(self, name: str) -> Host:
        """The host called ``name``."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every namespace this scenario creates, in host order."""
        return tuple(h.netns for h in self.hosts)


class _Table:
    """A TOML table being validated: typed getters whose errors name the file and key."""

    def __init__(self, data: Mapping[str, Any], file: str, where: str) -> None:
        self.data = data
        self.file = file
        self.where = where
        self.used: set[str] = set()

    def fail(self, key: str | None, message: str) -> ScenarioError:
        """A ScenarioError naming the file and the dotted key."""
        dotted = f"{self.where}.{key}" if self.where and key else (key or self.where or "top")
        return ScenarioError(f"{self.file}: {dotted}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        """The value of ``key`` checked to be of ``kind``; ``default`` when absent."""
        self.used.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise self.fail(key, "missing")
            return default
        value = self.data[key]
        if isinstance(value, bool) and kind is not bool and bool not in _as_tuple(kind):
            raise self.fail(key, f"expected {_kind_name(kind)}, got a boolean")
        if not isinstance(value, kind):
            raise self.fail(key, f"expected {_kind_name(kind)}, got {type(value).__name__}")
        return value

    def text(self, key: str, default: Any = None) -> Any:
        """A string value."""
        return self.get(key, str, default)

    def number(self, key: str, default: Any = None) -> Any:
        """An integer value."""
        return self.get(key, int, default)

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of strings (empty when absent)."""
        value = self.get(key, list, [])
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{key}[{i}]", "expected a string")
        return tuple(value)

    def table(self, key: str) -> _Table:
        """A sub-table (empty when absent)."""
        value = self.get(key, dict, {})
        return _Table(value, self.file, f"{self.where}.{key}" if self.where else key)

    def tables(self, key: str) -> list[tuple[str, _Table]]:
        """The named sub-tables of table ``key``, in file order."""
        outer = self.table(key)
        result = []
        for name in outer.data:
            result.append((name, outer.table(name)))
        return result

    def done(self) -> None:
        """Fail on keys nobody asked for (typos must not pass silently)."""
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(self.used), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.fail(unknown[0], f"unknown key{hint}")


_REQUIRED = object()


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", list: "a list",
             dict: "a table", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


def scenario_path(name_or_path: str) -> Path:
    """The file of a shipped scenario name (``dual-l3``) or of a path to a .toml file."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return Path(name_or_path)
    return SCENARIO_DIR / f"{name_or_path}.toml"


def available() -> list[str]:
    """Names of the scenarios shipped with nettrail, sorted."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def load(name_or_path: str) -> Scenario:
    """Read and validate a scenario by shipped name or path; ScenarioError names file and key."""
    path = scenario_path(name_or_path)
    raw = _read_merged(path, 0)
    return parse(raw, str(path))


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        known = ", ".join(available())
        if path.parent == SCENARIO_DIR:
            raise ScenarioError(f"no scenario named {path.stem!r} (known: {known})") from exc
        raise ScenarioError(f"{path}: no such file (shipped scenarios: {known})") from exc
    except IsADirectoryError as exc:
        raise ScenarioError(f"{path}: a directory, not a scenario file") from exc
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: invalid TOML: {exc}") from exc


def _read_merged(path: Path, depth: int) -> dict[str, Any]:
    raw = _read(path)
    base_name = raw.pop("extends", None)
    if base_name is None:
        return raw
    if not isinstance(base_name, str):
        raise ScenarioError(f"{path}: extends: expected a scenario name")
    if depth >= _MAX_EXTENDS:
        raise ScenarioError(f"{path}: extends: chain deeper than {_MAX_EXTENDS}")
    if "name" not in raw:
        raise ScenarioError(f"{path}: name: missing")
    base_path = path.parent / f"{base_name}.toml"
    if not base_path.is_file() and "/" not in base_name:
        base_path = SCENARIO_DIR / f"{base_name}.toml"  # a shipped scenario copied elsewhere
    try:
        base = _read_merged(base_path, depth + 1)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: extends {base_name!r}: {exc}") from exc
    return merge(base, raw)


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into ``base``: tables merge key by key, anything else is replaced."""
    result = dict(base)
    for key, value in over.items():
        old = result.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            result[key] = merge(old, value)
        else:
            result[key] = value
    return result


def parse(raw: Mapping[str, Any], file: str) -> Scenario:
    """Validate a scenario's TOML data (already merged); ``file`` names it in errors."""
    top = _Table(raw, file, "")
    name = _checked_name(top, "name")
    summary = top.text("summary", "")
    offloads = top.get("offloads", bool, True)
    hosts = tuple(_host(name, host, t) for host, t in top.tables("hosts"))
    if not hosts:
        raise top.fail("hosts", "a scenario needs at least one host")
    links = tuple(_link(link, t) for link, t in top.tables("links"))
    traffic = _traffic(top.table("traffic"))
    captures = top.texts("captures")
    top.done()
    bridges = tuple(_per_host(top, hosts, "bridges", _bridge))
    vxlans = tuple(_per_host(top, hosts, "vxlan", _vxlan))
    services = tuple(_per_host(top, hosts, "services", _service, device=False))
    switches = tuple(_per_host(top, hosts, "ovs", _ovs_bridge))
    scenario = Scenario(name, summary, file, hosts, bridges, links, vxlans, services, traffic,
                        captures, offloads, switches)
    _check_references(scenario, file)
    return scenario


def _checked(table: _Table, key: str | None, value: str,
             problem: Callable[[str], str | None]) -> str:
    """``value``, or the error line at ``key`` when ``problem`` (a safety check) finds fault."""
    why = problem(value)
    if why:
        raise table.fail(key, why)
    return value


def _checked_name(table: _Table, key: str) -> str:
    return _checked(table, key, table.text(key, _REQUIRED), safety.name_problem)


def _checked_addr(table: _Table, key: str, value: str) -> str:
    return _checked(table, key, value, safety.address_problem)


def _needed_addr(table: _Table, key: str) -> str:
    return _checked_addr(table, key, table.text(key, _REQUIRED))


def _checked_text(table: _Table, key: str, value: str) -> str:
    return _checked(table, key, value, safety.text_problem)


def _checked_dev(table: _Table, key: str) -> str:
    return _checked(table, key, table.text(key, _REQUIRED), safety.ifname_problem)


def _mtu(table: _Table) -> int | None:
    mtu: int | None = table.number("mtu")
    if mtu is not None and not 576 <= mtu <= 9000:
        raise table.fail("mtu", f"{mtu} is not between 576 and 9000")
    return mtu


def _addrs(table: _Table) -> tuple[str, ...]:
    return tuple(_checked_addr(table, "addrs", a) for a in table.texts("addrs"))


def _host(scenario: str, name: str, t: _Table) -> Host:
    _checked(t, None, name, safety.name_problem)
    sysctls = []
    for key, value in t.get("sysctls", dict, {}).items():
        if not isinstance(value, int | str) or isinstance(value, bool):
            raise t.fail(f"sysctls.{key}", "expected an integer or a string")
        sysctls.append((key, str(value)))
    routes = tuple(_checked_text(t, "routes", r) for r in t.texts("routes"))
    iptables = tuple(_checked_text(t, "iptables", r) for r in t.texts("iptables"))
    nft = _checked_text(t, "nft", t.text("nft", ""))
    offset = float(t.get("clock_offset_ms", (int, float), 0.0))
    if not -60_000 <= offset <= 60_000:
        raise t.fail("clock_offset_ms", f"{offset} is not between -60000 and 60000 ms")
    t.used.update(("bridges", "vxlan", "services", "ovs"))
    t.done()
    return Host(name, safety.netns_name(scenario, name), tuple(sysctls), routes, iptables, nft,
                offset)


def _mac(t: _Table) -> str | None:
    mac: str | None = t.text("mac")
    if mac is not None and not _MAC.match(mac):
        raise t.fail("mac", f"{mac!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
    return mac


def _end(t: _Table) -> End:
    end = End(
        host=t.text("host", _REQUIRED),
        dev=_checked_dev(t, "dev"),
        mac=_mac(t),
        mtu=_mtu(t),
        master=t.text("master"),
        addrs=_addrs(t),
    )
    t.done()
    return end


def _link(name: str, t: _Table) -> Link:
    mtu = _mtu(t)
    a, b = _end(t.table("a")), _end(t.table("b"))
    t.done()
    if mtu is not None:
        a = End(a.host, a.dev, a.mac, a.mtu or mtu, a.master, a.addrs)
        b = End(b.host, b.dev, b.mac, b.mtu or mtu, b.master, b.addrs)
    return Link(name, a, b)


def _per_host(top: _Table, hosts: tuple[Host, ...], kind: str,
              build: Callable[[str, str, _Table], _P], device: bool = True) -> list[_P]:
    """``build(host, name, table)`` of every ``[hosts.HOST.<kind>.NAME]`` table, host by host;
    ``device``: NAME is a network device's, checked as one."""
    result = []
    for host in hosts:
        outer = top.table("hosts").table(host.name)
        result += _named(outer, kind, partial(build, host.name), device)
    return result


def _named(outer: _Table, kind: str, build: Callable[[str, _Table], _T],
           device: bool = True) -> list[_T]:
    """``build(name, table)`` of every named sub-table of ``outer``'s table ``kind``, each
    checked for unknown keys after; ``device``: NAME is a network device's, checked as one."""
    result = []
    for name, t in outer.tables(kind):
        if device:
            _checked(t, None, name, safety.ifname_problem)
        result.append(build(name, t))
        t.done()
    return result


def _bridge(host: str, name: str, t: _Table) -> Bridge:
    return Bridge(host, name, _addrs(t), _mtu(t))


def _ovs_bridge(host: str, name: str, t: _Table) -> ovs.OvsBridge:
    addrs, mtu = _addrs(t), _mtu(t)
    patches = _named(t, "patch", lambda pname, pt: ovs.Patch(pname, _checked_dev(pt, "peer")))
    tunnels = _named(t, "vxlan", _tunnel)
    flows = tuple(_checked(t, f"flows[{i}]", flow, safety.text_problem)
                  for i, flow in enumerate(t.texts("flows")))
    return ovs.OvsBridge(host, name, addrs, mtu, tuple(patches), tuple(tunnels), flows)


def _tunnel(name: str, t: _Table) -> ovs.Tunnel:
    return ovs.Tunnel(name, remote=_needed_addr(t, "remote"), local=_needed_addr(t, "local"),
                      key=t.number("key", _REQUIRED), port=t.number("port", 4789))


def _vxlan(host: str, name: str, t: _Table) -> Vxlan:
    return Vxlan(
        host=host, name=name, vni=t.number("vni", _REQUIRED),
        local=_needed_addr(t, "local"), remote=_needed_addr(t, "remote"),
        dev=_checked_dev(t, "dev"), port=t.number("port", 4789),
        master=t.text("master"), mtu=_mtu(t),
    )


def _service(host: str, name: str, t: _Table) -> Service:
    kind = t.text("kind", _REQUIRED)
    if kind not in SERVICE_KINDS:
        raise t.fail("kind", f"{kind!r} is not one of {', '.join(SERVICE_KINDS)}")
    return Service(host, name, kind, _port(t), t.number("bytes", 0))


def _port(t: _Table) -> int:
    port: int = t.number("port", _REQUIRED)
    if not 1 <= port <= 65535:
        raise t.fail("port", f"{port} is not a TCP port")
    return port


def _seconds(t: _Table, key: str, default: float) -> float:
    value = float(t.get(key, (int, float), default))
    if not 0 <= value <= 60:
        raise t.fail(key, f"{value} is not between 0 and 60 seconds")
    return value


def _traffic(t: _Table) -> Traffic:
    if not t.data:
        raise t.fail(None, "missing: a scenario needs a [traffic] table")
    kind = t.text("kind", _REQUIRED)
    if kind not in TRAFFIC_KINDS:
        raise t.fail("kind", f"{kind!r} is not one of {', '.join(TRAFFIC_KINDS)}")
    expect = t.text("expect", _REQUIRED)
    if expect not in OUTCOMES:
        raise t.fail("expect", f"{expect!r} is not one of {', '.join(OUTCOMES)}")
    traffic = Traffic(
        host=t.text("host", _REQUIRED), kind=kind,
        target=_needed_addr(t, "target"),
        port=_port(t), expect=expect, timeout=_seconds(t, "timeout", 5.0),
        bytes=t.number("bytes", 0), settle=_seconds(t, "settle", 1.0),
    )
    t.done()
    return traffic


def _check_references(s: Scenario, file: str) -> None:
    hosts = {h.name for h in s.hosts}
    devices: dict[str, set[str]] = {h: {"lo"} for h in hosts}
    named: list[tuple[str, str]] = [(b.host, b.name) for b in s.bridges]
    named += [(b.host, b.name) for b in s.switches]
    for host, name in named:
        if name in devices[host]:
            raise ScenarioError(f"{file}: hosts.{host}: bridge {name!r} declared twice "
                                "(Linux bridge and OVS)")
        devices[host].add(name)
    ovs.check(s.switches, file)
    for link in s.links:
        for side, end in (("a", link.a), ("b", link.b)):
            if end.host not in hosts:
                raise ScenarioError(f"{file}: links.{link.name}.{side}.host: "
                                    f"unknown host {end.host!r}")
            if end.dev in devices[end.host]:
                raise ScenarioError(f"{file}: links.{link.name}.{side}.dev: "
                                    f"{end.dev!r} already exists in host {end.host}")
            devices[end.host].add(end.dev)
    for v in s.vxlans:
        if v.dev not in devices[v.host]:
            raise ScenarioError(f"{file}: hosts.{v.host}.vxlan.{v.name}.dev: "
                                f"no device {v.dev!r} in host {v.host}")
        devices[v.host].add(v.name)
    _check_masters(s, file)
    for where, host in [("traffic.host", s.traffic.host)] + [
            (f"captures[{i}]", c) for i, c in enumerate(s.captures)]:
        if host not in hosts:
            raise ScenarioError(f"{file}: {where}: unknown host {host!r}")


def _check_masters(s: Scenario, file: str) -> None:
    bridges = {(b.host, b.name) for b in s.bridges} | {(b.host, b.name) for b in s.switches}
    for link in s.links:
        for side, end in (("a", link.a), ("b", link.b)):
            if end.master and (end.host, end.master) not in bridges:
                raise ScenarioError(f"{file}: links.{link.name}.{side}.master: "
                                    f"no bridge {end.master!r} in host {end.host}")
    for v in s.vxlans:
        if v.master and (v.host, v.master) in {(b.host, b.name) for b in s.switches}:
            raise ScenarioError(f"{file}: hosts.{v.host}.vxlan.{v.name}.master: {v.master!r} "
                                "is an OVS bridge: declare the tunnel as its vxlan port")
        if v.master and (v.host, v.master) not in bridges:
            raise ScenarioError(f"{file}: hosts.{v.host}.vxlan.{v.name}.master: "
                                f"no bridge {v.master!r} in host {v.host}")
