"""The HTML report: structure, the failing connection's ladder, escaping, offline-ness."""

from __future__ import annotations

import dataclasses
import io
import re
from html.parser import HTMLParser

from fixtures.report_analysis import KEY, KEY2, WEB_SYN, dual_l3_analysis, evidence
from nettrail.model.analysis import Analysis, Diagnosis, Hop, PacketPath
from nettrail.model.finding import Finding, Severity
from nettrail.model.flow import Endpoint, FlowKey
from nettrail.report import html
from nettrail.report.ladder import MAX_PATHS, build_ladders, failing_index

VOID = {"meta", "br", "input", "link", "img", "hr", "wbr", "source", "col", "area", "base"}


class Node:
    """A parsed element: tag, attributes, children, text."""

    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.texts: list[str] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return "".join(self.texts) + "".join(c.text() for c in self.children)

    def walk(self) -> list[Node]:
        out = [self]
        for child in self.children:
            out += child.walk()
        return out

    def find(self, tag: str = "", cls: str = "", id: str = "") -> list[Node]:
        return [n for n in self.walk() if (not tag or n.tag == tag)
                and (not cls or cls in n.classes) and (not id or n.attrs.get("id") == id)]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.cur.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.cur))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"unbalanced </{tag}>"
        self.cur = node.parent

    def handle_data(self, data: str) -> None:
        self.cur.texts.append(data)


def render(analysis: Analysis) -> tuple[str, Node]:
    out = io.StringIO()
    html.render(analysis, out)
    builder = _Builder()
    builder.feed(out.getvalue())
    builder.close()
    assert builder.cur is builder.root, "unclosed elements"
    return out.getvalue(), builder.root


def visible_ladders(root: Node) -> list[Node]:
    return [n for n in root.find(cls="ladder-view") if "hidden" not in n.attrs]


def test_diagnosis_comes_first_with_evidence() -> None:
    page, root = render(dual_l3_analysis())
    diag = root.find(id="diagnosis")[0]
    assert "served by two L3 paths" in diag.find("h2")[0].text()
    assert "What to do: Serve the floating IP from one L3" in diag.text()
    causes = [li.find(cls="kind")[0].text() for li in diag.find("ul", cls="causes")[0].find("li")]
    assert causes == ["asymmetric-nat", "rst-from-router-namespace"]
    assert len(diag.find("ol", cls="chain")[0].find("li")) == 4
    assert "network-node.pcapng#6" in diag.text()
    assert page.index('id="diagnosis"') < page.index('id="ladders"') < page.index('id="findings"')
    kinds = [li.attrs["data-kind"] for li in root.find(cls="finding")]
    assert kinds == ["asymmetric-nat", "rst-from-router-namespace", "clock-skew"]


def test_failing_connection_ladder_is_shown_and_others_selectable() -> None:
    _, root = render(dual_l3_analysis())
    options = root.find("option")
    assert len(options) == 2 == len(root.find("svg", cls="ladder"))
    assert [o.attrs["value"] for o in options] == ["ladder-0", "ladder-1"]
    assert "selected" in options[0].attrs and "(diagnosed)" in options[0].text()
    shown = visible_ladders(root)
    assert len(shown) == 1 and shown[0].attrs["id"] == "ladder-0"
    assert str(KEY) in shown[0].text()
    lanes = [g.attrs["data-lane"] for g in shown[0].find(cls="lane")]
    # lanes where packets arrive, by point; qg-7c1e only sees copies until the RST leaves it
    assert lanes == ["client/eth0", "network-node/br-ex", "network-node/qr-3f2a",
                     "network-node/qg-7c1e", "compute-node/tap-vm1", "compute-node/eth1"]
    arrows = shown[0].find(cls="arrow")
    # SYN: eth0 > br-ex(+qg) > qr > tap; SYN-ACK: tap > eth1 > client; ACK: 1; RST: 1
    assert len(arrows) == 7
    flags = [a.find(cls="flags")[0].find("tspan")[0].text() for a in arrows]
    assert flags == ["S", "S", "S", "S.", "S.", ".", "R"]
    nat = [a.find(cls="nat")[0].text() for a in arrows if a.find(cls="nat")]
    assert nat == ["DNAT→198.18.0.5:80", "SNAT→203.0.113.10:80"]
    copies = [c.text() for c in shown[0].find(cls="copies")]
    assert copies == ["+1also seen on qg-7c1e", "+1also seen on qg-7c1e", "+1also seen on br-ex"]


def test_cited_packets_are_highlighted() -> None:
    analysis = dual_l3_analysis()
    only_rst = dataclasses.replace(analysis, diagnosis=None, findings=analysis.findings[2:])
    _, root = render(only_rst)
    ladder = visible_ladders(root)[0]
    lit = [a.attrs["data-packet"] for a in ladder.find(cls="highlight")]
    assert lit == ["3", "4"]  # the ACK and the RST the finding cites
    assert {"arrow", "reset", "highlight"} <= ladder.find(cls="highlight")[1].classes
    assert len(ladder.find(cls="evidence")) == 2
    assert not [a for a in ladder.find(cls="arrow") if a.attrs["data-packet"] in "12"
                and "highlight" in a.classes]


def test_selection_follows_root_cause_connection() -> None:
    analysis = dual_l3_analysis()
    moved = Finding("rst", Severity.ERROR, "x", root_cause=True, connection=KEY2)
    _, root = render(dataclasses.replace(analysis, findings=(moved,), diagnosis=None))
    assert [n.attrs["id"] for n in visible_ladders(root)] == ["ladder-1"]
    ladders = build_ladders(analysis)
    assert failing_index(dataclasses.replace(analysis, findings=()), ladders) == 0
    by_evidence = Diagnosis("h", "e", "a", (evidence(WEB_SYN[1]),), ())
    assert failing_index(dataclasses.replace(analysis, findings=(), diagnosis=by_evidence),
                         ladders) == 1


def test_single_sighting_is_a_dot() -> None:
    _, root = render(dual_l3_analysis())
    second = root.find(id="ladder-1")[0]
    singles = second.find(cls="single")
    assert [a.attrs["data-packet"] for a in singles] == ["7"]
    assert singles[0].find("circle")


def test_tables_and_escaping() -> None:
    analysis = dual_l3_analysis()
    evil = "<script>alert('x')</script>&"
    diag = dataclasses.replace(analysis.diagnosis, headline=evil)  # type: ignore[arg-type]
    hop = dataclasses.replace(WEB_SYN[0], text=evil, ifname="<b>eth0")
    paths = (*analysis.paths, PacketPath(99, (hop,), 1.0, FlowKey.of(6, Endpoint("a<", 1),
                                                                     Endpoint("b", 2))))
    page, root = render(dataclasses.replace(analysis, diagnosis=diag, paths=paths))
    assert evil not in page and "<b>eth0" not in page
    assert root.find(id="diagnosis")[0].find("h2")[0].text() == evil
    assert len(root.find("script")) == 1
    clock = root.find(id="clock")[0].find("td")
    assert [td.text() for td in clock[:3]] == ["network-node", "client", "+0.041 ms"]
    nat = [td.text() for td in root.find(id="nat")[0].find("tr")[1].find("td")]
    assert nat[:4] == ["DNAT", "request", "203.0.113.10:80", "198.18.0.5:80"]
    outcomes = [tr.find("td")[3].text() for tr in root.find(id="connections")[0].find("tr")[1:]]
    assert outcomes[0] == "reset-after-handshake"


def test_self_contained_and_offline() -> None:
    page, root = render(dual_l3_analysis())
    for node in root.walk():
        for name in ("src", "href", "xlink:href", "action", "data", "poster"):
            value = node.attrs.get(name, "")
            assert not value or value.startswith(("#", "data:")), (node.tag, name, value)
    assert not re.search(r"url\((?!#)", page)
    assert not re.search(r"@import|@font-face", page)
    csp = [m.attrs["content"] for m in root.find("meta") if "http-equiv" in m.attrs]
    assert csp and "default-src 'none'" in csp[0]
    assert "@media print" in page


def test_no_paths_and_no_diagnosis() -> None:
    empty = Analysis(points=(), connections=(), findings=())
    _, root = render(empty)
    assert "No failure diagnosed" in root.find(id="diagnosis")[0].text()
    assert "no packet was followed" in root.find(id="ladders")[0].text()
    assert not root.find("svg")


def test_errors_without_diagnosis_are_not_called_no_failure() -> None:
    refused = Finding("refused", Severity.ERROR, "srv: the server answered the SYN with RST")
    page, root = render(Analysis(points=(), connections=(), findings=(refused,)))
    heading = root.find(id="diagnosis")[0].text()
    assert "1 error found, no single root cause diagnosed" in heading
    assert "<title>nettrail: 1 error found, no single root cause diagnosed</title>" in page
    assert "No failure diagnosed" not in page and "connection views" not in page


def test_long_connections_are_cut_and_say_so() -> None:
    hop = WEB_SYN[0]
    paths = tuple(
        PacketPath(i, (dataclasses.replace(hop, time_ns=hop.time_ns + i * 1000),), 1.0, KEY2)
        for i in range(MAX_PATHS + 5)
    )
    _, root = render(Analysis(points=(), connections=(), findings=(), paths=paths))
    view = root.find(id="ladder-0")[0]
    assert f"showing the first {MAX_PATHS} of {MAX_PATHS + 5} packets" in view.text()
    assert len(view.find(cls="arrow")) == MAX_PATHS


def test_many_connections_draw_the_first_and_the_failing() -> None:
    hop = WEB_SYN[0]
    paths = tuple(
        PacketPath(i, (dataclasses.replace(hop, time_ns=hop.time_ns + i),), 1.0,
                   FlowKey.of(6, Endpoint("198.51.100.10", 1000 + i), Endpoint("203.0.113.9", 80)))
        for i in range(html.MAX_LADDERS + 20)
    )
    late = paths[-1].connection
    finding = Finding("reset", Severity.ERROR, "x", root_cause=True, connection=late)
    _, root = render(Analysis(points=(), connections=(), findings=(finding,), paths=paths))
    options = root.find("option")
    assert len(options) == html.MAX_LADDERS + 1
    assert options[-1].attrs["value"] == f"ladder-{html.MAX_LADDERS + 19}"
    assert "selected" in options[-1].attrs
    assert f"{html.MAX_LADDERS + 1} of {html.MAX_LADDERS + 20} connections drawn" in root.text()


def test_unknown_interfaces_and_addresses() -> None:
    bare = tuple(Hop(p, None, 1_000 + i, "f.txt", i + 1, "ARP, Request who-has 198.51.100.1")
                 for i, p in enumerate(("a", "b", "a")))
    _, root = render(Analysis(points=(), connections=(), findings=(),
                              paths=(PacketPath(1, bare, 0.5),)))
    view = root.find(id="ladder-0")[0]
    assert [g.attrs["data-lane"] for g in view.find(cls="lane")] == ["a", "b"]
    assert "packets outside a known connection" in view.text()
    assert len(view.find(cls="arrow")) == 2 and not view.find(cls="nat")


def test_long_evidence_chain_folds_after_the_first() -> None:
    analysis = dual_l3_analysis()
    diag = analysis.diagnosis
    assert diag is not None
    longer = dataclasses.replace(diag, chain=diag.chain * 2)
    _, root = render(dataclasses.replace(analysis, diagnosis=longer))
    lists = root.find(id="diagnosis")[0].find("ol", cls="chain")
    assert [len(ol.find("li")) for ol in lists] == [html.CHAIN_SHOWN, 8 - html.CHAIN_SHOWN]
    assert lists[1].parent is not None and lists[1].parent.tag == "details"
    assert lists[1].attrs["start"] == str(html.CHAIN_SHOWN + 1)
    assert "beforeprint" in root.find("script")[0].text()
