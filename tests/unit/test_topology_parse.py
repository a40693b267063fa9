"""Rule parsers of the snapshot: iptables-save and ip6tables-save text, nft JSON, OpenFlow
flows, tc actions, conntrack."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from nettrail.analyze import owners
from nettrail.errors import InputError
from nettrail.topology import conntrack, iptables, nft, openflow, ovs, tc

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


def test_iptables_rules_carry_the_hooks_that_reach_their_chain() -> None:
    """iptables-nft-save of neutron's layout (chains of its own, jumped to from the
    built-in ones, two deep for the floating IP's SNAT): each rule knows which built-in
    chains reach it; a chain nothing jumps to has none."""
    text = (FIXTURES / "iptables-nft-neutron-save.txt").read_text()
    rules, count, _ = iptables.parse(text, "qrouter", "iptables-nft")
    assert count == 10
    got = [(r.where, r.kind, r.hooks) for r in rules]
    assert got == [("nat/neutron-l3-agent-OUTPUT", "dnat", ("output",)),
                   ("nat/neutron-l3-agent-PREROUTING", "dnat", ("prerouting",)),
                   ("nat/neutron-l3-agent-float-snat", "snat", ("postrouting",)),
                   ("nat/neutron-l3-agent-unused", "dnat", ())]
    legacy, _, _ = iptables.parse((FIXTURES / "iptables-legacy-save.txt").read_text(), "x",
                                  "iptables-legacy")
    assert [r.hooks for r in legacy] == [("prerouting",)] * 2 + [("postrouting",)] * 2


def test_nft_rules_carry_the_hooks_of_their_base_chains() -> None:
    """nft -j of chains jumped to (jump, goto) from base chains, and one nothing reaches."""
    text = (FIXTURES / "nft-chains.json").read_text()
    rules, _, _ = nft.parse(text, "gw")
    got = [(r.where, r.kind, r.hooks) for r in rules]
    assert got == [("ip gw/floating", "dnat", ("prerouting",)),
                   ("ip gw/local-dnat", "dnat", ("output",)),
                   ("ip gw/post", "snat", ("postrouting",)),
                   ("ip gw/orphan", "dnat", ())]
    recorded, _, _ = nft.parse((FIXTURES / "nft-ruleset.json").read_text(), "compute")
    assert {r.where: r.hooks for r in recorded} == {"netdev sdn-l3/vm-egress": ("ingress",),
                                                   "ip edge/pre": ("prerouting",),
                                                   "ip edge/post": ("postrouting",)}


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


def test_ip6tables_save_nat_rules() -> None:
    text = (FIXTURES / "ip6tables-nft-save.txt").read_text()
    rules, count, tables = iptables.parse(text, "ns6", "ip6tables-nft")
    assert (count, tables) == (9, {"nat", "mangle"})
    got = [(r.where, r.kind, r.before, r.after, r.stateful) for r in rules]
    assert got == [
        ("mangle/PREROUTING", "dnat", ("2001:db8:8::/64",), ("2001:db8:7::/64",), False),
        ("mangle/POSTROUTING", "snat", ("2001:db8:7::/64",), ("2001:db8:8::/64",), False),
        ("nat/PREROUTING", "dnat", ("2001:db8:1::80/128",), ("2001:db8:2::80",), True),
        ("nat/PREROUTING", "dnat", ("2001:db8:1::81/128",),
         ("2001:db8:2::81", "2001:db8:2::82"), True),
        ("nat/PREROUTING", "dnat", ("2001:db8:1::82/128",),
         ("2001:db8:2::81", "2001:db8:2::82"), True),
        ("nat/PREROUTING", "dnat", ("2001:db8:5::/64",), ("2001:db8:6::/64",), True),
        ("nat/PREROUTING", "dnat", ("2001:db8:1::83/128",), (), True),
        ("nat/POSTROUTING", "snat", ("2001:db8:2::/64",), (), True),
        ("nat/POSTROUTING", "snat", ("2001:db8:2::80/128",), ("2001:db8:1::80",), True),
    ]
    assert rules[2].text.endswith("-j DNAT --to-destination [2001:db8:2::80]:8080")
    [legacy] = iptables.parse((FIXTURES / "ip6tables-legacy-save.txt").read_text(), "ns6",
                              "ip6tables-legacy")[0]
    assert (legacy.kind, legacy.before, legacy.after) == (
        "snat", ("2001:db8:2::80/128",), ("2001:db8:1::80",))


def test_ip6tables_owners_are_single_addresses_only() -> None:
    rules = iptables.parse((FIXTURES / "ip6tables-nft-save.txt").read_text(), "a",
                           "ip6tables-nft")[0]
    table = owners.owners(rules)
    # the /64 prefixes (NETMAP, NPT, MASQUERADE's match) own no address; /128 and literals do
    assert list(table) == ["2001:db8:1::80", "2001:db8:1::81", "2001:db8:1::82",
                           "2001:db8:1::83", "2001:db8:2::80", "2001:db8:2::81",
                           "2001:db8:2::82"]
    legacy = iptables.parse((FIXTURES / "ip6tables-legacy-save.txt").read_text(), "b",
                            "ip6tables-legacy")[0]
    [finding] = owners.findings(rules + legacy)
    assert finding.details["addresses"] == "2001:db8:1::80 2001:db8:2::80"
    assert finding.details["places"] == "a\nb"


def test_nft_ipv6_nat_and_rewrites() -> None:
    text = (FIXTURES / "nft-ruleset-v6.json").read_text()
    rules, count, tables = nft.parse(text, "ns6")
    assert count == 5 and tables == {("ip6", "edge"), ("inet", "both")}
    got = [(r.where, r.kind, r.before, r.after, r.stateful, r.text) for r in rules]
    assert got == [
        ("ip6 edge/pre", "dnat", ("2001:db8:1::80",), ("2001:db8:2::80",), True,
         "ip6 daddr 2001:db8:1::80 tcp dport 80 dnat to [2001:db8:2::80]:8080"),
        ("ip6 edge/raw", "snat", ("2001:db8:2::80",), ("2001:db8:1::80",), False,
         "ip6 saddr 2001:db8:2::80 ip6 saddr set 2001:db8:1::80"),
        ("inet both/pre", "dnat", ("2001:db8:1::84",), ("2001:db8:2::84",), True,
         "ip6 daddr 2001:db8:1::84 dnat ip6 to 2001:db8:2::84"),
        ("inet both/pre", "dnat", ("203.0.113.9",), ("198.51.100.9",), True,
         "ip daddr 203.0.113.9 tcp dport 80 dnat ip to 198.51.100.9:80"),
        ("inet both/post", "snat", ("2001:db8:2::84",), ("2001:db8:1::84",), True,
         "ip6 saddr 2001:db8:2::84 snat ip6 to 2001:db8:1::84"),
    ]


def test_tc_nat_and_pedit_actions() -> None:
    # iproute2's JSON: the nat action under "type", old_addr with its prefix length
    text = (FIXTURES / "tc-filter-nat-pedit.json").read_text()
    rules = tc.parse(text, "edge", "v0", "egress")
    assert {r.where for r in rules} == {"v0 egress"} and not any(r.stateful for r in rules)
    assert {r.text: (r.kind, r.before, r.after) for r in rules} == {
        "action nat egress 198.51.100.4/32 203.0.113.223":
            ("snat", ("198.51.100.4/32",), ("203.0.113.223",)),
        "action nat egress 198.51.100.0/24 203.0.113.0":
            ("snat", ("198.51.100.0/24",), ("203.0.113.0/24",)),
        "action pedit ex munge ip dst set 198.51.100.5": ("dnat", (), ("198.51.100.5",)),
        "action pedit ex munge ip6 dst set 2001:db8:2::80": ("dnat", (), ("2001:db8:2::80",)),
    }
    assert len(rules) == 4  # the pedit key keeping bits (retain) sets no address
    # a real `tc -j filter show` of a u32 filter with a mirred action: nothing rewritten
    assert tc.parse((FIXTURES / "tc-filter-mirred.json").read_text(), "edge", "v0",
                    "egress") == []
    assert tc.parse("not json", "edge", "v0", "egress") == []


def test_tc_action_and_nft_rule_are_two_owners() -> None:
    text = (FIXTURES / "tc-filter-nat-pedit.json").read_text()
    rules = tc.parse(text, "compute", "tap0", "egress")
    rules += nft.parse((FIXTURES / "nft-ruleset.json").read_text(), "router")[0]
    found = [f for f in owners.findings(rules) if "203.0.113.223" in f.details["addresses"]]
    [finding] = found
    assert finding.details["places"].splitlines() == ["compute", "router"]
    assert "compute\ttc tap0 egress\taction nat egress 198.51.100.4/32 203.0.113.223" in (
        finding.details["rules"])


def test_conntrack_ipv6_tuple_decoded() -> None:
    def attr(kind: int, body: bytes) -> bytes:
        raw = struct.pack("=HH", 4 + len(body), kind) + body
        return raw + b"\0" * (-len(raw) % 4)

    src, dst = socket.inet_pton(socket.AF_INET6, "2001:db8:2::80"), socket.inet_pton(
        socket.AF_INET6, "2001:db8:1::80")
    ip = attr(1 | 0x8000, attr(3, src) + attr(4, dst))
    proto = attr(2 | 0x8000, attr(1, b"\x11") + attr(2, struct.pack(">H", 4000))
                 + attr(3, struct.pack(">H", 53)))
    assert conntrack._tuple(ip + proto) == ("2001:db8:2::80", "2001:db8:1::80", 17, 4000, 53)
    orig = ("2001:db8:3::9", "2001:db8:1::80", 58, 0, 0)
    reply = ("2001:db8:2::80", "2001:db8:3::9", 58, 0, 0)
    [rule] = conntrack.nat_entries([(orig, reply)], "edge")
    assert (rule.kind, rule.before, rule.after) == ("dnat", ("2001:db8:1::80",),
                                                     ("2001:db8:2::80",))
    assert rule.text.startswith("icmpv6 src=2001:db8:3::9 dst=2001:db8:1::80")
