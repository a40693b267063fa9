"""The Python mirror of trace.h (layout.py) against the BTF of the built BPF object."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from conftest import require_tool
from nettrail.trace import layout as L
from nettrail.trace.session import OBJECT_PATH


def _btf() -> dict[int, dict[str, Any]]:
    require_tool("bpftool")
    if not OBJECT_PATH.exists():
        pytest.skip(f"needs the BPF object {OBJECT_PATH} (make bpf)")
    out = subprocess.run(["bpftool", "-j", "btf", "dump", "file", str(OBJECT_PATH)],
                         capture_output=True, text=True, check=True).stdout
    return {t["id"]: t for t in json.loads(out)["types"]}


def _size(types: dict[int, dict[str, Any]], tid: int) -> int:
    t = types[tid]
    kind = t["kind"]
    if kind in ("TYPEDEF", "CONST", "VOLATILE"):
        return _size(types, t["type_id"])
    if kind == "ARRAY":
        return int(t["nr_elems"]) * _size(types, t["type_id"])
    return int(t["size"])


def _flatten(types: dict[int, dict[str, Any]], tid: int, prefix: str = "",
             base: int = 0) -> dict[str, tuple[int, int]]:
    """Field path -> (byte offset, size), nested structs and arrays of structs expanded."""
    out: dict[str, tuple[int, int]] = {}
    for m in types[tid]["members"]:
        name, off = prefix + m["name"], base + m["bits_offset"] // 8
        mt = types[m["type_id"]]
        while mt["kind"] in ("TYPEDEF", "CONST", "VOLATILE"):
            mt = types[mt["type_id"]]
        if mt["kind"] == "STRUCT":
            out.update(_flatten(types, mt["id"], name + ".", off))
        elif mt["kind"] == "ARRAY" and types[mt["type_id"]]["kind"] == "STRUCT":
            elem = mt["type_id"]
            for i in range(mt["nr_elems"]):
                out.update(_flatten(types, elem, f"{name}[{i}].", off + i * types[elem]["size"]))
        else:
            out[name] = (off, _size(types, m["type_id"]))
    return out


def _struct(types: dict[int, dict[str, Any]], name: str) -> dict[str, Any]:
    for t in types.values():
        if t["kind"] == "STRUCT" and t.get("name") == name:
            return t
    raise AssertionError(f"struct {name} not in the object's BTF")


def test_event_mirror_matches_btf() -> None:
    types = _btf()
    ev = _struct(types, "nt_event")
    assert ev["size"] == L.EVENT_SIZE
    assert _flatten(types, ev["id"]) == L.offsets(L.EVENT)


def test_config_mirror_matches_btf() -> None:
    types = _btf()
    cfg = _struct(types, "nt_config")
    assert cfg["size"] == L.CONFIG_SIZE
    assert _flatten(types, cfg["id"]) == L.offsets(L.config_fields())


def test_constants_match_header() -> None:
    header = (OBJECT_PATH.parent / "trace.h").read_text()
    defines = {}
    for line in header.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "#define" and parts[1].startswith("NT_"):
            defines[parts[1][3:]] = int(parts[2], 0)
    checked = 0
    for name, value in defines.items():
        if hasattr(L, name):
            assert getattr(L, name) == value, name
            checked += 1
    assert checked >= 30


def test_stack_event_mirror_matches_btf() -> None:
    """The record of a trace with stacks: the event, then its stack's return addresses."""
    types = _btf()
    se = _struct(types, "nt_stack_event")
    assert se["size"] == L.EVENT_SIZE + L.STACK_BYTES
    assert _flatten(types, se["id"]) == L.offsets(L.STACK_EVENT)
