"""Cross-point analysis of captures recorded in real namespace topologies (golden outputs).

The pcaps and the text were recorded by ``tests/golden/crosspoint_topo.py`` (see
``tests/fixtures/crosspoint/README``). Set ``NETTRAIL_UPDATE_GOLDEN=1`` to rewrite the
expected outputs after an intended change, and review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from nettrail.analyze.clock import describe_offset
from nettrail.analyze.crosspoint import CrossPointResult, cross_point
from nettrail.analyze.nat import describe_translation
from nettrail.capture import open_capture
from nettrail.model.finding import Evidence
from nettrail.model.packet import PacketRecord

FIXTURES = Path(__file__).parent.parent / "fixtures" / "crosspoint"
ROOT_CAUSES = {
    "incident": ["asymmetric-nat", "reset-not-from-server"],
    "transit": ["asymmetric-nat", "reset-not-from-server"],
    "healthy": [],
    "lost": ["lost-between-points"],
    "refused": ["reset-from-server"],
    "mtu": ["mtu-blackhole"],
}


def load(directory: Path, scenario: str) -> dict[str, list[PacketRecord]]:
    """A recorded scenario's records per point, interfaces named from its manifest."""
    manifest = json.loads((directory / f"{scenario}.json").read_text())
    points = {}
    for point, name in manifest["points"].items():
        ifnames = {int(k): v for k, v in manifest["ifnames"][point].items()}
        points[point] = list(open_capture(str(directory / name), point, ifnames))
    return points


def load_text(scenario: str) -> dict[str, list[PacketRecord]]:
    """The two hosts' tcpdump text of a scenario."""
    return {host: list(open_capture(str(FIXTURES / f"{scenario}-{host}.txt"), host))
            for host in ("host1", "host5")}


def _ev(e: Evidence, t0: int) -> str:
    where = f"{Path(e.file).name}:{e.frame}"
    on = f" {e.ifname}" if e.ifname else ""
    return f"    {e.point}{on} +{(e.time_ns - t0) / 1e3:.1f}us {where} {e.text} -- {e.note}"


def render(result: CrossPointResult, points: Mapping[str, Sequence[PacketRecord]]) -> str:
    """A stable text form of everything cross-point analysis decided."""
    t0 = min(r.ts_ns for r in next(iter(points.values())))
    lines = [f"clock: {describe_offset(c)} ({c.samples} samples)"
             for c in result.clock if c.point != c.reference]
    lines += [f"nat: {describe_translation(t)}" for t in result.nat]
    for f in result.findings:
        lines.append(f"{f.kind} [{f.severity}]{' root-cause' if f.root_cause else ''}: "
                     f"{f.summary}")
        lines += [_ev(e, t0) for e in f.evidence]
    d = result.diagnosis
    if d is not None:
        lines += [f"DIAGNOSIS: {d.headline}", f"  {d.explanation}", f"  ACTION: {d.action}"]
        lines += [_ev(e, t0) for e in d.chain]
    lines.append(f"paths: {len(result.paths)}, multi-point: "
                 f"{sum(1 for p in result.paths if len({h.point for h in p.hops}) > 1)}")
    return "\n".join(lines) + "\n"


def check_golden(name: str, text: str) -> None:
    path = FIXTURES / f"{name}.expected"
    if os.environ.get("NETTRAIL_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def root_causes(result: CrossPointResult) -> list[str]:
    return [f.kind for f in result.findings if f.root_cause]


@pytest.mark.parametrize("scenario", sorted(ROOT_CAUSES))
def test_recorded_scenario(scenario: str) -> None:
    points = load(FIXTURES, scenario)
    result = cross_point(points)
    assert root_causes(result) == ROOT_CAUSES[scenario]
    assert (result.diagnosis is None) == (not ROOT_CAUSES[scenario])
    check_golden(scenario, render(result, points))


@pytest.mark.parametrize("scenario", ["incident", "healthy"])
def test_text_only_two_hosts_skewed_clock(scenario: str) -> None:
    points = load_text(scenario)
    result = cross_point(points)
    assert root_causes(result) == ROOT_CAUSES[scenario]
    host5 = next(c for c in result.clock if c.point == "host5")
    # host5's text was shifted 25 ms back; one-way evidence (incident) is within 1 ms
    assert abs(host5.offset_ns + 25e6) <= max(host5.uncertainty_ns, 0.1e6)
    copies = [f for f in result.findings if f.kind == "multi-interface-copy"]
    # host1 forwards (and NATs) every packet; host5 only in the incident (its second L3)
    expected = {"host1", "host5"} if scenario == "incident" else {"host1"}
    assert {f.details["point"] for f in copies} == expected
    check_golden(f"{scenario}-text", render(result, points))


def test_text_incident_timeline_is_corrected() -> None:
    result = cross_point(load_text("incident"))
    assert result.diagnosis is not None
    chain = result.diagnosis.chain
    assert [e.time_ns for e in chain] == sorted(e.time_ns for e in chain)
    syn_at_host5 = next(e for e in chain if e.point == "host5")
    first = chain[0]
    assert 0 < syn_at_host5.time_ns - first.time_ns < 1_000_000


def test_cli_json_of_the_text_incident(capsys: pytest.CaptureFixture[str]) -> None:
    from nettrail.cli.main import main

    files = [f"{h}={FIXTURES / f'incident-{h}.txt'}" for h in ("host1", "host5")]
    assert main(["analyze", "--format", "json", *files]) == 0
    out = json.loads(capsys.readouterr().out)
    clock = {c["point"]: c for c in out["clock"]}
    assert abs(clock["host5"]["offset_ms"] + 25.0) <= clock["host5"]["uncertainty_ms"]
    nat = {(t["kind"], t["leg"], t["at"]) for t in out["nat"]}
    assert nat == {("dnat", "request", "host1"), ("snat", "reply", "host5")}
    kinds = [f["kind"] for f in out["findings"]]
    assert kinds[:2] == ["asymmetric-nat", "reset-not-from-server"]
    assert out["diagnosis"]["headline"].startswith("203.0.113.10 has two NAT owners")


AS_CAPTURED = {
    # the network node's `-i any` sees the compute node's already translated SYN-ACK twice
    # (two interfaces, never the router namespace), then the client's ACK and its own RST
    "incident-asis": (["asymmetric-nat", "reset-not-from-server"], "host5"),
    # the twin: the reply crosses host1 untranslated, then translated (host1's router NATs it)
    "healthy-asis": ([], "host1"),
}


@pytest.mark.parametrize("scenario", sorted(AS_CAPTURED))
def test_text_reply_crossing_the_network_node(scenario: str) -> None:
    points = load_text(scenario)
    result = cross_point(points)
    roots, reply_at = AS_CAPTURED[scenario]
    assert root_causes(result) == roots
    host5 = next(c for c in result.clock if c.point == "host5")
    assert abs(host5.offset_ns + 25e6) <= max(host5.uncertainty_ns, 0.1e6)
    nat = {(t.kind, t.leg, t.at) for t in result.nat}
    assert nat == {("dnat", "request", "host1"), ("snat", "reply", reply_at)}
    if roots:
        asym = result.findings[0]
        assert asym.details["request_at"] == "host1"
        assert asym.details["reply_at"] == "at host5"
        assert asym.details["reply_carried_by"] == "host1"
        assert result.findings[1].details["origin"] == "host1"
        assert result.diagnosis is not None
        chain = result.diagnosis.chain
        assert [e.time_ns for e in chain] == sorted(e.time_ns for e in chain)
        assert any("already translated" in e.note and e.point == "host1" for e in chain)
    else:
        assert result.diagnosis is None
    check_golden(f"{scenario}-text", render(result, points))


def test_recorded_reply_crossing_the_netnode_bridge() -> None:
    """tcpdump -i any at the netnode shows the compute's translated SYN-ACK on two bridge
    ports, never on its router side: the netnode carried the reply, it did not translate it."""
    result = cross_point(load(FIXTURES, "transit"))
    asym = result.findings[0]
    assert asym.details["request_at"] == "netnode"
    assert asym.details["reply_at"] == "at compute"
    assert asym.details["reply_carried_by"] == "netnode"
    at_netnode = {e.ifname for e in asym.evidence if e.point == "netnode"
                  and "already translated" in e.note}
    assert at_netnode == {"ntDkep"}
