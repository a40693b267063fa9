"""``crosspoint.key_columns``: the columns whose rows are equal exactly where the points'
packed keys (protocol and two numbers) are."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from nettrail.analyze.columns import groups
from nettrail.analyze.crosspoint import key_columns

Ints = npt.NDArray[np.int64]


def _partition(numbers: list[int]) -> list[int]:
    """Each row's first row with the same number (the grouping, whatever the numbering)."""
    first: dict[int, int] = {}
    return [first.setdefault(n, i) for i, n in enumerate(numbers)]


@pytest.mark.parametrize("seed", range(20))
def test_key_columns_group_as_the_whole_keys(seed: int) -> None:
    """One protocol at every point (left out), or several (kept: a UDP key whose two numbers
    are a TCP key's is another key), points with no key, equal keys at several points."""
    rng = np.random.default_rng(seed)
    protos = [6] if seed % 2 else [6, 17, 1]
    keys: list[tuple[Ints, Ints, Ints]] = []
    for _ in range(int(rng.integers(1, 5))):
        n = int(rng.integers(0, 30)) if seed % 5 else int(rng.integers(1, 30))
        keys.append((rng.choice(protos, n).astype(np.int64),
                     rng.integers(0, 4, n, dtype=np.int64),
                     rng.integers(0, 3, n, dtype=np.int64)))
    got = key_columns(keys)
    whole = [np.concatenate([k[j] for k in keys]) for j in range(3)]
    assert all(len(c) == len(whole[0]) for c in got)
    if len(whole[0]):
        assert _partition(groups(*got).tolist()) == _partition(groups(*whole).tolist())
    one = len(set(whole[0].tolist())) == 1 and all(len(k[0]) for k in keys)
    assert len(got) == (2 if one else 3)


def test_key_columns_keep_the_protocol_when_the_numbers_agree() -> None:
    """A TCP and a UDP key of the same two numbers stay apart."""
    keys = [(np.array([6], np.int64), np.array([5], np.int64), np.array([9], np.int64)),
            (np.array([17], np.int64), np.array([5], np.int64), np.array([9], np.int64))]
    got = key_columns(keys)
    assert len(got) == 3
    assert groups(*got).tolist() == [0, 1]
