"""The public API: a sorted __all__ whose names all exist."""

import nettrail


def test_all_is_sorted_and_resolves() -> None:
    assert list(nettrail.__all__) == sorted(nettrail.__all__)
    for name in nettrail.__all__:
        assert hasattr(nettrail, name), name


def test_errors_form_one_tree() -> None:
    for name in nettrail.__all__:
        obj = getattr(nettrail, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, nettrail.NettrailError)
