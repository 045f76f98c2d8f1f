"""Charts as inline SVG: line charts with marked days, sparklines, a stacked share of
audience, a coverage heat map, daily bars and progress bars.

Hand-built rather than drawn by a charting library (README, "The report"): the report is a
static file that must open offline, print, and stay small and quick to build for hundreds of
accounts over a year; these few chart kinds are plain paths over two linear scales. Every
chart is an `<svg role="img">` with a title and a description, scales to its container
(`viewBox`), and keeps the data's gaps: a day without a count breaks the line, never joins it
to zero. Values for tooltips go into SVG `<title>` elements, which browsers show on hover.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Final

from markupsafe import Markup, escape

Point = tuple[date, float]

#: Colour per platform, and for totals over every platform.
PLATFORM_COLOURS: Final = {
    "all": "#2a5db0",
    "x": "#1f2328",
    "bluesky": "#1185fe",
    "mastodon": "#6364ff",
    "youtube": "#d81e1e",
}
#: Tableau 10: distinct, colour-blind tolerant hues for brands in a landscape.
SERIES_COLOURS: Final = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
#: Heat map cell kinds (see sql/report/coverage.sql), their colours and legend words.
COVERAGE_KINDS: Final = {
    "counted": ("#59a14f", "counted by every run"),
    "partial": ("#edc948", "counted, some runs missed it"),
    "uncounted": ("#e15759", "runs saw it, no count (status)"),
    "no_run": ("#8c96a3", "no run reached it"),
}
NO_DATA_FILL: Final = "#eef0f3"
FONT_SIZE: Final = 11


def series_colour(index: int) -> str:
    """The colour of the index-th series of a chart."""
    return SERIES_COLOURS[index % len(SERIES_COLOURS)]


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Axis labels for evenly spaced ticks, in one unit (k, M, B) and with just enough
    decimals to tell neighbours apart: 1.66M, 1.665M, 1.67M."""
    largest = max((abs(tick) for tick in ticks), default=0.0)
    unit, suffix = next(
        ((limit, name) for limit, name in ((1e9, "B"), (1e6, "M"), (1e3, "k")) if largest >= limit),
        (1.0, ""),
    )
    step = abs(ticks[1] - ticks[0]) / unit if len(ticks) > 1 else 1.0
    decimals = 0
    while decimals < 4 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    return [f"{tick / unit:,.{decimals}f}{suffix}" if tick else "0" for tick in ticks]


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high], about `count` of them (1, 2, 2.5, 5 steps)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        pad = max(1.0, abs(high) * 0.01)
        low, high = low - pad, high + pad
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(power * m for m in (1, 2, 2.5, 5, 10) if power * m >= raw)
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    ticks = []
    value = first
    while value <= last + step / 2:
        ticks.append(round(value, 10))
        value += step
    return ticks


def day_ticks(first: date, last: date, most: int = 7) -> list[date]:
    """Dates for an x axis: the first of months, or of weeks (Mondays), or single days."""
    span = (last - first).days
    if span > 62:
        months = []
        cursor = date(first.year, first.month, 1)
        while cursor <= last:
            if cursor >= first:
                months.append(cursor)
            cursor = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
        step = max(1, math.ceil(len(months) / most))
        return months[::step]
    unit = 7 if span > 13 else 1
    start = first + timedelta(days=(-first.weekday()) % 7) if unit == 7 else first
    days = [start + timedelta(days=unit * n) for n in range(span // unit + 1)]
    days = [day for day in days if day <= last]
    step = max(1, math.ceil(len(days) / most))
    return days[::step]


def day_label(day: date, span_days: int) -> str:
    """An axis label for a day: `Sep 2026` over long spans, else `Sep 14`."""
    return day.strftime("%b %Y") if span_days > 62 else day.strftime("%b %-d")


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    """A chart's drawing area inside its viewBox, and its linear scales."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    first: date
    last: date
    low: float = 0.0
    high: float = 1.0

    @property
    def span(self) -> int:
        return max(1, (self.last - self.first).days)

    def x(self, day: date) -> float:
        inner = self.width - self.left - self.right
        return self.left + inner * (day - self.first).days / self.span

    def y(self, value: float) -> float:
        inner = self.height - self.top - self.bottom
        share = (value - self.low) / (self.high - self.low) if self.high != self.low else 0.5
        return self.top + inner * (1 - share)

    @property
    def day_width(self) -> float:
        return (self.width - self.left - self.right) / (self.span + 1)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(
    frame: Frame, title: str, description: str, body: Iterable[str], css_class: str = "chart"
) -> Markup:
    """An accessible SVG element around the chart's body."""
    content = "".join(body)
    # Markup from an f-string: every text from the data is escaped where it is placed (titles,
    # labels, tooltips); the rest is numbers and colours of our own.
    return Markup(  # noqa: S704
        f'<svg class="{css_class}" viewBox="0 0 {_num(frame.width)} {_num(frame.height)}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>{content}</svg>"
    )


def _segments(points: Sequence[Point]) -> list[list[Point]]:
    """Runs of points on consecutive days: a missing day breaks the line."""
    runs: list[list[Point]] = []
    for point in points:
        if runs and (point[0] - runs[-1][-1][0]).days == 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def _line(frame: Frame, points: Sequence[Point], colour: str, width: float = 1.8) -> str:
    """A path per run of consecutive days; a lone day is a dot."""
    return "".join(_path(frame, run, colour, width) for run in _segments(points))


def _path(frame: Frame, run: Sequence[Point], colour: str, width: float) -> str:
    """One unbroken line through the points (a dot when there is one)."""
    if len(run) == 1:
        day, value = run[0]
        return (
            f'<circle cx="{_num(frame.x(day))}" cy="{_num(frame.y(value))}" '
            f'r="{_num(width * 1.2)}" fill="{colour}"/>'
        )
    d = "M" + "L".join(f"{_num(frame.x(day))},{_num(frame.y(value))}" for day, value in run)
    return (
        f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="{_num(width)}" '
        f'stroke-linejoin="round" stroke-linecap="round"/>'
    )


def _y_axis(frame: Frame, ticks: Sequence[float], percent: bool = False) -> str:
    parts = []
    labels = [f"{tick:g}%" for tick in ticks] if percent else tick_labels(ticks)
    for tick, label in zip(ticks, labels, strict=True):
        y = _num(frame.y(tick))
        parts.append(
            f'<line class="grid" x1="{_num(frame.left)}" x2="{_num(frame.width - frame.right)}" '
            f'y1="{y}" y2="{y}"/>'
            f'<text class="tick" x="{_num(frame.left - 6)}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{label}</text>'
        )
    return "".join(parts)


def _x_axis(frame: Frame, most: int = 7, through: date | None = None) -> str:
    """A baseline with day ticks from the frame's first day through `through` (its last)."""
    baseline = _num(frame.height - frame.bottom)
    parts = [
        f'<line class="axis" x1="{_num(frame.left)}" x2="{_num(frame.width - frame.right)}" '
        f'y1="{baseline}" y2="{baseline}"/>'
    ]
    last = through or frame.last
    for day in day_ticks(frame.first, last, most):
        x = _num(frame.x(day))
        parts.append(
            f'<line class="axis" x1="{x}" x2="{x}" y1="{baseline}" '
            f'y2="{_num(frame.height - frame.bottom + 4)}"/>'
            f'<text class="tick" x="{x}" y="{_num(frame.height - frame.bottom + 15)}" '
            f'text-anchor="middle">{day_label(day, (last - frame.first).days)}</text>'
        )
    return "".join(parts)


@dataclasses.dataclass(frozen=True, slots=True)
class Series:
    """One line: its label, colour and points (days without a count are absent)."""

    label: str
    colour: str
    points: Sequence[Point]


@dataclasses.dataclass(frozen=True, slots=True)
class Mark:
    """A marked day on a line: an anomaly, with what explains it."""

    day: date
    direction: str  # spike or drop
    explained: bool  # a platform-wide correction explains it
    text: str  # the tooltip


def line_chart(
    series: Sequence[Series],
    first: date,
    last: date,
    *,
    title: str,
    description: str,
    marks: Sequence[Mark] = (),
    width: float = 540,
    height: float = 190,
    y_ticks: int = 4,
) -> Markup:
    """Lines over days, y from the data's range (not from zero: growth stays visible), with
    anomalies marked on the first series: ▲ spike, ▼ drop, hollow when a platform-wide
    correction explains it."""
    values = [value for line in series for _, value in line.points]
    ticks = nice_ticks(min(values), max(values), y_ticks) if values else [0.0, 1.0]
    small = width < 360
    frame = Frame(
        width,
        height,
        left=44 if small else 56,
        right=10,
        top=10,
        bottom=22,
        first=first,
        last=last,
        low=ticks[0],
        high=ticks[-1],
    )
    body = [_y_axis(frame, ticks), _x_axis(frame, 3 if small else 7)]
    body += [_line(frame, line.points, line.colour, 1.4 if small else 1.8) for line in series]
    if series and marks:
        lookup = dict(series[0].points)
        body.append(_marks(frame, lookup, marks, 4.5 if small else 6))
    return _svg(frame, title, description, body)


def _marks(frame: Frame, values: dict[date, float], marks: Sequence[Mark], size: float) -> str:
    parts = []
    for mark in marks:
        value = values.get(mark.day)
        if value is None:
            continue
        x, y = frame.x(mark.day), frame.y(value)
        if mark.direction == "spike":
            tip, base, colour = y - size * 1.6, y - size * 0.4, "#1b7f3b"
        else:
            tip, base, colour = y + size * 1.6, y + size * 0.4, "#c0262d"
        fill = "#ffffff" if mark.explained else colour
        parts.append(
            f'<g class="mark {escape(mark.direction)}">'
            f'<path d="M{_num(x)},{_num(tip)}L{_num(x - size)},{_num(base)}'
            f'L{_num(x + size)},{_num(base)}Z" fill="{fill}" stroke="{colour}" '
            f'stroke-width="1.5"/><title>{escape(mark.text)}</title></g>'
        )
    return "".join(parts)


def sparkline(
    points: Sequence[Point],
    first: date,
    last: date,
    *,
    title: str,
    width: float = 120,
    height: float = 28,
) -> Markup:
    """A small line without axes, at most one point per horizontal pixel (the day's last
    count), with the last count dotted; a missing day still breaks the line."""
    if not points:
        frame = Frame(width, height, 2, 2, 3, 3, first, last)
        return _svg(frame, title, "no count in this window", [], "spark")
    values = [value for _, value in points]
    low, high = min(values), max(values)
    if low == high:
        low, high = low - 1, high + 1
    frame = Frame(width, height, 2, 4, 3, 3, first, last, low, high)
    body = []
    for run in _segments(points):
        kept: dict[int, Point] = {}
        for day, value in run:
            kept[int(frame.x(day))] = (day, value)  # the last count per pixel column
        body.append(_path(frame, list(kept.values()), PLATFORM_COLOURS["all"], 1.3))
    day, value = points[-1]
    body.append(
        f'<circle cx="{_num(frame.x(day))}" cy="{_num(frame.y(value))}" r="2.2" '
        f'fill="{PLATFORM_COLOURS["all"]}"/>'
    )
    return _svg(frame, title, "sparkline of the daily counts", body, "spark")


@dataclasses.dataclass(frozen=True, slots=True)
class Band:
    """One brand's share of a landscape per day, in percent."""

    label: str
    colour: str
    shares: dict[date, float]


def share_chart(
    bands: Sequence[Band],
    days: Sequence[date],
    first: date,
    last: date,
    *,
    title: str,
    description: str,
    width: float = 1100,
    height: float = 260,
) -> Markup:
    """Shares stacked to 100% per day, first band at the bottom; a day without a share of
    the landscape is left empty."""
    frame = Frame(width, height, 44, 10, 10, 22, first, last, 0.0, 100.0)
    body = [_y_axis(frame, [0, 25, 50, 75, 100], percent=True), _x_axis(frame)]
    floor = dict.fromkeys(days, 0.0)
    runs = _day_runs(days)
    half = frame.day_width / 2 if len(days) == 1 else 0.0
    for band in bands:
        for run in runs:
            top = [(day, floor[day] + band.shares.get(day, 0.0)) for day in run]
            bottom = [(day, floor[day]) for day in reversed(run)]
            edge = [(frame.x(day) - half, frame.y(value)) for day, value in top]
            if half:
                edge.append((frame.x(run[-1]) + half, frame.y(top[-1][1])))
                back = [(frame.x(bottom[0][0]) + half, frame.y(bottom[0][1]))]
                back += [(frame.x(day) - half, frame.y(value)) for day, value in bottom]
            else:
                back = [(frame.x(day), frame.y(value)) for day, value in bottom]
            outline = "L".join(f"{_num(x)},{_num(y)}" for x, y in edge + back)
            body.append(
                f'<path d="M{outline}Z" fill="{band.colour}" fill-opacity="0.88" '
                f'stroke="#ffffff" stroke-width="0.6"><title>{escape(band.label)}</title></path>'
            )
            for day, value in top:
                floor[day] = value
    return _svg(frame, title, description, body)


def _day_runs(days: Sequence[date]) -> list[list[date]]:
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


@dataclasses.dataclass(frozen=True, slots=True)
class Stretch:
    """Consecutive days of one coverage kind for one account."""

    first: date
    last: date
    kind: str


@dataclasses.dataclass(frozen=True, slots=True)
class HeatRow:
    """One account's row of the coverage heat map."""

    label: str
    group: str
    summary: str
    stretches: Sequence[Stretch]


def heat_map(
    rows: Sequence[HeatRow],
    first: date,
    last: date,
    *,
    title: str,
    description: str,
    width: float = 1100,
) -> Markup:
    """Accounts × days, one colour per coverage kind; each kind is one path of rectangles
    (consecutive days of a kind are one rectangle), so a year of 500 accounts stays small.
    Rows are labelled by account when there is room, else by group (brand) where it starts."""
    row_height = 14.0 if len(rows) <= 40 else max(2.0, min(14.0, 640 / max(1, len(rows))))
    labelled = row_height >= 10
    left = 170.0
    frame = Frame(
        width, row_height * len(rows) + 30, left, 10, 4, 26, first, last + timedelta(days=1)
    )
    plot_right = frame.width - frame.right
    cell = (plot_right - left) / frame.span
    body = [
        f'<rect x="{_num(left)}" y="{_num(frame.top)}" width="{_num(plot_right - left)}" '
        f'height="{_num(row_height * len(rows))}" fill="{NO_DATA_FILL}"/>'
    ]
    paths: dict[str, list[str]] = {kind: [] for kind in COVERAGE_KINDS}
    labels = []
    for index, row in enumerate(rows):
        y = frame.top + index * row_height
        for stretch in row.stretches:
            if stretch.kind not in paths:
                continue
            x = frame.x(stretch.first)
            w = ((stretch.last - stretch.first).days + 1) * cell
            h = row_height - (1 if row_height >= 4 else 0)
            paths[stretch.kind].append(f"M{_num(x)},{_num(y)}h{_num(w)}v{_num(h)}h{_num(-w)}z")
        hint = (
            f'<rect class="row-hit" x="0" y="{_num(y)}" width="{_num(plot_right)}" '
            f'height="{_num(row_height)}" fill="transparent">'
            f"<title>{escape(row.label)}: {escape(row.summary)}</title></rect>"
        )
        if labelled:
            labels.append(
                f'<text class="tick" x="{_num(left - 6)}" y="{_num(y + row_height / 2)}" '
                f'text-anchor="end" dominant-baseline="middle">{escape(row.label)}</text>'
            )
        labels.append(hint)
    if not labelled:
        for group, members in itertools.groupby(enumerate(rows), key=lambda item: item[1].group):
            indexes = [index for index, _ in members]
            start, size = indexes[0], len(indexes)
            y = frame.top + start * row_height
            labels.append(
                f'<line class="grid" x1="{_num(left - 4)}" x2="{_num(plot_right)}" '
                f'y1="{_num(y)}" y2="{_num(y)}"/>'
            )
            if size * row_height >= 9:
                labels.append(
                    f'<text class="tick" x="{_num(left - 6)}" y="{_num(y + 4)}" '
                    f'text-anchor="end" dominant-baseline="hanging">{escape(group)}</text>'
                )
    for kind, pieces in paths.items():
        if pieces:
            colour, words = COVERAGE_KINDS[kind]
            body.append(
                f'<path class="cells {kind}" d="{"".join(pieces)}" fill="{colour}">'
                f"<title>{escape(words)}</title></path>"
            )
    body += labels
    body.append(_x_axis(frame, through=last))
    return _svg(frame, title, description, body, "chart heat")


@dataclasses.dataclass(frozen=True, slots=True)
class Bar:
    """A day's bar and its tooltip."""

    day: date
    value: float
    text: str


def bar_panels(
    panels: Sequence[tuple[str, str, Sequence[Bar]]],
    first: date,
    last: date,
    *,
    title: str,
    description: str,
    width: float = 1100,
    panel_height: float = 96,
) -> Markup:
    """Aligned bar charts over the same days, one panel per (label, colour, bars), each
    with its label above it and its own scale from zero."""
    height = panel_height * len(panels) + 24
    outer = Frame(width, height, 56, 10, 0, 24, first, last + timedelta(days=1))
    bar_width = max(1.0, 0.8 * (width - outer.left - outer.right) / outer.span)
    parts = []
    for index, (label, colour, bars) in enumerate(panels):
        top = index * panel_height
        highest = max((bar.value for bar in bars), default=0.0)
        ticks = nice_ticks(0, highest if highest > 0 else 1, 2)
        frame = dataclasses.replace(
            outer, top=top + 22, bottom=height - top - panel_height + 6, low=0.0, high=ticks[-1]
        )
        parts.append(
            f'<text class="panel-label" x="{_num(frame.left)}" y="{_num(top + 4)}" '
            f'dominant-baseline="hanging">{escape(label)}</text>'
        )
        parts.append(_y_axis(frame, ticks))
        for bar in bars:
            if bar.value <= 0:
                continue
            y = frame.y(bar.value)
            parts.append(
                f'<rect x="{_num(frame.x(bar.day))}" y="{_num(y)}" width="{_num(bar_width)}" '
                f'height="{_num(frame.y(0) - y)}" fill="{colour}">'
                f"<title>{escape(bar.text)}</title></rect>"
            )
    parts.append(_x_axis(outer, through=last))
    return _svg(outer, title, description, parts)


def progress_bar(share: float, *, title: str, width: float = 90, height: float = 10) -> Markup:
    """A bar filled to `share` (0 to 1) of its width."""
    frame = Frame(width, height, 0, 0, 0, 0, date.min, date.min)
    filled = max(0.0, min(1.0, share)) * width
    body = [
        f'<rect width="{_num(width)}" height="{_num(height)}" rx="3" fill="{NO_DATA_FILL}"/>',
        f'<rect width="{_num(filled)}" height="{_num(height)}" rx="3" '
        f'fill="{PLATFORM_COLOURS["all"]}"/>',
    ]
    return _svg(frame, title, title, body, "progress")
