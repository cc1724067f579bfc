"""Bar charts as inline SVG, drawn on the server: no script, no external library or CDN, nothing
the page's Content-Security-Policy (default-src 'self') has to allow. Colours come from the page's
own style sheet (classes), sizes from attributes."""
from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 640, 220
TOP, BOTTOM, LEFT, RIGHT = 16, 34, 36, 8   # room for the value scale and the labels


def bar_chart(chart_id: str, title: str, bars: list[tuple[str, int]], label_every: int = 1) -> str:
    """A <figure> with one <rect class="bar"> per (label, value), in order, even for a value of 0
    (a zero-height bar keeps its place, so the number of bars is the number of categories).
    Each bar carries data-label / data-value and a <title> (the browser's tooltip)."""
    top = max([v for _, v in bars] + [1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(bars), 1)
    parts = [f'<figure class="chart" id="{escape(chart_id)}"><figcaption>{escape(title)}</figcaption>',
             f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>',
             f'<text class="scale" x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{top}</text>',
             f'<text class="scale" x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>']
    for i, (label, value) in enumerate(bars):
        h = plot_h * value / top
        x = LEFT + i * step + step * 0.15
        w = step * 0.7
        y = TOP + plot_h - h
        tip = escape(f"{label}: {value}")
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                     f'data-label="{escape(label)}" data-value="{value}"><title>{tip}</title></rect>')
        if value:
            parts.append(f'<text class="value" x="{x + w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle">{value}</text>')
        if i % label_every == 0:
            parts.append(f'<text class="label" x="{x + w / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg></figure>")
    return "".join(parts)


__all__ = ["bar_chart"]
