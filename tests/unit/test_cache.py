"""The memo tables of ``model.cache``."""

from __future__ import annotations

from nettrail.model.cache import CACHE_LIMIT, Memo, remember


def test_memo_makes_each_value_once() -> None:
    made: list[int] = []

    def make(key: int) -> str:
        made.append(key)
        return f"v{key}"

    memo: Memo[int, str] = Memo(make)
    assert [memo[k] for k in (1, 2, 1, 2, 3)] == ["v1", "v2", "v1", "v2", "v3"]
    assert made == [1, 2, 3]
    assert memo.get(4) is None and 4 not in memo  # only indexing works a value out
    assert dict(memo) == {1: "v1", 2: "v2", 3: "v3"}


def test_remember_empties_a_full_cache() -> None:
    cache = {k: k for k in range(CACHE_LIMIT)}
    assert remember(cache, -1, 7) == 7
    assert cache == {-1: 7}
