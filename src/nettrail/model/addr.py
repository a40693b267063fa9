"""Text forms of packed IP addresses (cached): what readers and analysis both write."""

from __future__ import annotations

import functools
import ipaddress

from nettrail.model.cache import CACHE_LIMIT, remember

_addr4: dict[bytes, str] = {}


def addr4(raw: bytes) -> str:
    """Dotted-quad text of a 4-byte IPv4 address (cached)."""
    text = _addr4.get(raw)
    if text is None:
        text = remember(_addr4, raw, "%d.%d.%d.%d" % tuple(raw))  # noqa: UP031 - fastest here
    return text


@functools.lru_cache(maxsize=CACHE_LIMIT)
def addr6(raw: bytes) -> str:
    """RFC 5952 text of a 16-byte IPv6 address (cached)."""
    return ipaddress.IPv6Address(raw).compressed
