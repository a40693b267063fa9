"""The ladder diagram as SVG: lanes across, corrected time down, one arrow per packet step.

Styling is in presentation attributes so the SVG stands alone (a saved file, print); the HTML
page only adds layout. Stable classes for tests and styling: ``svg.ladder``, ``.lane``,
``.arrow`` (plus ``request``/``reply``/``reset``/``single``/``highlight``), ``.nat``, ``.evidence``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from html import escape

from nettrail.report.ladder import Arrow, Ladder, Stop, stop_title

WIDTH = 1160
MAX_SPACING = 230.0
AXIS = 86
RIGHT = 14
HEAD = 60
PAD = 24
ROW = 36
BOTTOM = 20
CHAR_PX = 6.4
MAX_TILT = 30.0
POINT_CHAR_PX = 8.2
BANDS = ("#e7f0fb", "#eef6ec", "#fbf1e6", "#f1ecfa", "#e9f6f7", "#f8e9ef")
COLORS = {"request": "#1864ab", "reply": "#2b8a3e", "reset": "#c92a2a"}
GLOW = "#f76707"
NAT = "#862e9c"
FONT = "font-family=\"ui-monospace,SFMono-Regular,Menlo,Consolas,monospace\""


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _e(text: str) -> str:
    return escape(text, quote=True)


class _Geometry:
    """Where lanes and rows sit for one ladder."""

    def __init__(self, ladder: Ladder) -> None:
        self.ladder = ladder
        count = max(len(ladder.lanes), 1)
        self.spacing = min((WIDTH - AXIS - RIGHT) / count, MAX_SPACING)
        self.width = AXIS + RIGHT + self.spacing * count
        self.height = HEAD + PAD + max(len(ladder.times) - 1, 0) * ROW + PAD + BOTTOM

    def x(self, lane: int) -> float:
        return AXIS + self.spacing * (lane + 0.5)

    def y(self, time_ns: int) -> float:
        return HEAD + PAD + self.ladder.row(time_ns) * ROW

    def at(self, stop: Stop) -> tuple[float, float]:
        """Where a stop is drawn."""
        return self.x(stop.lane), self.y(stop.time_ns)


def render_svg(ladder: Ladder) -> str:
    """The ladder of one connection as a standalone ``<svg class="ladder">`` element."""
    geo = _Geometry(ladder)
    parts = [
        f'<svg class="ladder" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(geo.width)} '
        f'{_n(geo.height)}" width="{_n(geo.width)}" height="{_n(geo.height)}" role="img" '
        f'aria-label="{_e(ladder.title)}" {FONT} '
        'font-size="11">',
        f"<title>{_e('ladder: ' + ladder.title)}</title>",
    ]
    parts += _header(geo)
    parts += _rows(geo)
    for arrow in ladder.arrows:
        parts.append(_arrow(geo, arrow))
    places = [(stop, *geo.at(stop)) for stop in _places(geo)]
    parts += [mark for stop, x, y in places for mark in _dot(stop, x, y)]
    parts += [_ring(stop, x, y) for stop, x, y in places if stop.kinds]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _fit(text: str, px: float, char_px: float = CHAR_PX) -> str:
    """``text`` cut with an ellipsis to fit ``px`` pixels at ``char_px`` per character."""
    room = max(int(px / char_px), 4)
    return text if len(text) <= room else text[: room - 1] + "…"


def _header(geo: _Geometry) -> list[str]:
    """A band per capture point over its lanes, the interface name over each lane, the lanes."""
    lanes = geo.ladder.lanes
    out: list[str] = []
    start = 0
    band = 0
    while start < len(lanes):
        end = start
        while end + 1 < len(lanes) and lanes[end + 1].point == lanes[start].point:
            end += 1
        left = geo.x(start) - geo.spacing / 2 + 3
        width = geo.spacing * (end - start + 1) - 6
        point = lanes[start].point
        out.append(
            f'<g class="point"><rect x="{_n(left)}" y="4" width="{_n(width)}" height="26" '
            f'rx="5" fill="{BANDS[band % len(BANDS)]}"/><text x="{_n(left + width / 2)}" y="22" '
            f'text-anchor="middle" font-size="13" font-weight="bold" fill="#212529">'
            f"{_e(_fit(point, width - 8, POINT_CHAR_PX))}</text><title>{_e(point)}</title></g>"
        )
        band += 1
        start = end + 1
    bottom = geo.height - BOTTOM
    for i, lane in enumerate(lanes):
        x = _n(geo.x(i))
        name = lane.ifname or ""
        out.append(
            f'<g class="lane" data-lane="{_e(lane.label)}"><title>{_e(lane.label)}</title>'
            f'<text x="{x}" y="47" text-anchor="middle" fill="#495057">'
            f"{_e(_fit(name, geo.spacing - 8))}</text>"
            f'<line x1="{x}" y1="{HEAD - 6}" x2="{x}" y2="{_n(bottom)}" stroke="#adb5bd" '
            'stroke-width="1.5" stroke-dasharray="4 4"/></g>'
        )
    return out


def _rows(geo: _Geometry) -> list[str]:
    """A faint guide and the time since the first sighting, per row."""
    out: list[str] = []
    start = geo.ladder.start_ns
    for row, t in enumerate(geo.ladder.times):
        y = _n(HEAD + PAD + row * ROW)
        out.append(
            f'<g class="time"><line x1="{AXIS}" y1="{y}" x2="{_n(geo.width - RIGHT)}" y2="{y}" '
            f'stroke="#f1f3f5"/><text x="{AXIS - 8}" y="{y}" dy="4" text-anchor="end" '
            f'fill="#868e96">+{(t - start) / 1e6:.3f} ms</text></g>'
        )
    return out


def _kind(arrow: Arrow) -> str:
    if "R" in arrow.flags:
        return "reset"
    return "reply" if arrow.reply else "request"


def _arrow(geo: _Geometry, arrow: Arrow) -> str:
    """One ``<g class="arrow">``: the line (or loop, or dot), its head, flags and rewrite."""
    kind = _kind(arrow)
    color = COLORS[kind]
    classes = ["arrow", kind]
    if arrow.single:
        classes.append("single")
    if arrow.highlight:
        classes.append("highlight")
    title = _title(arrow)
    body, mid = _shape(geo, arrow, color)
    labels = _labels(arrow, mid, _angle(geo, arrow), geo.width)
    return (
        f'<g class="{" ".join(classes)}" data-packet="{arrow.path_id}"><title>{_e(title)}'
        f"</title>{body}{labels}</g>"
    )


def _title(arrow: Arrow) -> str:
    head = f"packet #{arrow.path_id} {arrow.flags}".rstrip()
    lines = [head, stop_title(arrow.start)]
    if not arrow.single:
        lines.append(stop_title(arrow.end))
    lines += [r.long() for r in arrow.rewrites]
    return "\n".join(lines)


def _shape(geo: _Geometry, arrow: Arrow, color: str) -> tuple[str, tuple[float, float]]:
    """The drawn shape and the point its labels hang from."""
    x1, y1 = geo.at(arrow.start)
    x2, y2 = geo.at(arrow.end)
    glow_width = "9" if arrow.highlight else "0"
    if arrow.single:
        dot = f'<circle cx="{_n(x1)}" cy="{_n(y1)}" r="5" fill="{color}"/>'
        if arrow.highlight:
            dot = f'<circle cx="{_n(x1)}" cy="{_n(y1)}" r="9" fill="{GLOW}" opacity="0.3"/>' + dot
        return dot, (x1 + 12 + geo.spacing / 4, y1)
    if arrow.start.lane == arrow.end.lane:
        bend = min(60.0, geo.spacing / 2)
        d = (
            f"M{_n(x1)} {_n(y1)} C{_n(x1 + bend)} {_n(y1)} {_n(x2 + bend)} {_n(y2)} "
            f"{_n(x2 + 4)} {_n(y2)}"
        )
        head = _head(x2 + bend, y2, x2, y2, color)
        glow = _glow_path(d, glow_width)
        line = f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.8"/>'
        return glow + line + head, (x1 + bend * 0.75, (y1 + y2) / 2)
    length = math.hypot(x2 - x1, y2 - y1)
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    sx, sy = x1 + ux * 4, y1 + uy * 4
    bx, by = x2 - ux * 13, y2 - uy * 13
    coords = f'x1="{_n(sx)}" y1="{_n(sy)}" x2="{_n(bx)}" y2="{_n(by)}"'
    glow = ""
    if arrow.highlight:
        glow = (
            f'<line {coords} stroke="{GLOW}" stroke-width="{glow_width}" opacity="0.3" '
            'stroke-linecap="round"/>'
        )
    line = f'<line {coords} stroke="{color}" stroke-width="1.8"/>'
    return glow + line + _head(x1, y1, x2, y2, color), ((x1 + x2) / 2, (y1 + y2) / 2)


def _glow_path(d: str, width: str) -> str:
    if width == "0":
        return ""
    return f'<path d="{d}" fill="none" stroke="{GLOW}" stroke-width="{width}" opacity="0.3"/>'


def _head(x1: float, y1: float, x2: float, y2: float, color: str) -> str:
    """A filled arrowhead ending just before the stop at (x2, y2), pointing away from (x1, y1)."""
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    tx, ty = x2 - ux * 4, y2 - uy * 4
    bx, by = tx - ux * 10, ty - uy * 10
    nx, ny = -uy * 4.5, ux * 4.5
    points = f"{_n(tx)},{_n(ty)} {_n(bx + nx)},{_n(by + ny)} {_n(bx - nx)},{_n(by - ny)}"
    return f'<polygon points="{points}" fill="{color}"/>'


def _clamp(x: float, text: str, width: float) -> float:
    """``x`` moved so that ``text`` centred on it stays inside the drawing."""
    half = len(text) * CHAR_PX / 2 + 2
    return min(max(x, AXIS + half), width - RIGHT - half)


def _angle(geo: _Geometry, arrow: Arrow) -> float:
    """Degrees to turn labels so they run along the arrow; flat for loops, dots, steep arrows."""
    if arrow.start.lane == arrow.end.lane:
        return 0.0
    (x1, y1), (x2, y2) = geo.at(arrow.start), geo.at(arrow.end)
    degrees = math.degrees(math.atan2(y2 - y1, x2 - x1))
    if degrees > 90:
        degrees -= 180
    elif degrees < -90:
        degrees += 180
    return degrees if abs(degrees) <= MAX_TILT else 0.0


def _labels(arrow: Arrow, mid: tuple[float, float], angle: float, width: float) -> str:
    """Flags and packet number above the arrow's middle, the rewrite below, along the arrow."""
    mx, my = mid
    halo = 'stroke="#fff" stroke-width="4" paint-order="stroke" stroke-linejoin="round"'
    turn = f' transform="rotate({_n(angle)} {_n(mx)} {_n(my)})"' if angle else ""
    flag_text = f"{arrow.flags} #{arrow.path_id}".strip()
    x = _clamp(mx, flag_text, width) if not angle else mx
    out = (
        f'<text class="flags" x="{_n(x)}" y="{_n(my - 6)}" text-anchor="middle" {halo} '
        f'fill="#212529"{turn}><tspan font-weight="bold">{_e(arrow.flags)}</tspan>'
        f'<tspan fill="#868e96" font-size="9"> #{arrow.path_id}</tspan></text>'
    )
    if arrow.rewrites:
        text = ", ".join(r.short() for r in arrow.rewrites)
        x = _clamp(mx, text, width) if not angle else mx
        out += (
            f'<text class="nat" x="{_n(x)}" y="{_n(my + 14)}" text-anchor="middle" {halo} '
            f'fill="{NAT}" font-weight="bold"{turn}>{_e(text)}</text>'
        )
    return out


def _ring(stop: Stop, x: float, y: float) -> str:
    """A ring on a sighting that a finding cites."""
    return (f'<circle class="evidence" cx="{_n(x)}" cy="{_n(y)}" r="7" fill="none" '
            f'stroke="{GLOW}" stroke-width="2.5"><title>'
            f'{_e("cited by " + ", ".join(stop.kinds))}</title></circle>')


def _dot(stop: Stop, x: float, y: float) -> list[str]:
    """A dot where a packet was seen; ``+N`` where N copies on other interfaces were folded."""
    out = [f'<circle class="stop" cx="{_n(x)}" cy="{_n(y)}" r="3" fill="#343a40"/>']
    if len(stop.hops) > 1:
        names = ", ".join(dict.fromkeys(h.ifname or h.point for h in stop.hops[1:]))
        out.append(
            f'<text class="copies" x="{_n(x + 5)}" y="{_n(y + 14)}" '
            f'font-size="10" fill="#495057"><title>{_e("also seen on " + names)}'
            f"</title>+{len(stop.hops) - 1}</text>"
        )
    return out


def _places(geo: _Geometry) -> Iterator[Stop]:
    """The stops of the ladder's arrows, each (lane, time) once, in arrow order."""
    seen: set[tuple[int, int]] = set()
    for arrow in geo.ladder.arrows:
        for stop in (arrow.start, arrow.end):
            if (stop.lane, stop.time_ns) not in seen:
                seen.add((stop.lane, stop.time_ns))
                yield stop

