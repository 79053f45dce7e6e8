"""Charts drawn on the server as SVG: the browsers at a centre reach no CDN, and an SVG
prints as sharply as the table beside it."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

PALETTE = ("#1f6feb", "#2da44e", "#8250df", "#1b7c83", "#bf8700")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    """A rate in [0, 1], or None where nothing was counted."""
    note: str = ""


def bar_chart(title: str, bars: list[Bar], *, colour: str = PALETTE[0], width: int = 520) -> str:
    """Horizontal bars of rates (0–100 %), one per group, labelled with the figure; a group
    with nothing to count shows a dash, not a zero."""
    label_width, row, top = 180, 26, 34
    height = top + row * max(len(bars), 1) + 24
    plot = width - label_width - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        'class="chart">',
        f'<text x="0" y="18" class="chart-title">{escape(title)}</text>',
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = label_width + plot * tick
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 20}" class="grid"/>'
            f'<text x="{x:.1f}" y="{height - 6}" class="tick">{int(tick * 100)}%</text>'
        )
    for i, bar in enumerate(bars):
        y = top + i * row
        label = bar.label if len(bar.label) <= 14 else bar.label[:13] + "…"
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 16}" class="label">{escape(label)}'
            f"<title>{escape(bar.label)}</title></text>"
        )
        if bar.value is None:
            parts.append(f'<text x="{label_width + 4}" y="{y + 16}" class="value">—</text>')
            continue
        length = max(plot * bar.value, 1.5)
        parts.append(
            f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="16" rx="3" '
            f'fill="{colour}"><title>{escape(bar.label)}: {bar.value:.1%} {escape(bar.note)}'
            "</title></rect>"
            f'<text x="{label_width + length + 6:.1f}" y="{y + 16}" class="value">'
            f"{bar.value:.1%}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
