"""The HTML report: one self-contained, offline page with the diagnosis and ladder diagrams.

Everything is inline (CSS, SVG, a few lines of script to pick a connection); a Content
Security Policy forbids loading anything else. Stable hooks: ``#diagnosis``, ``#findings``,
``#ladders`` (``select#connection``, ``.ladder-view``), ``#clock``, ``#nat``, ``#connections``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from pathlib import PurePath
from typing import TextIO

from nettrail.model.analysis import Analysis, Diagnosis
from nettrail.model.finding import Evidence, Finding
from nettrail.model.flow import count_text, time_text
from nettrail.report.ladder import Ladder, build_ladders, failing_index
from nettrail.report.svg import COLORS, GLOW, NAT, render_svg
from nettrail.report.text import NO_TIME

CHAIN_SHOWN = 4
"""Evidence items of the diagnosis shown before the rest is folded."""

MAX_LADDERS = 100
"""Connections drawn (each a pre-rendered SVG); the failing one is always among them."""

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)

STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212529;
  margin: 0 auto; padding: 16px 20px 40px; max-width: 1240px; background: #fff; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 16px; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 16px; margin: 22px 0 8px; }
h3 { font-size: 14px; margin: 12px 0 4px; }
.meta, .note { color: #6c757d; font-size: 12.5px; margin: 0; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
#diagnosis { border-left: 6px solid #c92a2a; background: #fff5f5; padding: 10px 16px 12px;
  margin-top: 12px; border-radius: 4px; }
#diagnosis.ok { border-color: #2b8a3e; background: #f4fbf5; }
#diagnosis h2 { margin: 2px 0 6px; font-size: 18px; }
#diagnosis p { margin: 4px 0; }
.action { font-weight: 600; }
ol.chain, ul.evidence { margin: 4px 0 0; padding-left: 22px; }
ul.causes { list-style: none; padding: 0; margin: 6px 0 0; }
ul.causes li { margin: 2px 0; }
ol.chain li, ul.evidence li { margin: 1px 0; }
ol.chain code, ul.evidence code { font-size: 12px; }
.where { color: #495057; font-size: 12px; }
.finding { margin: 6px 0; list-style: none; }
#findings ul { padding-left: 0; margin: 0; }
.badge { display: inline-block; min-width: 58px; text-align: center; border-radius: 3px;
  font-size: 11px; font-weight: 700; padding: 1px 6px; color: #fff; margin-right: 6px;
  text-transform: uppercase; }
.sev-error .badge { background: #c92a2a; } .sev-warning .badge { background: #e67700; }
.sev-info .badge { background: #1864ab; }
.kind { font-family: ui-monospace, Menlo, Consolas, monospace; font-weight: 700; }
.root { color: #c92a2a; font-size: 11px; font-weight: 700; margin-left: 4px; }
details { margin: 2px 0 0 70px; }
details.chain-more { margin: 2px 0 0 22px; }
summary { cursor: pointer; color: #495057; font-size: 12.5px; }
.picker { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; margin-bottom: 6px; }
select { font: inherit; padding: 3px 6px; max-width: 100%; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12px; color: #495057; }
.legend i { display: inline-block; width: 22px; height: 3px; vertical-align: middle;
  margin-right: 4px; }
.ladder-view { margin-top: 4px; }
.ladder-view h3 { display: none; }
svg.ladder { display: block; max-width: 100%; height: auto; }
.tables { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr));
  gap: 0 28px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #e9ecef;
  vertical-align: top; }
th { background: #f8f9fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.empty { color: #868e96; font-style: italic; }
footer { margin-top: 28px; color: #adb5bd; font-size: 11.5px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  code, .mono, ol.chain code { font-size: 10px; }
  .picker select, .picker label { display: none; }
  .ladder-view[hidden] { display: none; }
  .ladder-view h3 { display: block; }
  section { break-inside: avoid; }
  details { display: block; } details > * { display: block; }
  #diagnosis { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

SCRIPT = """
(function () {
  window.addEventListener("beforeprint", function () {
    var folded = document.querySelectorAll("details");
    for (var i = 0; i < folded.length; i++) { folded[i].open = true; }
  });
  var select = document.getElementById("connection");
  if (!select) { return; }
  function show() {
    var views = document.querySelectorAll(".ladder-view");
    for (var i = 0; i < views.length; i++) { views[i].hidden = views[i].id !== select.value; }
  }
  select.addEventListener("change", show);
  show();
})();
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def render(analysis: Analysis, out: TextIO) -> None:
    """Write the report for ``analysis`` as one self-contained offline HTML page to ``out``."""
    ladders = build_ladders(analysis)
    title = analysis.diagnosis.headline if analysis.diagnosis else _undiagnosed(analysis.findings)
    out.write(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>nettrail: {_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    )
    out.write(_heading(analysis))
    untimed = analysis.untimed
    out.write(_diagnosis(analysis.diagnosis, analysis.findings, untimed))
    out.write(_ladders(analysis, ladders))
    out.write(_findings(analysis.findings, untimed))
    out.write('<div class="tables">\n')
    out.write(_clock(analysis))
    out.write(_nat(analysis))
    out.write("</div>\n")
    out.write(_connections(analysis))
    out.write(_points(analysis))
    out.write(
        f'<footer>nettrail report, format {analysis.version}. Times in the ladder are '
        "clock-corrected to the reference point.</footer>\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def _heading(analysis: Analysis) -> str:
    packets = sum(p.packets for p in analysis.points)
    points = ", ".join(p.name for p in analysis.points) or "none"
    warnings = "".join(f'<p class="note">warning: {_e(w)}</p>\n' for w in analysis.warnings)
    followed = (f" · {count_text(len(analysis.paths), 'packet')} followed across points"
                if len(analysis.points) > 1 else "")
    return (
        '<header><h1>nettrail report</h1>\n'
        f'<p class="meta">capture points: {_e(points)} · {count_text(packets, "packet")} · '
        f"{count_text(len(analysis.connections), 'connection')}{followed}</p>\n{warnings}"
        "</header>\n"
    )


def _undiagnosed(findings: Sequence[Finding]) -> str:
    """The heading when there is no diagnosis: errors found, or nothing wrong."""
    errors = sum(1 for f in findings if f.severity == "error")
    if errors:
        return f"{count_text(errors, 'error')} found, no single root cause diagnosed"
    return "no failure diagnosed"


def _evidence_item(ev: Evidence, untimed: frozenset[str]) -> str:
    """One evidence line (``untimed``: the points whose packets have no times)."""
    when = NO_TIME if ev.point in untimed else time_text(ev.time_ns)
    where = f"{ev.point}/{ev.ifname}" if ev.ifname else ev.point
    note = f" — {_e(ev.note)}" if ev.note else ""
    return (
        f'<li><span class="where" title="{_e(ev.file)}">{_e(where)} · '
        f"{_e(PurePath(ev.file).name)}#{ev.frame} · "
        f"{when}</span> <code>{_e(ev.text)}</code>{note}</li>\n"
    )


def _diagnosis(diagnosis: Diagnosis | None, findings: Sequence[Finding],
               untimed: frozenset[str]) -> str:
    if diagnosis is None:
        failing = any(f.severity == "error" for f in findings)
        words = "see the findings below" if failing else "every connection looked healthy"
        heading = _undiagnosed(findings)
        return (
            f'<section id="diagnosis" class="{"" if failing else "ok"}">'
            f"<h2>{_e(heading[0].upper() + heading[1:])}</h2><p>{words}.</p></section>\n"
        )
    chain = _chain(diagnosis.chain, untimed)
    causes = [f for f in findings if f.kind in diagnosis.kinds and f.root_cause]
    listed = "".join(
        f'<li class="sev-{_e(f.severity)}"><span class="badge">{_e(f.severity)}</span>'
        f'<span class="kind">{_e(f.kind)}</span> {_e(f.summary)}</li>\n'
        for f in causes
    )
    return (
        f'<section id="diagnosis"><h2>{_e(diagnosis.headline)}</h2>\n'
        f"<p>{_e(diagnosis.explanation)}</p>\n"
        f'<p class="action">What to do: {_e(diagnosis.action)}</p>\n'
        f'<ul class="causes">\n{listed}</ul>\n'
        f"<h3>Evidence</h3>{chain}</section>\n"
    )


def _chain(chain: Sequence[Evidence], untimed: frozenset[str]) -> str:
    """The evidence list; past ``CHAIN_SHOWN`` items the rest folds (opened for printing)."""
    items = [_evidence_item(ev, untimed) for ev in chain]
    if len(items) <= CHAIN_SHOWN + 1:
        return f'<ol class="chain">\n{"".join(items)}</ol>'
    rest = len(items) - CHAIN_SHOWN
    return (
        f'<ol class="chain">\n{"".join(items[:CHAIN_SHOWN])}</ol>'
        f'<details class="chain-more"><summary>{rest} more (all highlighted in the ladder)'
        f'</summary><ol class="chain" start="{CHAIN_SHOWN + 1}">\n'
        f'{"".join(items[CHAIN_SHOWN:])}</ol></details>'
    )


def _findings(findings: Sequence[Finding], untimed: frozenset[str]) -> str:
    if not findings:
        return '<section id="findings"><h2>Findings</h2><p class="empty">none</p></section>\n'
    items = []
    for f in sorted(findings, key=lambda f: (not f.root_cause, _SEVERITY.get(f.severity, 3))):
        root = '<span class="root">root cause</span>' if f.root_cause else ""
        conn = f' title="connection {_e(f.connection)}"' if f.connection else ""
        evidence = "".join(_evidence_item(ev, untimed) for ev in f.evidence)
        details = (
            f"<details><summary>evidence ({len(f.evidence)})</summary>"
            f'<ul class="evidence">\n{evidence}</ul></details>'
            if f.evidence
            else ""
        )
        items.append(
            f'<li class="finding sev-{_e(f.severity)}" data-kind="{_e(f.kind)}"{conn}>'
            f'<span class="badge">{_e(f.severity)}</span><span class="kind">{_e(f.kind)}</span>'
            f"{root} {_e(f.summary)}{details}</li>\n"
        )
    return f'<section id="findings"><h2>Findings</h2><ul>\n{"".join(items)}</ul></section>\n'


_SEVERITY = {"error": 0, "warning": 1, "info": 2}


def _legend() -> str:
    entries = (
        (COLORS["request"], "request (from the connection's opener)"),
        (COLORS["reply"], "reply"),
        (COLORS["reset"], "reset"),
        (GLOW, "packet cited by a finding"),
    )
    items = "".join(f'<span><i style="background:{c}"></i>{_e(t)}</span>' for c, t in entries)
    nat = f'<span style="color:{NAT};font-weight:700">NAT rewrite on the arrow</span>'
    copies = "<span>+N: copies of the packet on N more interfaces, folded</span>"
    return f'<div class="legend">{items}{nat}{copies}</div>\n'


def _ladders(analysis: Analysis, ladders: Sequence[Ladder]) -> str:
    head = '<section id="ladders"><h2>Ladder diagram</h2>\n'
    if not ladders:
        return head + '<p class="empty">no packet was followed across points</p></section>\n'
    chosen = failing_index(analysis, ladders)
    drawn = [i for i in range(len(ladders)) if i < MAX_LADDERS or i == chosen]
    options = []
    views = []
    for i in drawn:
        ladder = ladders[i]
        mark = " (diagnosed)" if i == chosen else ""
        selected = " selected" if i == chosen else ""
        label = f"{ladder.title}{mark} · {ladder.total} packets"
        options.append(f'<option value="ladder-{i}"{selected}>{_e(label)}</option>')
        hidden = "" if i == chosen else " hidden"
        more = ""
        if ladder.shown < ladder.total:
            more = f'<p class="note">showing the first {ladder.shown} of {ladder.total} packets</p>'
        views.append(
            f'<div class="ladder-view" id="ladder-{i}"{hidden}>'
            f'<h3 class="mono">{_e(ladder.title)}</h3>{more}\n{render_svg(ladder)}</div>\n'
        )
    cut = ""
    if len(drawn) < len(ladders):
        cut = f'<span class="note">{len(drawn)} of {len(ladders)} connections drawn</span>'
    picker = (
        '<div class="picker"><label for="connection">Connection</label>'
        f'<select id="connection">{"".join(options)}</select>{cut}</div>\n'
    )
    return head + picker + _legend() + "".join(views) + "</section>\n"


def _table(section: str, title: str, header: Iterable[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    if not rows:
        body = '<p class="empty">none</p>'
        return f'<section id="{section}"><h2>{_e(title)}</h2>{body}</section>\n'
    lines = "".join("<tr>" + "".join(row) + "</tr>\n" for row in rows)
    return (
        f'<section id="{section}"><h2>{_e(title)}</h2><table><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{lines}</tbody></table></section>\n"
    )


def _td(value: object, num: bool = False) -> str:
    return f'<td class="num">{_e(value)}</td>' if num else f"<td>{_e(value)}</td>"


def _clock(analysis: Analysis) -> str:
    rows = [
        [
            _td(c.point),
            _td(c.reference),
            _td(f"{c.offset_ns / 1e6:+.3f} ms", True),
            _td(f"±{c.uncertainty_ns / 1e6:.3f} ms", True),
            _td(c.samples, True),
            _td(f"{c.source} ({c.one_way_note})" if c.one_way_note else c.source),
        ]
        for c in analysis.clock
    ]
    header = ("point", "against", "offset", "uncertainty", "samples", "measured by")
    return _table("clock", "Clock offsets", header, rows)


def _nat(analysis: Analysis) -> str:
    rows = [
        [
            _td(t.kind.upper()),
            _td(t.leg),
            _td(t.before),
            _td(t.after),
            _td(t.from_point if t.from_point == t.to_point else f"{t.from_point} → {t.to_point}"),
            _td(t.at or "?"),
            _td(t.packets, True),
        ]
        for t in analysis.nat
    ]
    header = ("kind", "leg", "before", "after", "seen", "at", "packets")
    return _table("nat", "NAT translations", header, rows)


def _connections(analysis: Analysis) -> str:
    rows = [
        [
            _td(c.point),
            _td(c.client),
            _td(c.server),
            _td(c.outcome),
            _td(c.packets, True),
            _td(c.retransmissions, True),
        ]
        for c in analysis.connections
    ]
    header = ("point", "client", "server", "outcome", "packets", "retransmissions")
    return _table("connections", "Connections at each point", header, rows)


def _points(analysis: Analysis) -> str:
    rows = [
        [
            _td(p.name),
            _td(", ".join(p.files)),
            _td(", ".join(p.formats)),
            _td(", ".join(p.interfaces) or "-"),
            _td(p.packets, True),
            _td("; ".join(p.warnings) or "-"),
        ]
        for p in analysis.points
    ]
    header = ("point", "files", "format", "interfaces", "packets", "notes")
    return _table("points", "Capture points", header, rows)
