"""JSON files of a run directory (manifest, snapshots) read back, their faults in plain words.

``read_json(path, what)`` returns the document or raises ``InputError`` naming the file:
``RUN/manifest.json: not a run manifest (truncated JSON: it ends at line 40)``;
``parse_json(text, where, what)`` does the same for text received rather than read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nettrail.errors import InputError


def read_json(path: Path, what: str) -> Any:
    """The JSON document in ``path``; InputError ``PATH: not WHAT (why)`` when it is none."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not {what} (not UTF-8 text: byte "
                         f"0x{raw[exc.start]:02x} at offset {exc.start})") from exc
    return parse_json(text, str(path), what)


def parse_json(text: str, where: str, what: str) -> Any:
    """The JSON document in ``text`` (a file's, or a remote host's answer, named by
    ``where``); InputError ``WHERE: not WHAT (why)`` when it is none."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not {what} ({_json_fault(exc)})") from exc
    except RecursionError as exc:
        raise InputError(f"{where}: not {what} (JSON nested too deep)") from exc


def _json_fault(exc: json.JSONDecodeError) -> str:
    if not exc.doc.strip():
        return "an empty file"
    if exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated string"):
        return f"truncated JSON: it ends at line {exc.doc.rstrip().count(chr(10)) + 1}"
    return f"not JSON: {exc.msg.removesuffix(' at')} at line {exc.lineno} column {exc.colno}"

