"""`nettrail analyze RUN` on a collect run directory whose JSON files are damaged.

A damaged snapshot or clock record is named in one warning and the captures are analysed
without it (exit 0); a damaged manifest, which says where the captures are, is one error line
naming it (exit 2). Nothing else: no traceback, whatever the damage.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nettrail.cli.main import main

RUN = Path(__file__).parents[1] / "fixtures" / "collectruns" / "dual-l3"
ROUTER = "qrouter-5f1c2d3e-8b7a-4c1e-9d2f-0a6b3c4d5e6f"
DOCUMENTS = sorted(p.relative_to(RUN).as_posix() for p in RUN.rglob("*.json"))


def _copy(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(RUN, run)
    return run


def _json(run: Path, name: str) -> Any:
    return json.loads((run / name).read_text(encoding="utf-8"))


def _analyze(run: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    code = main(["analyze", str(run)])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def _lines(path: Path) -> int:
    """The line a cut file ends at."""
    return path.read_bytes().rstrip().count(b"\n") + 1


def _router_rule(doc: Any) -> Any:
    return next(ns for ns in doc["namespaces"] if ns["nat"])["nat"][0]


SNAPSHOT_DAMAGE = {
    "truncated": (lambda raw: raw[: len(raw) // 2], "truncated JSON: it ends at line {lines}"),
    "binary": (lambda raw: b"\x89PNG\r\n\x1a\n" + raw, "not UTF-8 text: byte 0x89 at offset 0"),
    "empty": (lambda raw: b"", "an empty file"),
    "not json": (lambda raw: b"namespaces: []\n", "not JSON: Expecting value at line 1 column 1"),
}


@pytest.mark.parametrize("damage", sorted(SNAPSHOT_DAMAGE))
def test_damaged_snapshot_is_named_and_the_captures_still_analysed(
    tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(tmp_path)
    path = run / "snapshots" / f"{ROUTER}.json"
    change, why = SNAPSHOT_DAMAGE[damage]
    path.write_bytes(change(path.read_bytes()))
    why = why.format(lines=_lines(path))
    code, out, err = _analyze(run, capsys)
    assert code == 0
    assert "nettrail analyze: 4 capture points, 6 connections" in out
    assert "openflow br-int table=0" in out  # compute's snapshot still quoted
    assert "(iptables-nft nat/PREROUTING)" not in out  # the router's is not
    assert err == [f"nettrail: warning: {path}: not a nettrail snapshot ({why})"]


@pytest.mark.parametrize(("field", "value", "why"), [
    ("before", [["198.51.100.4/32"]], "before is not a list of strings"),
    ("after", "198.51.100.4", "after is not a list of strings"),
    ("stateful", "yes", "stateful is not true or false"),
    ("text", None, "text is not a string"),
    ("kind", 7, "kind is not a string"),
])
def test_snapshot_rule_of_the_wrong_shape_is_named_not_a_traceback(
    tmp_path: Path, field: str, value: Any, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(tmp_path)
    name = f"snapshots/{ROUTER}.json"
    doc = _json(run, name)
    _router_rule(doc)[field] = value
    (run / name).write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = _analyze(run, capsys)
    assert code == 0 and "4 capture points" in out
    assert len(err) == 1 and err[0].startswith(f"nettrail: warning: {run / name}: not a nettrail "
                                               "snapshot (namespaces[")
    assert err[0].endswith(f".{why})")


def test_snapshot_without_its_nat_list_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(tmp_path)
    doc = _json(run, "snapshots/compute.json")
    del doc["namespaces"][0]["nat"]
    (run / "snapshots" / "compute.json").write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = _analyze(run, capsys)
    assert code == 0 and "4 capture points" in out
    assert err == [f"nettrail: warning: {run}/snapshots/compute.json: not a nettrail snapshot "
                   "(namespaces[0] has no 'nat' list)"]


@pytest.mark.parametrize(("key", "value", "why"), [
    ("offset_ns", "-25011200", "hosts[2].clock.before.offset_ns is not a number"),
    ("probes", 1.5, "hosts[2].clock.before.probes is not a whole number"),
    (None, None, "hosts[2].clock.before.uncertainty_ns is not a number"),
])
def test_damaged_clock_record_is_a_warning_and_the_packets_clocks_stand(
    tmp_path: Path, key: str | None, value: Any, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(tmp_path)
    manifest = _json(run, "manifest.json")
    before = manifest["hosts"][2]["clock"]["before"]
    if key is None:
        del before["uncertainty_ns"]
    else:
        before[key] = value
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    code, out, err = _analyze(run, capsys)
    assert code == 0 and "4 capture points" in out
    assert "probes" not in out  # no clock check from the probes
    assert err == [f"nettrail: warning: {run}/manifest.json: unreadable clock measurements: "
                   f"{why}; the clocks are estimated from the packets alone"]


@pytest.mark.parametrize(("change", "why"), [
    (lambda raw: raw[:-40], "truncated JSON: it ends at line {lines}"),
    (lambda raw: b"\xff\xfe" + raw, "not UTF-8 text: byte 0xff at offset 0"),
    (lambda raw: b"[]", "not a JSON object"),
])
def test_damaged_manifest_is_one_error_line_naming_it(
    tmp_path: Path, change: Any, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(tmp_path)
    path = run / "manifest.json"
    path.write_bytes(change(path.read_bytes()))
    code, out, err = _analyze(run, capsys)
    assert (code, out) == (2, "")
    why = why.format(lines=_lines(path))
    assert err == [f"nettrail: error: {path}: not a run manifest ({why})"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=6)


def _nodes(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every value inside ``doc``."""
    found: list[tuple[Any, Any]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) \
        if isinstance(doc, list) else ()
    for key, value in items:
        found.append((doc, key))
        found.extend(_nodes(value))
    return found


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(DOCUMENTS), picks=st.lists(st.integers(0, 10**6), min_size=1,
                                                       max_size=3),
       values=st.lists(JSON_VALUES, min_size=3, max_size=3), drop=st.booleans())
def test_any_value_changed_in_the_run_json_gives_a_report_or_one_line(
    tmp_path: Path, name: str, picks: list[int], values: list[Any], drop: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = _copy(tmp_path)
    doc = _json(run, name)
    for pick, value in zip(picks, values, strict=False):
        nodes = _nodes(doc)
        if not nodes:
            break
        container, key = nodes[pick % len(nodes)]
        if drop:
            del container[key]
        else:
            container[key] = value
    (run / name).write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = _analyze(run, capsys)
    assert code in (0, 2)
    assert all(line.startswith(("nettrail: warning: ", "nettrail: error: ")) for line in err)
    if code == 0:  # a point dropped from the manifest is simply not read
        assert out.startswith("nettrail analyze: ") and " capture point" in out


def test_run_whose_manifest_lists_no_points_is_an_error_not_silence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(tmp_path)
    manifest = _json(run, "manifest.json")
    manifest["points"] = []  # every host failed
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    code, out, err = _analyze(run, capsys)
    assert (code, out) == (2, "")
    assert err == [f"nettrail: error: {run}: no captures: its manifest.json lists no points"]
