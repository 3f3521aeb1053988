"""Charts drawn on the server as SVG: no script runs in the console (its CSP allows none
but its own), and SVG presentation attributes are not styles, so the strict `style-src`
stays as it is."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 560, 150
LEFT, BOTTOM, TOP = 56, 22, 14


def _nice_max(value: float) -> float:
    """A round top for the axis: 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1
    power = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _number(value: float, unit: str) -> str:
    return f"¥{value:,.0f}" if unit == "yen" else f"{value:,.0f}"


def bar_chart(
    points: Sequence[tuple[str, float]], *, title: str, unit: str = "count", color: str = "#06c755"
) -> Markup:
    """Daily bars with a labelled axis; `points` are (YYYY-MM-DD, value)."""
    top = _nice_max(max((v for _, v in points), default=0))
    inner_w, inner_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = inner_w / max(len(points), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{LEFT}" y1="{TOP + inner_h}" x2="{WIDTH - 8}" y2="{TOP + inner_h}" '
        'stroke="#999" stroke-width="1"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end" font-size="10" fill="#555">'
        f"{escape(_number(top, unit))}</text>",
        f'<text x="{LEFT - 4}" y="{TOP + inner_h}" text-anchor="end" font-size="10" '
        'fill="#555">0</text>',
    ]
    for index, (day, value) in enumerate(points):
        h = inner_h * value / top if top else 0
        x = LEFT + index * slot + slot * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + inner_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{color}"><title>{escape(day)}: '
            f"{escape(_number(value, unit))}</title></rect>"
        )
        last = len(points) - 1
        if index in (0, last) or (len(points) > 10 and index % 7 == 0 and last - index > 3):
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
                f'font-size="10" fill="#555">{escape(day[5:])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def funnel(stages: Sequence[tuple[str, int | None]], *, title: str) -> Markup:
    """Horizontal bars from planned to ordered; a stage LINE hid shows its words, not a bar."""
    known = [v for _, v in stages if v is not None]
    top = max(known, default=0) or 1
    row_h, label_w, width = 22, 84, 420
    height = row_h * len(stages) + 6
    parts = [
        f'<svg class="funnel" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, value) in enumerate(stages):
        y = 3 + index * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="11" '
            f'fill="#333">{escape(label)}</text>'
        )
        if value is None:
            parts.append(f'<text x="{label_w}" y="{y + 15}" font-size="11" fill="#888">—</text>')
            continue
        w = (width - label_w - 60) * value / top
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="#06c755" opacity="{1 - index * 0.12:.2f}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="11" fill="#333">'
            f"{value:,}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
