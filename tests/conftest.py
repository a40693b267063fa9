"""Shared test helpers: capability checks that name what is missing."""

from __future__ import annotations

import os
import shutil

import pytest

pytest_plugins = ("nettrail.lab.pytest_plugin",)


def require_root() -> None:
    """Skip unless running as root (namespaces, BPF)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (CAP_NET_ADMIN/CAP_BPF)")


def require_tool(name: str) -> str:
    """Skip unless ``name`` is on PATH; return its path."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"needs the {name} tool")
    return path
