"""Namespace names from /run/netns and /proc, kernel symbols from kallsyms (on temp trees)."""

from __future__ import annotations

import os
from pathlib import Path

from nettrail.trace.kallsyms import Kallsyms
from nettrail.trace.netns_names import ROOT_NAME, scan


def _file(path: Path, text: str = "") -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return os.stat(path).st_ino


def test_scan_names_namespaces(tmp_path: Path) -> None:
    run, proc = tmp_path / "run", tmp_path / "proc"
    root = _file(proc / "1" / "ns" / "net")
    named = _file(run / "qrouter-1")
    other = _file(proc / "42" / "ns" / "net")
    _file(proc / "42" / "comm", "sshd\n")
    _file(proc / "self" / "ns" / "net")  # not a pid: ignored
    names = scan(run, proc)
    assert names[root] == ROOT_NAME
    assert names[named] == "qrouter-1"
    assert names[other] == "pid:42(sshd)"
    assert len(names) == 3


def test_kallsyms_symbolizes(tmp_path: Path) -> None:
    syms = tmp_path / "kallsyms"
    syms.write_text("ffffffff81000000 T _stext\nffffffff81000100 t dev_hard_start_xmit\n"
                    "ffffffff81000200 D some_data\nffffffff81000300 T tcp_v4_send_reset\n")
    k = Kallsyms(syms)
    assert k.symbol(0xFFFFFFFF8100011B) == "dev_hard_start_xmit+0x1b"
    assert k.symbol(0xFFFFFFFF81000250) == "dev_hard_start_xmit+0x150"  # data symbols skipped
    assert k.symbol(0x10) == "0x10"
