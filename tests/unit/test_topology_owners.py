"""NAT owners, veth peers, translations tied to rules, and the snapshot's renderers."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from nettrail.analyze import owners
from nettrail.analyze.attribute import attribute, rules_for
from nettrail.errors import InputError
from nettrail.model.analysis import Analysis, Diagnosis, NatTranslation
from nettrail.model.flow import Endpoint
from nettrail.model.topology import Link, Namespace, NatRule, Topology
from nettrail.report import snapshot_json, snapshot_text
from nettrail.topology import peers, store

QR = "qrouter-5f1c"
DNAT = NatRule(QR, "iptables-nft", "nat/PREROUTING", "dnat", ("203.0.113.223/32",),
               ("198.51.100.4",), True,
               "-A PREROUTING -d 203.0.113.223/32 -j DNAT --to-destination 198.51.100.4")
SNAT = NatRule(QR, "iptables-nft", "nat/POSTROUTING", "snat", ("198.51.100.4/32",),
               ("203.0.113.223",), True,
               "-A POSTROUTING -s 198.51.100.4/32 -j SNAT --to-source 203.0.113.223")
GW = NatRule(QR, "iptables-nft", "nat/POSTROUTING", "snat", ("198.51.100.0/24",),
             ("203.0.113.2",), True, "-A POSTROUTING -s 198.51.100.0/24 -j SNAT ...")
FLOW = NatRule("compute", "openflow", "br-int table=0", "snat", ("198.51.100.4",),
               ("203.0.113.223",), False,
               "priority=100,ip,nw_src=198.51.100.4 actions=mod_nw_src:203.0.113.223,output:2")


def test_one_owner_no_finding() -> None:
    table = owners.owners([DNAT, SNAT, GW])
    assert list(table) == ["198.51.100.4", "203.0.113.2", "203.0.113.223"]
    assert {o.place for o in table["203.0.113.223"]} == {QR}
    assert [o.direction for o in table["203.0.113.223"]] == ["from", "to"]
    assert owners.findings([DNAT, SNAT, GW]) == []


def test_two_owners_one_finding_quoting_both() -> None:
    found = owners.findings([DNAT, SNAT, GW, FLOW])
    assert len(found) == 1
    f = found[0]
    assert (f.kind, str(f.severity)) == ("multiple-nat-owners", "error")
    assert f.details["addresses"] == "198.51.100.4 203.0.113.223"
    assert f.details["places"].splitlines() == [QR, "compute bridge br-int"]
    assert DNAT.text in f.details["rules"] and FLOW.text in f.details["rules"]
    assert GW.text not in f.details["rules"]


def test_same_namespace_two_mechanisms_is_one_place() -> None:
    nft_rule = NatRule(QR, "nftables", "ip nat/pre", "dnat", ("203.0.113.223",),
                       ("198.51.100.4",), True, "ip daddr 203.0.113.223 dnat to 198.51.100.4")
    assert owners.findings([DNAT, nft_rule]) == []


def _veth(index: int, name: str, peer: int, nsid: int | None) -> Link:
    return Link(index, name, "veth", peer_index=peer, peer_netnsid=nsid)


def test_veth_peers_resolved_despite_repeated_indexes() -> None:
    # a/x0 (2 -> 3) could pair with b/y0 or c/z1 (both 3 -> 2); the unambiguous pair
    # a/x9 <-> b/y9 teaches that netnsid 0 in a is b, which settles it.
    a = Namespace("a", 1, (_veth(2, "x0", 3, 0), _veth(9, "x9", 10, 0)))
    b = Namespace("b", 2, (_veth(3, "y0", 2, 0), _veth(10, "y9", 9, 0)))
    c = Namespace("c", 3, (_veth(3, "z1", 2, 4),))
    d = Namespace("d", 4, (_veth(5, "p0", 6, None), _veth(6, "p1", 5, None)))
    got = {f"{ns.name}/{lk.name}": lk.peer for ns in peers.resolve([a, b, c, d])
           for lk in ns.links}
    assert got == {"a/x0": "b/y0", "a/x9": "b/y9", "b/y0": "a/x0", "b/y9": "a/x9",
                   "c/z1": None, "d/p0": "d/p1", "d/p1": "d/p0"}


def test_translations_tied_to_rules() -> None:
    req = NatTranslation("dnat", "request", Endpoint("203.0.113.223", 22),
                         Endpoint("198.51.100.4", 22), QR, QR, QR, 2)
    reply = NatTranslation("snat", "reply", Endpoint("198.51.100.4", 22),
                           Endpoint("203.0.113.223", 22), "compute", "compute", "compute", 2)
    rules = {QR: [DNAT, SNAT, GW], "compute": [FLOW]}
    assert [r for _, r, _ in rules_for(req, rules)] == [DNAT]
    # translated at compute: compute's flow, never the router's SNAT rule that also fits
    assert rules_for(reply, rules) == [("compute", FLOW, False)]
    diag = Diagnosis("two NAT owners", "The reply bypasses the router.", "Fix it.", (), ())
    out = attribute(Analysis((), (), (), nat=(req, reply), diagnosis=diag), rules)
    assert out.nat[0].rules[0].startswith(f"`{DNAT.text}` (iptables-nft nat/PREROUTING) in {QR}")
    assert out.nat[1].rules[0].startswith(f"`{FLOW.text}` (openflow br-int table=0) in compute")
    assert out.diagnosis is not None
    assert DNAT.text in out.diagnosis.explanation and FLOW.text in out.diagnosis.explanation
    assert [f.kind for f in out.findings] == ["multiple-nat-owners"]


def test_reply_undone_by_conntrack_of_the_request_rule() -> None:
    req = NatTranslation("dnat", "request", Endpoint("203.0.113.223", 22),
                         Endpoint("198.51.100.4", 22), QR, QR, QR, 2)
    reply = NatTranslation("snat", "reply", Endpoint("198.51.100.4", 22),
                           Endpoint("203.0.113.223", 22), QR, QR, QR, 2)
    # the request was DNATed where the reply is translated: conntrack undoes the DNAT, the
    # SNAT rule for the VM's own connections plays no part
    assert rules_for(reply, {QR: [DNAT, SNAT]}, [req, reply]) == [(QR, DNAT, True)]
    out = attribute(Analysis((), (), (), nat=(req, reply)), {QR: [DNAT, SNAT]})
    assert out.nat[1].rules == (f"conntrack reversing `{DNAT.text}` (iptables-nft "
                                f"nat/PREROUTING) in {QR}",)
    # without the request's translation in view, the rule of the reply's own direction fits
    assert rules_for(reply, {QR: [DNAT, SNAT]}) == [(QR, SNAT, False)]
    assert rules_for(reply, {QR: [GW]}) == []


def test_a_routed_packet_is_not_tied_to_rules_only_local_packets_meet() -> None:
    """neutron DNATs a floating IP in PREROUTING and in OUTPUT (for the router's own
    packets). A packet seen in both forms at the router went through it: the OUTPUT rule did
    not translate it, nor, reversed by conntrack, its reply. Seen only between two points,
    it may have been made there: both rules stay."""
    hooked = replace(DNAT, hooks=("prerouting",))
    local = replace(DNAT, where="nat/OUTPUT", hooks=("output",),
                    text="-A OUTPUT -d 203.0.113.223/32 -j DNAT --to-destination 198.51.100.4")
    fip, vm = Endpoint("203.0.113.223", 22), Endpoint("198.51.100.4", 22)
    req = NatTranslation("dnat", "request", fip, vm, QR, QR, QR, 2)
    reply = NatTranslation("snat", "reply", vm, fip, QR, QR, QR, 2)
    rules = {QR: [local, hooked, SNAT]}
    assert rules_for(req, rules) == [(QR, hooked, False)]
    assert rules_for(reply, rules, [req, reply]) == [(QR, hooked, True)]
    between = replace(req, from_point=QR, to_point="compute", at=None)
    assert rules_for(between, rules) == [(QR, local, False), (QR, hooked, False)]
    # hooks not known (an older snapshot, a chain nothing jumps to): not ruled out
    assert rules_for(req, {QR: [replace(local, hooks=()), hooked]}) == [
        (QR, replace(local, hooks=()), False), (QR, hooked, False)]


def _topology(n: int) -> Topology:
    spaces = tuple(Namespace(f"ns{i}", i, (Link(1, "lo", "loopback"),)) for i in range(n))
    return Topology("host", "6.18", 0.0, (*spaces, Namespace(QR, 99, nat=(DNAT, SNAT, GW)),
                                          Namespace("compute", 98, nat=(FLOW,))))


def test_text_fits_one_screen_and_json_round_trips() -> None:
    topo = _topology(60)
    rules = owners.topology_rules([topo])
    table, found = owners.owners(rules), owners.findings(rules)
    out = io.StringIO()
    snapshot_text.render(topo, table, found, out)
    text = out.getvalue()
    assert len(text.splitlines()) <= 50
    assert "ERROR multiple-nat-owners" in text and FLOW.text in text and "… and" in text
    out = io.StringIO()
    snapshot_json.render(topo, table, found, out)
    data = json.loads(out.getvalue())
    assert data["version"] == 1 and len(data["namespaces"]) == 62
    assert data["findings"][0]["kind"] == "multiple-nat-owners"
    assert data["owners"][0]["address"] == "198.51.100.4"


def test_store_round_trip_and_bad_file(tmp_path: Path) -> None:
    topo = _topology(2)
    store.write(tmp_path, "netnode", topo)
    (tmp_path / "snapshots" / "broken.json").write_text('{"version": 1, "namespa')
    rules, errors = store.read_rules(tmp_path)
    assert rules == {"netnode": [DNAT, SNAT, GW, FLOW]}
    assert len(errors) == 1 and "broken.json: not a nettrail snapshot" in str(errors[0])


def test_a_received_snapshot_is_checked_and_its_fault_named(tmp_path: Path) -> None:
    """A remote host's snapshot arrives as text: a cut-off or misshapen one is refused with
    the host and the fault in words, and nothing is written."""
    good = io.StringIO()
    store.render(_topology(1), good)
    path = store.write_text(tmp_path, "compute", good.getvalue())
    assert store.read_rules(tmp_path)[0]["compute"] == store.nat_rules(json.loads(good.getvalue()))
    cases = [(good.getvalue()[:40], "truncated JSON: it ends at line"),
             ('{"namespaces": 3}', "no 'namespaces' list"),
             ("", "an empty file")]
    for text, why in cases:
        with pytest.raises(InputError) as caught:
            store.write_text(tmp_path, "network", text)
        assert str(caught.value).startswith("network's snapshot: not a nettrail snapshot (")
        assert why in str(caught.value)
    assert sorted(p.name for p in path.parent.iterdir()) == ["compute.json"]
