"""The numpy array types that the packet table, the capture readers and the analysis pass
around, named once (for type hints only: each is ``numpy.typing.NDArray`` of one dtype)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[Any]
"""An array of any dtype."""
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
I64 = Ints
I16 = npt.NDArray[np.int16]
U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
U32 = npt.NDArray[np.uint32]
