"""The history chart, drawn here as inline SVG: the latency of the last results as a line,
and one bar per result under it, green when it passed and red when it failed. No script,
nothing to load; every number is formatted by us and every text escaped by format_html."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 600, 160
LINE_TOP, LINE_BOTTOM = 14, 112  # the latency line's band
BAR_TOP, BAR_HEIGHT = 124, 24  # the up/down strip
OK, FAILED, LINE = "#137333", "#b42318", "#0b5cad"


def history_svg(results) -> SafeString:
    """`results` oldest first (CheckResult or anything with ok, latency_ms, at, detail)."""
    results = list(results)
    count = len(results)
    label = f"Latency and outcome of the last {count} results"
    if not count:
        return format_html(
            '<svg class="check-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" '
            'width="100%"><text x="8" y="80" fill="#5b6370">No results yet.</text></svg>',
            "No results yet",
            WIDTH,
            HEIGHT,
        )
    step = WIDTH / count
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    top = max(latencies, default=0) or 1.0
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
        (
            (
                f"{i * step:.2f}",
                BAR_TOP,
                f"{max(step - 1, 1):.2f}",
                BAR_HEIGHT,
                OK if r.ok else FAILED,
                f"{r.at:%Y-%m-%d %H:%M:%S} · {'ok' if r.ok else 'failed'} · {r.detail}",
            )
            for i, r in enumerate(results)
        ),
    )
    points = " ".join(
        f"{i * step + step / 2:.2f},"
        f"{LINE_BOTTOM - (r.latency_ms / top) * (LINE_BOTTOM - LINE_TOP):.2f}"
        for i, r in enumerate(results)
        if r.latency_ms is not None
    )
    line = (
        format_html(
            '<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/>', points, LINE
        )
        if points
        else ""
    )
    return format_html(
        '<svg class="check-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="100%" '
        'preserveAspectRatio="none"><title>{}</title>'
        '<line x1="0" y1="{}" x2="{}" y2="{}" stroke="#d9dde3"/>'
        '<text x="4" y="11" font-size="10" fill="#5b6370">{} ms</text>'
        "{}{}</svg>",
        label,
        WIDTH,
        HEIGHT,
        label,
        LINE_BOTTOM,
        WIDTH,
        LINE_BOTTOM,
        f"{top:.4g}",
        line,
        bars,
    )
