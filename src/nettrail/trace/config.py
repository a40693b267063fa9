"""Tracer configuration: CLI flags -> frozen ``TraceConfig`` -> ``.rodata`` bytes before load."""

from __future__ import annotations

from dataclasses import dataclass, field

from nettrail.errors import FilterError
from nettrail.trace import layout as L
from nettrail.trace.filter import Rule, compile_filter

HOOKS = ("xmit", "recv", "drop", "reset", "synack-retransmit")
PROGRAMS = {
    "xmit": "nt_xmit",
    "recv": "nt_recv",
    "drop": "nt_drop",
    "reset": "nt_reset",
    "synack-retransmit": "nt_synack",
}


@dataclass(frozen=True, slots=True)
class TraceConfig:
    """What to trace: the filter expression, device globs, netns inodes and options.

    ``filter`` is a pcap-filter subset expression (empty: everything); ``ifname_globs`` are
    device names or prefixes ending in ``*``; ``netns`` are netns inodes; ``follow`` keeps
    emitting events for a matched skb until it is freed; ``connections`` (with ``follow`` and
    ``conntrack``) also follows, in the kernel, every packet carrying either direction's
    addresses before or after translation once a followed packet's conntrack entry is known;
    ``hooks`` names the tracepoints used.
    """

    filter: str = ""
    ifname_globs: tuple[str, ...] = ()
    netns: tuple[int, ...] = ()
    follow: bool = True
    connections: bool = True
    stack: bool = False
    conntrack: bool = True
    hooks: tuple[str, ...] = HOOKS
    ring_bytes: int = 16 << 20
    wakeup_bytes: int = 256 << 10
    follow_ttl_ms: int = 1000
    rules: tuple[Rule, ...] = field(default=(), init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", compile_filter(self.filter))
        self.validate()

    def validate(self) -> None:
        """Raise ``FilterError`` when a value cannot go into the kernel's tables."""
        if len(self.ifname_globs) > L.MAX_GLOBS:
            raise FilterError(f"at most {L.MAX_GLOBS} device globs, got {len(self.ifname_globs)}")
        for glob in self.ifname_globs:
            glob_rule(glob)
        if len(self.netns) > L.MAX_NETNS:
            raise FilterError(f"at most {L.MAX_NETNS} namespaces, got {len(self.netns)}")
        unknown = set(self.hooks) - set(HOOKS)
        if unknown:
            names = ", ".join(repr(h) for h in sorted(unknown))
            raise FilterError(f"--hooks: unknown hook{'s' if len(unknown) > 1 else ''} {names}; "
                              f"known: {', '.join(HOOKS)}")
        size = self.ring_bytes
        if size < 4096 or size & (size - 1):
            raise FilterError(f"--ring-size: the ring buffer size ({size} bytes) must be a "
                              "power of two of at least 4096 bytes")


def glob_rule(glob: str) -> tuple[bytes, int, bool]:
    """A device glob as (bytes to compare, length, is-prefix); only ``NAME`` or ``PREFIX*``."""
    prefix = glob.endswith("*")
    text = glob[:-1] if prefix else glob
    if not glob or "*" in text or "?" in text or "[" in text:
        raise FilterError(f"device glob {glob!r}: only NAME or PREFIX* is supported")
    raw = text.encode()
    if len(raw) >= L.IFNAMSIZ:
        raise FilterError(f"device glob {glob!r}: longer than a device name")
    return raw, len(raw), prefix


def to_rodata(cfg: TraceConfig) -> bytes:
    """``struct nt_config`` bytes for the ``CFG`` global."""
    flags = L.CFG_CT if cfg.conntrack else 0
    if cfg.rules:
        flags |= L.CFG_FILTER
        if cfg.follow:
            flags |= L.CFG_FOLLOW
            if cfg.conntrack and cfg.connections:
                flags |= L.CFG_CONNS
    if cfg.stack:
        flags |= L.CFG_STACK
    netns = list(cfg.netns) + [0] * (L.MAX_NETNS - len(cfg.netns))
    head = L.CONFIG_HEAD_STRUCT.pack(flags, len(cfg.rules), len(cfg.ifname_globs),
                                     len(cfg.netns), cfg.wakeup_bytes, cfg.follow_ttl_ms,
                                     *netns)
    globs = b""
    for glob in cfg.ifname_globs:
        raw, n, prefix = glob_rule(glob)
        globs += L.GLOB_STRUCT.pack(raw, n, int(prefix), b"")
    globs = globs.ljust(L.MAX_GLOBS * L.GLOB_STRUCT.size, b"\0")
    rules = b"".join(r.pack() for r in cfg.rules).ljust(L.MAX_RULES * L.RULE_STRUCT.size, b"\0")
    data = head + globs + rules
    assert len(data) == L.CONFIG_SIZE
    return data
