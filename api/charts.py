"""Server-rendered SVG charts for the reports page: no JavaScript, no charting library, and
every label escaped. A chart is a list of bars (label, value, optional note); the page draws it
inline, so it prints and screenshots as it looks."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from html import escape

from markupsafe import Markup

WIDTH = 720
BAR_AREA_HEIGHT = 160
LABEL_HEIGHT = 34
TOP = 18
LEFT = 18  # room for the first label, centred under its bar


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: Decimal
    note: str = ""  # shown above the bar (e.g. the ticket count)


def column_chart(title: str, bars: list[Bar], unit: str = "") -> Markup:
    """Vertical bars, one per label in the order given (days, months…)."""
    if not bars:
        return Markup(f'<p class="muted">{escape(title)}: nothing in this period.</p>')
    height = TOP + BAR_AREA_HEIGHT + LABEL_HEIGHT
    top = max((bar.value for bar in bars), default=Decimal(0)) or Decimal(1)
    slot = (WIDTH - LEFT) / len(bars)
    width = max(slot * 0.7, 1.0)
    # Label every bar when they fit, else every n-th so the text never overlaps.
    every = max(1, round(len(bars) * 42 / WIDTH))
    parts = [_open(title, WIDTH, height)]
    for index, bar in enumerate(bars):
        bar_height = float(bar.value / top) * BAR_AREA_HEIGHT if bar.value > 0 else 0.0
        x = LEFT + index * slot + (slot - width) / 2
        y = TOP + BAR_AREA_HEIGHT - bar_height
        tip = f"{bar.label}: {bar.value}{unit}" + (f" ({bar.note})" if bar.note else "")
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
            f'height="{bar_height:.1f}"><title>{escape(tip)}</title></rect>'
        )
        if index % every == 0:
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{TOP + BAR_AREA_HEIGHT + 14}" '
                f'text-anchor="middle" class="axis">{escape(_short(bar.label))}</text>'
            )
        # A note goes above every bar (not only the labelled ones) when the notes fit their
        # slots; a caller promises notes in its caption only when ``notes_fit`` says so.
        if bar.note and notes_fit(bars):
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                f'class="note">{escape(bar.note)}</text>'
            )
    parts.append(
        f'<text x="0" y="12" class="axis">max {escape(str(top))}{escape(unit)}</text></svg>'
    )
    return Markup("".join(parts))


NOTE_CHAR_WIDTH = 7.0  # px per character of a note at the chart's note size, with room


def notes_fit(bars: list[Bar]) -> bool:
    """Whether ``column_chart`` draws every bar's note: each fits over its bar's slot."""
    if not bars:
        return False
    slot = (WIDTH - LEFT) / len(bars)
    return max(len(bar.note) for bar in bars) * NOTE_CHAR_WIDTH <= slot


def share_chart(title: str, bars: list[Bar], limit: Decimal | None = None) -> Markup:
    """Horizontal bars, one row each: a value against a limit (hours used of hours granted),
    or against the largest value when there is no limit."""
    if not bars:
        return Markup(f'<p class="muted">{escape(title)}: nothing to show.</p>')
    row = 26
    label_width = 220
    height = len(bars) * row + 8
    scale_to = max([limit or Decimal(0), *(bar.value for bar in bars)]) or Decimal(1)
    span = WIDTH - label_width - 80
    parts = [_open(title, WIDTH, height)]
    for index, bar in enumerate(bars):
        y = 4 + index * row
        length = float(bar.value / scale_to) * span if bar.value > 0 else 0.0
        parts.append(
            f'<text x="0" y="{y + 15}" class="axis">{escape(bar.label[:34])}</text>'
            f'<rect class="track" x="{label_width}" y="{y + 3}" width="{span}" height="16"/>'
            f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{length:.1f}" '
            f'height="16"><title>{escape(bar.label)}: {escape(str(bar.value))}</title></rect>'
            f'<text x="{label_width + span + 6}" y="{y + 15}" class="note">'
            f"{escape(bar.note or str(bar.value))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(title: str, width: int, height: int) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">'
        f"<title>{escape(title)}</title>"
    )


def _short(label: str) -> str:
    # Days as "11-24": the year is in the period heading.
    return label[5:] if len(label) == 10 and label[4] == "-" else label[:12]
