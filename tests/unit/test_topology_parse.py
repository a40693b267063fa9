"""Rule parsers of the snapshot: iptables-save text, nft JSON, OpenFlow flows, conntrack."""

from __future__ import annotations

from pathlib import Path

import pytest

from nettrail.errors import InputError
from nettrail.topology import conntrack, iptables, nft, openflow, ovs

FIXTURES = Path(__file__).parent.parent / "fixtures" / "topology"

def test_iptables_save_nat_rules() -> None:
    text = (FIXTURES / "iptables-legacy-save.txt").read_text()
    rules, count, tables = iptables.parse(text, "ns1", "iptables-legacy")
    assert (count, tables) == (5, {"nat", "filter"})
    dnat, ranged, snat, masq = rules
    assert (dnat.kind, dnat.before, dnat.after, dnat.where) == (
        "dnat", ("203.0.113.223/32",), ("198.51.100.4",), "nat/PREROUTING")
    assert dnat.text.startswith("-A PREROUTING -d 203.0.113.223/32") and dnat.stateful
    assert (snat.kind, snat.before, snat.after) == ("snat", ("198.51.100.4/32",),
                                                    ("203.0.113.223",))
    assert (masq.kind, masq.before, masq.after) == ("snat", ("198.51.100.0/24",), ())
    assert ranged.after == ("198.51.100.8", "198.51.100.9")


def test_nft_json_recorded() -> None:
    text = (FIXTURES / "nft-ruleset.json").read_text()
    rules, count, tables = nft.parse(text, "compute")
    assert count == 6
    assert ("netdev", "sdn-l3") in tables
    by_where: dict[str, list[tuple[str, tuple[str, ...], tuple[str, ...], bool]]] = {}
    for r in rules:
        by_where.setdefault(r.where, []).append((r.kind, r.before, r.after, r.stateful))
    assert by_where["netdev sdn-l3/vm-egress"] == [
        ("snat", ("198.51.100.4",), ("203.0.113.223",), False)]
    assert by_where["ip edge/pre"] == [
        ("dnat", ("203.0.113.50",), ("198.51.100.20",), True),
        ("dnat", ("203.0.113.51", "203.0.113.52"), ("198.51.100.21",), True)]
    assert by_where["ip edge/post"] == [
        ("snat", ("198.51.100.20",), ("203.0.113.50",), True),
        ("snat", ("198.51.100.0/24",), (), True)]
    sdn = next(r for r in rules if r.where.startswith("netdev"))
    assert sdn.text == ('ip saddr 198.51.100.4 ip daddr != 198.51.100.0/24 ip saddr set '
                        '203.0.113.223 ether saddr set fa:16:3e:ee:00:01 ether daddr set '
                        '02:00:cb:00:71:0a fwd to eth1')


def test_nft_skips_iptables_tables_and_bad_json() -> None:
    text = (FIXTURES / "nft-ruleset.json").read_text()
    rules, count, _ = nft.parse(text, "x", skip={("ip", "edge")})
    assert count == 1 and len(rules) == 1
    with pytest.raises(InputError, match="not JSON"):
        nft.parse("{oops", "x")


def test_openflow_rewrites() -> None:
    dump = (FIXTURES / "ovs-dump-flows.txt").read_text()
    rules, count = openflow.parse(dump, "compute", "br-int")
    assert count == 5
    got = [(r.kind, r.before, r.after, r.stateful, r.where) for r in rules]
    assert got == [
        ("snat", ("198.51.100.4",), ("203.0.113.223",), False, "br-int table=0"),
        ("dnat", ("203.0.113.223",), ("198.51.100.4",), True, "br-int table=0"),
        ("dnat", ("203.0.113.9",), ("198.51.100.9",), False, "br-int table=0"),
        ("nat", (), (), True, "br-int table=1"),
    ]
    assert rules[0].text == ("cookie=0x0, table=0, priority=100,ip,nw_src=198.51.100.4 "
                             "actions=mod_nw_src:203.0.113.223,LOCAL")
    assert ovs._ports((FIXTURES / "ovs-show.txt").read_text()) == ("br-int",)


def test_conntrack_entries_with_nat() -> None:
    plain = (("203.0.113.10", "198.51.100.4", 6, 4000, 22),
             ("198.51.100.4", "203.0.113.10", 6, 22, 4000))
    dnat = (("203.0.113.10", "203.0.113.223", 6, 4001, 22),
            ("198.51.100.4", "203.0.113.10", 6, 22, 4001))
    rules = conntrack.nat_entries([plain, dnat], "qrouter")
    assert [(r.kind, r.before, r.after) for r in rules] == [
        ("dnat", ("203.0.113.223",), ("198.51.100.4",))]
    assert "dst=203.0.113.223" in rules[0].text
