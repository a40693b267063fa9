"""The compiled scanner of tcpdump text (``_scan.c``, built by ``make scan``), or None.

``COMPILED.scan(block)`` is ``text_fast._LINE.findall(block)``; ``pairs``, ``columns``,
``numbers`` and ``syns`` do what ``FastLine.make_pairs`` and ``text_block`` do next (the
header of ``_scan.c`` says which part of each). Without it (not built, or another Python) the
reader uses the pattern and its Python loops and parsers, to the same rows and values.
"""

from __future__ import annotations

from types import ModuleType

COMPILED: ModuleType | None
try:
    from nettrail.capture import _scan as COMPILED
except ImportError:
    COMPILED = None
