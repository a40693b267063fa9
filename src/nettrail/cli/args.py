"""Checked values for the subcommands' options: a bad one is one line saying what is wrong."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def checked(text: str, convert: Callable[[str], T], kind: str, ok: Callable[[T], bool],
            wrong: str) -> T:
    """``convert(text)`` when it converts and ``ok`` holds for it; otherwise an
    ``ArgumentTypeError`` saying ``not KIND: 'TEXT'``, or ``wrong`` with ``{value}`` and
    ``{text}`` filled in."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {kind}: {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(wrong.format(value=value, text=text))
    return value
