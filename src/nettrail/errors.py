"""The one exception tree of nettrail.

::

    NettrailError                    anything nettrail reports to a user
     +-- InputError                  input we cannot use (a file, a line, an argument)
     |    +-- CaptureError           a capture file is unreadable at a place (file, offset/line)
     |    +-- FilterError            a filter expression outside the supported subset
     |    +-- ScenarioError          a lab scenario file is invalid
     +-- CapabilityError             the machine lacks something (root, BTF, a tracepoint, a tool)
     +-- LabError                    building or tearing down a lab failed
     +-- TraceError                  loading, attaching or polling the eBPF tracer failed

Low-level errors (``OSError``, ``struct.error``, ``subprocess.CalledProcessError``) are
translated once, at the edge that meets them, with ``raise ... from exc``. Only ``cli/``
turns these into messages and exit codes.
"""

from __future__ import annotations


class NettrailError(Exception):
    """Anything nettrail reports to a user as one line."""


class InputError(NettrailError):
    """Input we cannot use: a file, a line of text, or a command-line argument."""


class CaptureError(InputError):
    """A capture file is unreadable at a known place.

    ``path`` is the file, ``offset`` the byte offset (binary formats) and ``line`` the line
    number (text formats) where reading stopped; ``records`` counts good records before it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        offset: int | None = None,
        line: int | None = None,
        records: int = 0,
    ) -> None:
        self.path = path
        self.offset = offset
        self.line = line
        self.records = records
        self.reason = message
        where = path
        if offset is not None:
            where += f" at byte {offset}"
        if line is not None:
            where += f" line {line}"
        super().__init__(f"{where}: {message}")


class FilterError(InputError):
    """A filter expression that nettrail cannot apply."""


class ScenarioError(InputError):
    """A lab scenario file that is invalid."""


class CapabilityError(NettrailError):
    """The machine lacks something we need: root, BTF, a tracepoint, a tool."""


class LabError(NettrailError):
    """Building, running or tearing down a lab failed."""


class TraceError(NettrailError):
    """Loading, attaching or polling the eBPF tracer failed."""
