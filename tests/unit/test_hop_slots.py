"""``tracks._hop`` (a path's hops, built by filling their slots) against ``Hop(...)``."""

from __future__ import annotations

from nettrail.analyze.tracks import _hop
from nettrail.model.analysis import Hop
from nettrail.model.flow import Endpoint


def test_hop_built_by_slots_is_the_dataclass_hop() -> None:
    """``tracks._hop`` fills a Hop's slots directly; it must equal the one ``Hop(...)`` makes,
    every field set."""
    args = ("edge", "eth0", 5, "edge.pcap", 7, "text", Endpoint("192.0.2.1", 1),
            Endpoint("192.0.2.2", 2))
    made, built = Hop(*args), _hop(*args)
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
