"""The compiled scanner of tcpdump text (``_scan.c``, built by ``make scan``), or None.

``COMPILED.scan(block)`` is ``text_fast._LINE.findall(block)``; ``COMPILED.numbers(texts,
out)`` reads fields of digits as ``text_block.numbers_of`` does. Without it (not built, or
another Python) the reader uses the pattern and numpy's parser, to the same rows and numbers.
"""

from __future__ import annotations

from types import ModuleType

COMPILED: ModuleType | None
try:
    from nettrail.capture import _scan as COMPILED
except ImportError:
    COMPILED = None
