"""``model.setters.field_setters``: an object made field by field is the one ``__init__``
makes, and stays frozen."""

from __future__ import annotations

import dataclasses

import pytest

from nettrail.model.analysis import Hop, NatTranslation
from nettrail.model.finding import Evidence
from nettrail.model.flow import Endpoint, FlowKey
from nettrail.model.setters import field_setters

CASES = [
    NatTranslation("dnat", "request", Endpoint("203.0.113.5", 80),
                   Endpoint("198.51.100.5", 80), "edge", "core", None, 7,
                   FlowKey(6, Endpoint("198.18.0.1", 4000), Endpoint("203.0.113.5", 80)), ()),
    Evidence("edge", "edge.pcap", 3, 1_700_000_000_000_000_000, "text", "eth0", "note"),
]


@pytest.mark.parametrize("obj", CASES, ids=lambda o: type(o).__name__)
def test_made_field_by_field(obj: object) -> None:
    cls = type(obj)
    made = object.__new__(cls)
    values = [getattr(obj, f.name) for f in dataclasses.fields(obj)]  # type: ignore[arg-type]
    setters = field_setters(cls)
    assert len(setters) == len(values)
    for set_field, value in zip(setters, values, strict=True):
        set_field(made, value)
    assert made == obj and hash(repr(made)) == hash(repr(obj))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, dataclasses.fields(obj)[0].name, "x")  # type: ignore[arg-type]


def test_setters_follow_field_order() -> None:
    names = [f.name for f in dataclasses.fields(Hop)]
    assert [s.__self__.__name__ for s in field_setters(Hop)] == names  # type: ignore[attr-defined]
