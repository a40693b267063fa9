"""The connections a multi-point report is about (``--filter-host``, ``--filter-port``),
followed through NAT: every packet of every point is matched first, so a connection is in
focus in all its forms, at points where its addresses are translated too.

Filtering packets before matching would leave a translated connection's other forms out, and
the points that see only those would seem to miss it: absence that is the filter's, not the
network's (a RST "from the server", a reset "injected" where the router's NAT turned it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nettrail.analyze.tracks import Conversation
from nettrail.model.analysis import NatTranslation
from nettrail.model.finding import Finding
from nettrail.model.flow import Connection, Endpoint, FlowKey, Focus


class InFocus:
    """The conversations in focus (``keys``: as their clients saw them) and every endpoint
    they showed at any point (``ends``: NAT's forms included)."""

    def __init__(self, focus: Focus, convs: Iterable[Conversation],
                 nat: Sequence[NatTranslation]) -> None:
        self.focus = focus
        keys = {c.key for c in convs if any(focus.matches(*f) for t in c.tracks
                                            for s in t.sightings for f in s.forms)}
        keys |= {t.connection for t in nat if t.connection is not None and (
            focus.matches(t.connection.a, t.connection.b)
            or focus.matches(t.before, t.after))}
        self.keys = keys
        ends: set[Endpoint] = {e for k in keys for e in (k.a, k.b)}
        ends |= {e for t in nat if t.connection in keys for e in (t.before, t.after)}
        self.ends = frozenset(ends)

    def flow(self, key: FlowKey | None) -> bool:
        """Whether findings about ``key`` (None: about no one connection) are in focus."""
        return key is None or key in self.keys or self.focus.matches(key.a, key.b) or (
            key.a in self.ends and key.b in self.ends)

    def connection(self, c: Connection) -> bool:
        """Whether a point's own connection is one in focus, in the form it had there."""
        return self.flow(c.key)

    def findings(self, findings: Iterable[Finding]) -> list[Finding]:
        """Those of ``findings`` in focus."""
        return [f for f in findings if self.flow(f.connection)]
