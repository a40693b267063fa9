"""The fast patterns' possessive repeats change no match: each pattern finds what it finds with
every repeat greedy again (made from the pattern itself), on every fixture text, the link forms'
lines and tcpdump lines mangled or made of tcpdump words in any order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_tcpdump_text_property import SETTINGS, mutated_lines, token_text
from test_text_link import FORMS, text

from nettrail.capture.text_fast import _LINE
from nettrail.capture.text_link import _LINKED_E, _LINKED_EV

FIXTURES = Path(__file__).parent.parent / "fixtures"
PATTERNS = {"line": _LINE, "e": _LINKED_E, "ev": _LINKED_EV}


def greedy(pattern: re.Pattern[bytes]) -> re.Pattern[bytes]:
    """``pattern`` with its possessive repeats (``++``, ``*+``, ``?+``, ``}+``) greedy."""
    assert rb"\+" not in pattern.pattern  # no literal + that the rewriting could touch
    return re.compile(re.sub(rb"([+*?}])\+", rb"\1", pattern.pattern))


GREEDY = {name: greedy(p) for name, p in PATTERNS.items()}


def assert_same(data: bytes) -> None:
    data = data if data.endswith(b"\n") else data + b"\n"
    for name, pattern in PATTERNS.items():
        assert pattern.findall(data) == GREEDY[name].findall(data), name


def test_the_patterns_have_possessive_repeats() -> None:
    for name, pattern in PATTERNS.items():
        assert GREEDY[name].pattern != pattern.pattern, name
        assert GREEDY[name].groups == pattern.groups, name


@pytest.mark.parametrize("path", sorted(FIXTURES.rglob("*.txt")), ids=lambda p: p.name)
def test_fixture_texts(path: Path) -> None:
    assert_same(path.read_bytes())


@pytest.mark.parametrize("form", FORMS)
def test_link_forms(form: str) -> None:
    assert_same("\n".join(text(form, seed=3)).encode())


@SETTINGS
@given(data=st.one_of(mutated_lines(), token_text()))
def test_mangled_lines(data: bytes) -> None:
    assert_same(data)
