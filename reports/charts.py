"""Server-rendered SVG charts with their text alternative, and the table behind each.

A Chart is the rows the page's table shows and the CSV export gives, cell for cell; the SVG
is drawn from the same rows. Every label and value is escaped here, so a service named
`<script>` is text in the chart as it is in the table. The SVG carries role="img", an
aria-label, <title> and <desc>; the table under it is the full text alternative.
"""

import csv
import io
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 16, 64
COLOURS = ["#2f6fb0", "#c2571a", "#3c8d5a", "#7a4fa3", "#a33c4f"]
SPOKEN_ITEMS = 12  # the aria-label names this many points; the table has them all


@dataclass
class Chart:
    name: str  # the CSV's chart= value
    title: str
    kind: str  # "bar" or "line"
    columns: list[str]  # the table's header; column 0 labels the rows
    rows: list[list] = field(default_factory=list)
    series: list[int] = field(default_factory=lambda: [1])  # the columns drawn
    unit: str = ""  # said after each value in the text alternative
    note: str = ""

    def cells(self) -> list[list[str]]:
        """The rows as text, exactly as the table and the CSV show them."""
        return [[cell_text(value) for value in row] for row in self.rows]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([_spreadsheet_safe(c) for c in self.columns])
        for row in self.cells():
            writer.writerow([_spreadsheet_safe(c) for c in row])
        return out.getvalue()

    def text_alternative(self) -> str:
        parts = []
        for row in self.rows[:SPOKEN_ITEMS]:
            values = []
            for index in self.series:
                text = cell_text(row[index])
                shown = f"{text}{(' ' + self.unit) if self.unit and text else ''}" or "none"
                label = f"{self.columns[index]} " if len(self.series) > 1 else ""
                values.append(f"{label}{shown}")
            parts.append(f"{cell_text(row[0])}: {', '.join(values)}")
        kind = "Bar chart" if self.kind == "bar" else "Line chart"
        text = f"{kind} of {self.title.lower()}. "
        if not self.rows:
            return text + "No data."
        text += "; ".join(parts) + "."
        if len(self.rows) > SPOKEN_ITEMS:
            text += f" And {len(self.rows) - SPOKEN_ITEMS} more in the table below."
        return text

    def svg(self):
        return mark_safe(_svg(self))  # noqa: S308 — every text in it went through escape()


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet would run as a formula (=, +, -, @ first) is quoted with '."""
    if text and text[0] in "=+@\t\r" or (text[:1] == "-" and not _is_number(text)):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _nice_top(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 < value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def _svg(chart: Chart) -> str:
    label = escape(chart.text_alternative())
    title = escape(chart.title)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [_number(row[i]) for row in chart.rows for i in chart.series]
    top = _nice_top(max([v for v in values if v is not None] or [0]))
    bottom_y = TOP + plot_h

    def y_of(value):
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'role="img" aria-label="{label}" focusable="false" class="report-chart">',
        f"<title>{title}</title>",
        f"<desc>{label}</desc>",
        '<g font-size="10" fill="currentColor">',
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{escape(cell_text(top))}</text>',
        f'<text x="{LEFT - 4}" y="{bottom_y}" text-anchor="end">0</text>',
        f'<line x1="{LEFT}" y1="{bottom_y}" x2="{LEFT + plot_w}" y2="{bottom_y}" '
        'stroke="#8a8f98" stroke-width="1"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom_y}" stroke="#8a8f98" '
        'stroke-width="1"/>',
    ]
    count = max(len(chart.rows), 1)
    slot = plot_w / count
    label_every = max(1, round(count / 16))
    for n, row in enumerate(chart.rows):
        x0 = LEFT + n * slot
        name = escape(cell_text(row[0]))
        if n % label_every == 0:
            cx = x0 + slot / 2
            parts.append(
                f'<text x="{cx:.1f}" y="{bottom_y + 10}" text-anchor="end" '
                f'transform="rotate(-40 {cx:.1f} {bottom_y + 10})">{name[:24]}</text>'
            )
        if chart.kind != "bar":
            continue
        width = slot * 0.8 / len(chart.series)
        for k, index in enumerate(chart.series):
            value = _number(row[index])
            if value is None:
                continue
            x = x0 + slot * 0.1 + k * width
            y = y_of(value)
            what = escape(f"{cell_text(row[0])}, {chart.columns[index]}: {cell_text(row[index])}")
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{bottom_y - y:.1f}" '
                f'fill="{COLOURS[k % len(COLOURS)]}"><title>{what}</title></rect>'
            )
    if chart.kind == "line":
        for k, index in enumerate(chart.series):
            colour = COLOURS[k % len(COLOURS)]
            segment = []
            segments = [segment]
            for n, row in enumerate(chart.rows):
                value = _number(row[index])
                if value is None:
                    segment = []
                    segments.append(segment)
                    continue
                segment.append((LEFT + (n + 0.5) * slot, y_of(value)))
            for points in segments:
                if len(points) > 1:
                    joined = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                    parts.append(
                        f'<polyline points="{joined}" fill="none" stroke="{colour}" '
                        'stroke-width="2" stroke-linejoin="round"/>'
                    )
                for x, y in points:
                    parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
    if len(chart.series) > 1:
        for k, index in enumerate(chart.series):
            x = LEFT + k * 200
            parts.append(
                f'<rect x="{x}" y="{HEIGHT - 12}" width="10" height="10" '
                f'fill="{COLOURS[k % len(COLOURS)]}"/>'
                f'<text x="{x + 14}" y="{HEIGHT - 3}">{escape(chart.columns[index])}</text>'
            )
    parts.append("</g></svg>")
    return "".join(parts)
