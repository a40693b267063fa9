"""Memo tables: the bounded policy every text and address cache follows, and ``Memo`` for the
values one pass works out once per key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")

CACHE_LIMIT = 65536
"""Entries a cache holds before it is emptied (the values it holds repeat, so it refills)."""


def remember(cache: dict[K, V], key: K, value: V) -> V:
    """Store ``value`` under ``key`` (emptying ``cache`` first when it is full) and return it."""
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


class Memo(dict[K, V]):
    """A dict that works out a missing key's value with ``make(key)`` and keeps it: one pass's
    memo (not bounded: it lives as long as the pass). ``memo[key]`` is the value."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[K], V]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: K) -> V:
        value = self[key] = self._make(key)
        return value
