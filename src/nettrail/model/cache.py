"""Bounded memo tables: the one policy every text and address cache follows."""

from __future__ import annotations

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
