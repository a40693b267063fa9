"""The diagnosis survives what real captures go through, or says it cannot conclude.

Over the lab's recorded runs of every scenario (tests/fixtures/labruns/), every variant in
``variants.py`` (subsets of points, a host's view, text renderings by the real tcpdump, a
mangled timestamp, clock offsets, ``-i any`` doubles, unrelated traffic, captures cut short,
captures that lost packets and say so, captures of one direction, one point printed with -t
or -q among the others, the same traffic over IPv6) must yield the run's root cause, a
partial truth of it, or "inconclusive" naming what is missing; never another confident root
cause. A healthy run must stay healthy (or say it cannot tell).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from variants import Variant, build, enumerate_variants, point_names

from nettrail.run import analyze_files

INCONCLUSIVE = "inconclusive"
# The run's root cause, and the root causes that are part of the same truth seen through less
# evidence (the RST of the incident is not the server's; stuck full-size segments are lost; a
# point alone sees a SYN refused from the server's address).
TRUTH: dict[str, tuple[str | None, frozenset[str]]] = {
    "dual-l3": ("asymmetric-nat", frozenset({"reset-not-from-server"})),
    "netnode-client": ("asymmetric-nat", frozenset({"reset-not-from-server"})),
    "port-closed": ("reset-from-server", frozenset({"refused"})),
    "mtu-blackhole": ("mtu-blackhole", frozenset({"lost-between-points"})),
    "asym-firewall": ("lost-between-points", frozenset()),
    "healthy": (None, frozenset()),
    "netnode-client-healthy": (None, frozenset()),
}


# Variants that show a known analysis bug, kept visible until it is fixed.
KNOWN: dict[str, str] = {}


def _param(v: Variant) -> object:
    why = v.xfail or KNOWN.get(v.id, "")
    if why:
        return pytest.param(v, id=v.id, marks=pytest.mark.xfail(strict=True, reason=why))
    return pytest.param(v, id=v.id)


@pytest.fixture(scope="module", autouse=True)
def _tcpdump() -> None:
    from conftest import require_tool

    require_tool("tcpdump")


@pytest.mark.parametrize("variant", [_param(v) for v in enumerate_variants()])
def test_variant_keeps_the_root_cause_or_says_inconclusive(variant: Variant,
                                                            tmp_path: Path) -> None:
    files = build(variant, tmp_path)
    analysis = analyze_files(files).analysis
    assert analysis.connections, f"{variant.id}: no connection read"
    top = analysis.diagnosis.kinds[0] if analysis.diagnosis is not None else None
    expected, partial = TRUTH[variant.scenario]
    allowed = {expected, INCONCLUSIVE} | partial
    if variant.thinned:
        allowed.add(None)
    detail = analysis.diagnosis.headline if analysis.diagnosis else "no diagnosis"
    assert top in allowed, f"{variant.id}: {top}: {detail}"
    kinds = analysis.diagnosis.kinds if analysis.diagnosis is not None else ()
    assert set(kinds) <= allowed, f"{variant.id}: {kinds}: {detail}"  # nothing false beside it


def test_an_ipv6_floating_ip_is_named_as_an_address(tmp_path: Path) -> None:
    """The incident over IPv6: the floating IP is named bare, as the address it is (not
    ``[2001:db8::cb00:71df]``, an endpoint's form without its port)."""
    variant = next(v for v in enumerate_variants() if v.id == "dual-l3:ipv6:pcap")
    diagnosis = analyze_files(build(variant, tmp_path)).analysis.diagnosis
    assert diagnosis is not None
    assert diagnosis.headline.startswith("floating IP 2001:db8::cb00:71df is served by two L3")


@pytest.mark.parametrize("form", ["n", "S", "v", "e", "hash", "A", "X"])
def test_the_black_hole_s_size_is_the_same_in_text(form: str, tmp_path: Path) -> None:
    """The size of the stuck packets is the IP length, options and all, whether it is read
    from the pcap or from tcpdump's print of it (which gives the payload's length, and the
    IP length only with -v)."""
    def size(v: Variant) -> str:
        found = analyze_files(build(v, tmp_path / v.id.replace(":", "_"))).analysis.findings
        return next(f.details["size"] for f in found if f.kind == "mtu-blackhole")

    pcap = next(v for v in enumerate_variants()
                if v.scenario == "mtu-blackhole" and v.family == "subset"
                and v.param.count("+") == len(point_names("mtu-blackhole")) - 1)
    text = next(v for v in enumerate_variants()
                if v.scenario == "mtu-blackhole" and v.family == "text" and v.param == form)
    (tmp_path / pcap.id.replace(":", "_")).mkdir()
    (tmp_path / text.id.replace(":", "_")).mkdir()
    assert size(text) == size(pcap) == "1500"
