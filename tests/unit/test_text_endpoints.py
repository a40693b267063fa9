"""``split_endpoint`` keeps what it gave for a token (hosts repeat), by IP version, and keeps
no token it refuses."""

from __future__ import annotations

import pytest

from nettrail.capture import text_fields
from nettrail.capture.text_fields import TextError, split_endpoint


def test_a_token_read_again_gives_the_same() -> None:
    for token, version, want in (("198.51.100.1.22", 4, ("198.51.100.1", 22)),
                                 ("198.51.100.1", 4, ("198.51.100.1", None)),
                                 ("2001:DB8::1.443", 6, ("2001:db8::1", 443)),
                                 ("client.1284", 4, ("client", 1284))):
        assert split_endpoint(token, version) == want
        assert split_endpoint(token, version) == want
        assert text_fields._ENDPOINTS[version != 4][token] == want


def test_the_version_keeps_its_own() -> None:
    """The same token read on an IPv4 line and on an IPv6 one: each as its version reads it."""
    assert split_endpoint("10.0.0.1.80", 4) == ("10.0.0.1", 80)
    assert split_endpoint("10.0.0.1.80", 6) == (":10.0.0.1", 80)
    assert split_endpoint("10.0.0.1.80", 4) == ("10.0.0.1", 80)


def test_a_refused_token_is_refused_again() -> None:
    for _ in range(2):
        with pytest.raises(TextError):
            split_endpoint("10.0.0.1.70000", 4)
    assert "10.0.0.1.70000" not in text_fields._ENDPOINTS[0]
