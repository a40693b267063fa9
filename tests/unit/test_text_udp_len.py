"""A datagram's payload length read from its text as bytes (``udp_text_len``) is what the
general reader (``udp_len`` of the decoded text) gives, for its quick forms and every other."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nettrail.capture.text_block import quick_udp_lens
from nettrail.capture.text_parse import udp_len, udp_text_len

CASES = [
    ("UDP, length 29", 29),
    ("UDP, length 0", 0),
    ("UDP, length 0154", 154),
    ("UDP, length 65527", 65527),
    ("UDP, length 65528", 0),  # over a datagram's most
    ("UDP, length " + "1" * 20, 0),
    ("UDP, length " + "0" * 19 + "7", 7),
    ("UDP, length " + "0" * 20 + "7", 0),  # 21 digits: not read
    ("UDP, length 12 (5)", 12),
    ("UDP, length ", 0),
    ("4242+ A? example.com. (29)", 29),
    ("4242 1/0/0 A 203.0.113.5 (45)", 45),
    ("4242+ A? example.com. (70000)", 0),
    ("4242+ A? example.com. ()", 0),
    ("4242+ A? example.com. (2x9)", 0),
    ("4242+ A? example.com. 29)", 0),  # no opening parenthesis
    ("29)", 0),
    ("4242+ A? (1) example.com. (29)", 29),
    ("4242+ A? example.com. ((29)", 29),
    ("4242+ A? example.com. (29) ", 29),
    ("4242 length 7 (29)", 7),  # a length said in the text first
    ("4242 length: 7 (29)", 7),
    ("4242 lengthy (29)", 29),
    ("udp 12", 12),
    ("udp (12)", 12),
    ("12 credentials length 4294967295 (30)", 0),
    ("4242+ A? ex\u00e4mple.com. (29)", 29),
    ("4242+ A? example.com. (\u0662\u0669)", 29),  # other digits: the general reader's int
    ("12", 0),
    ("9 (" + "9" * 21 + ")", 0),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_quick_forms_read_as_the_general_reader(text: str, expected: int) -> None:
    assert udp_len(text, None, 20) == expected
    assert udp_text_len(text.encode(), 20) == expected


@given(st.text(alphabet="0123456789 ()UDP,lengthudp:A?.\u0669\u00e4", max_size=30))
def test_any_text_reads_as_the_general_reader(text: str) -> None:
    assert udp_text_len(text.encode(), 40) == udp_len(text, None, 40)


def _general(texts: list[str]) -> list[int]:
    return [udp_len(t, None, 20) for t in texts]


def test_common_forms_read_at_once() -> None:
    texts = ["UDP, length 29", "4242+ A? example.com. (29)", "4242 1/0/0 A 203.0.113.5 (45)",
             "UDP, length 0154", "UDP, length 65528", "9 (70000)", "4242+ A? (1) ex. (" +
             "0" * 17 + "7)", "UDP, length 29", "9 (3)"]
    got = quick_udp_lens([t.encode() for t in texts])
    assert got is not None
    values, plain = got
    assert values.tolist() == _general(texts) == [29, 29, 45, 154, 0, 0, 7, 29, 3]
    assert plain == [0, 3, 4, 7]


@pytest.mark.parametrize("odd", [
    "4242 length 7 (29)",  # a length said first
    "UDP, length 12 (5)",
    "udp (12)",
    "4242+ A? example.com. (29) ",  # a space after the number
    "4242+ A? example.com. 29)",
    "4242+ A? ex\u00e4mple.com. (29)",
    "9 (" + "0" * 18 + "7)",  # 19 digits: int64 might not hold such a number
    "UDP, length " + "0" * 18 + "7",
    "no number",
    "",
])
def test_other_forms_are_left_to_the_general_reader(odd: str) -> None:
    texts = ["UDP, length 29", odd, "4242+ A? example.com. (29)"]
    assert quick_udp_lens([t.encode() for t in texts]) is None


@given(st.lists(st.sampled_from([
    "UDP, length 29", "UDP, length 0", "UDP, length 65528", "UDP, length 007",
    "4242+ A? example.com. (29)", "4242 (65528)", "4242 (1) (2)", "4242 ((3)", "4242 (4)",
    "4242 length 7 (29)", "udp (12)", "4242 (29) ", "29)", "4242+ A? ex\u00e4mple.com. (29)",
]), max_size=8))
def test_texts_at_once_read_as_the_general_reader(texts: list[str]) -> None:
    got = quick_udp_lens([t.encode() for t in texts])
    if got is not None:
        values, plain = got
        assert values.tolist() == _general(texts)
        assert plain == [i for i, t in enumerate(texts) if t.startswith("UDP, length ")]
