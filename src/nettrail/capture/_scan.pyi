from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

def scan(block: bytes, /) -> list[tuple[bytes, ...]]: ...
def numbers(texts: Sequence[bytes], out: npt.NDArray[np.int64], /) -> bool: ...
def pairs(items: list[tuple[bytes, int]], start: int, pairs: list[Any],
          known: dict[bytes, str | None],
          v4: dict[str, int] | None, v4_list: list[str], conn_ids: dict[Any, int],
          conv_keys: list[Any], tcp_cache: dict[bytes, int], udp_cache: dict[bytes, int],
          rows: list[int], limit: int, udp: int, /) -> int: ...
def columns(rows: Sequence[tuple[bytes, ...]], seconds: dict[bytes, int],
            tcp_ends: dict[bytes, int], udp_ends: dict[bytes, int], flags: dict[bytes, int],
            out: npt.NDArray[np.int64], /) -> bool: ...
def syns(texts: Sequence[bytes], out: npt.NDArray[np.int64], /) -> bool: ...
