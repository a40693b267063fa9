"""A datagram's payload length read from its text as bytes (``udp_text_len``) is what the
general reader (``udp_len`` of the decoded text) gives, for its quick forms and every other."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
