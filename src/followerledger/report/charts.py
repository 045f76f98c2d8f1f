"""Charts as Vega-Lite specs, rendered to static inline SVG by vl-convert.

Each function builds a declarative Vega-Lite spec from the rows it is given and renders it
in-process (`vl_convert.vegalite_to_svg`, no browser, no network: external data is refused)
to an `<svg role="img">` with a title and a description, scaled to its container
(`viewBox`). The page therefore runs no script and loads nothing, and prints as vectors.
The data's gaps stay visible: a day without a count is a null, which breaks the line
(`invalid: break-paths-show-domains`), never a 0. Sparklines are not rendered here but drawn
as one polyline each (`sparkline`): README, "The report", says why.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import vl_convert
from markupsafe import Markup, escape

Point = tuple[date, float]
Spec = dict[str, Any]

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
#: Anomaly shapes: ▲ spike, ▼ drop, in the colour of a rise or a fall.
MARK_SHAPES: Final = {"spike": ("triangle-up", "#1b7f3b"), "drop": ("triangle-down", "#c0262d")}
NO_DATA_FILL: Final = "#eef0f3"
DAY_MS: Final = 86_400_000
HALF_DAY_MS: Final = DAY_MS // 2
INK: Final = "#1f2328"
MUTED: Final = "#5b6470"

#: Counts on a y axis in one unit (k, M, B: d3's SI "G" reads as giga to analysts).
COUNT_LABELS: Final = "replace(format(datum.value, '~s'), 'G', 'B')"
#: The look every chart shares: transparent, muted axes, the page's grey grid.
CONFIG: Final[Spec] = {
    "background": None,
    "font": "sans-serif",
    "view": {"stroke": None},
    "axis": {
        "title": None,
        "labelColor": MUTED,
        "labelFontSize": 11,
        "gridColor": "#e6e9ee",
        "domainColor": "#aab2bd",
        "tickColor": "#aab2bd",
        "labelOverlap": True,
    },
    "axisX": {"grid": False, "labelFlush": True},
    "header": {"labelColor": INK, "labelFontSize": 12, "labelFontWeight": 600, "title": None},
    "legend": {"disable": True},
}


def series_colour(index: int) -> str:
    """The colour of the index-th series of a chart."""
    return SERIES_COLOURS[index % len(SERIES_COLOURS)]


def epoch_ms(day: date) -> int:
    """A UTC day as Vega's time value: milliseconds since the epoch at its midnight."""
    return int(datetime.combine(day, time(), UTC).timestamp() * 1000)


def day_axis(first: date, last: date, **axis: object) -> Spec:
    """A UTC time x encoding spanning the window's days, labelled `Sep 2026` over long
    spans, else `Sep 14`."""
    long = (last - first).days > 62
    return {
        "type": "temporal",
        "scale": {"type": "utc", "domain": [epoch_ms(first), epoch_ms(last)]},
        "axis": {
            "labelExpr": f"utcFormat(datum.value, '{'%b %Y' if long else '%b %-d'}')",
            "tickCount": {"interval": "utcmonth" if long else "utcweek"},
            **axis,
        },
    }


def render(spec: Spec, *, title: str, description: str, css_class: str = "chart") -> Markup:
    """The spec drawn as accessible inline SVG: `role="img"` named by its `<title>`, with
    the description as `<desc>` (also the spec's own `description`, which Vega gives the
    chart's marks as their ARIA description)."""
    svg = vl_convert.vegalite_to_svg(
        {"description": description, "config": CONFIG, **spec}, allowed_base_urls=[]
    )
    view_box = re.search(r'viewBox="([^"]+)"', svg)
    if not svg.startswith("<svg") or view_box is None:
        raise RuntimeError(f"vl-convert returned no SVG for the chart {title!r}")
    body = svg[svg.index(">") + 1 :]
    # Markup from an f-string: Vega escapes every text it writes; ours is escaped here.
    return Markup(  # noqa: S704
        f'<svg class="{escape(css_class)}" viewBox="{view_box.group(1)}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f"<desc>{escape(description)}</desc>{body}"
    )


def _runs(points: Sequence[Point]) -> list[list[Point]]:
    """Runs of points on consecutive days: a missing day starts a new run."""
    runs: list[list[Point]] = []
    for point in points:
        if runs and (point[0] - runs[-1][-1][0]).days == 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def line_rows(points: Sequence[Point]) -> list[Spec]:
    """A line's rows: each count, and a null on the day after each run that another
    follows, so the line breaks over the missing days instead of joining across them."""
    rows: list[Spec] = []
    for run in _runs(points):
        if rows:
            rows.append({"day": epoch_ms(after + timedelta(days=1)), "value": None})
        rows += [{"day": epoch_ms(day), "value": value} for day, value in run]
        after = run[-1][0]
    return rows


@dataclasses.dataclass(frozen=True, slots=True)
class Mark:
    """A marked day on a line: an anomaly, with what explains it."""

    day: date
    direction: str  # spike or drop
    explained: bool  # a platform-wide correction explains it
    text: str  # its ARIA description


def _line_layers(points: Sequence[Point], colour: str, width: float) -> list[Spec]:
    """The line (broken at missing days) and a dot for each day alone between gaps."""
    layers: list[Spec] = [
        {
            "data": {"values": line_rows(points)},
            "mark": {
                "type": "line",
                "invalid": "break-paths-show-domains",
                "color": colour,
                "strokeWidth": width,
                "strokeJoin": "round",
                "strokeCap": "round",
                "aria": False,
            },
            "encoding": {"y": {"field": "value"}},
        }
    ]
    lone = [{"day": epoch_ms(run[0][0]), "value": run[0][1]} for run in _runs(points) if len(run) == 1]
    if lone:
        layers.append(
            {
                "data": {"values": lone},
                "mark": {"type": "circle", "color": colour, "size": 4 * width * width * 3},
                "encoding": {"y": {"field": "value"}},
            }
        )
    return layers


def _mark_layer(points: Sequence[Point], marks: Sequence[Mark], size: float) -> Spec | None:
    """Anomalies on the line: ▲ spike, ▼ drop, hollow when a platform event explains it."""
    values = dict(points)
    rows = [
        {
            "day": epoch_ms(mark.day),
            "value": values[mark.day],
            "direction": mark.direction,
            "fill": "#ffffff" if mark.explained else MARK_SHAPES[mark.direction][1],
            "text": mark.text,
        }
        for mark in marks
        if mark.day in values and mark.direction in MARK_SHAPES
    ]
    if not rows:
        return None
    directions = list(MARK_SHAPES)
    return {
        "name": "anomalies",
        "data": {"values": rows},
        "mark": {"type": "point", "filled": True, "size": size, "strokeWidth": 1.5, "opacity": 1},
        "encoding": {
            "y": {"field": "value"},
            "shape": {
                "field": "direction",
                "scale": {"domain": directions, "range": [MARK_SHAPES[d][0] for d in directions]},
            },
            "stroke": {
                "field": "direction",
                "scale": {"domain": directions, "range": [MARK_SHAPES[d][1] for d in directions]},
            },
            "fill": {"field": "fill", "scale": None},
            "description": {"field": "text"},
        },
    }


def line_chart(
    points: Sequence[Point],
    first: date,
    last: date,
    *,
    colour: str,
    title: str,
    description: str,
    marks: Sequence[Mark] = (),
    width: int = 500,
    height: int = 160,
) -> Markup:
    """Counts over days, y from the data's range (not from zero: growth stays visible), with
    the anomalies marked on the line."""
    small = width < 360
    layers = _line_layers(points, colour, 1.4 if small else 1.8)
    marked = _mark_layer(points, marks, 60 if small else 110)
    if marked:
        layers.append(marked)
    spec: Spec = {
        "width": width,
        "height": height,
        "encoding": {
            "x": {"field": "day", **day_axis(first, last, labelOverlap="greedy")},
            "y": {
                "type": "quantitative",
                "scale": {"zero": False, "nice": True},
                "axis": {"labelExpr": COUNT_LABELS, "tickCount": 3 if small else 4},
            },
        },
        "layer": layers,
    }
    return render(spec, title=title, description=description)


def sparkline(
    points: Sequence[Point],
    first: date,
    last: date,
    *,
    title: str,
    width: int = 120,
    height: int = 28,
) -> Markup:
    """A small line without axes: one polyline per run of consecutive days (a missing day
    breaks it), at most one point per pixel column (the day's last count), the last count
    dotted. Drawn directly, not by vl-convert: a sparkline is one path, and a render per
    account would cost several seconds on a large watchlist (README, "The report")."""
    left, right, top, bottom = 2.0, 4.0, 3.0, 3.0
    span = max(1, (last - first).days)
    inner_width, inner_height = width - left - right, height - top - bottom
    colour = PLATFORM_COLOURS["all"]
    shapes = []
    if points:
        values = [value for _, value in points]
        low, high = min(values), max(values)
        if low == high:
            low, high = low - 1, high + 1

        def xy(day: date, value: float) -> tuple[str, str]:
            x = left + inner_width * (day - first).days / span
            y = top + inner_height * (1 - (value - low) / (high - low))
            return _num(x), _num(y)

        for run in _runs(points):
            kept: dict[int, Point] = {}
            for day, value in run:
                kept[int(width * (day - first).days / span)] = (day, value)
            if len(kept) > 1:
                line = " ".join(",".join(xy(*point)) for point in kept.values())
                shapes.append(f'<polyline points="{line}"/>')
            elif len(run) == 1:
                x, y = xy(*run[0])
                shapes.append(f'<circle cx="{x}" cy="{y}" r="1.6" fill="{colour}" stroke="none"/>')
        x, y = xy(*points[-1])
        shapes.append(f'<circle cx="{x}" cy="{y}" r="2.2" fill="{colour}" stroke="none"/>')
    description = "sparkline of the daily counts" if points else "no count in this window"
    # Markup from an f-string: the title is escaped, the rest is our numbers and colours.
    return Markup(  # noqa: S704
        f'<svg class="spark" viewBox="0 0 {width} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<desc>{description}</desc><g fill="none" stroke="{colour}" stroke-width="1.3" '
        f'stroke-linejoin="round" stroke-linecap="round">{"".join(shapes)}</g></svg>'
    )


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


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
    width: int = 1060,
    height: int = 220,
) -> Markup:
    """Shares stacked to 100% per day, first band at the bottom. Each run of consecutive
    days is its own area, so a day without a share of the landscape is left empty; within a
    run, a brand left out of a day (no count) has no band that day."""
    area = {"type": "area", "stroke": "#ffffff", "strokeWidth": 0.6, "fillOpacity": 0.9, "clip": True}
    layers = []
    for run in _day_runs(days):
        # A lone day is an area too: half a day either side of it.
        stops = (
            [(run[0], epoch_ms(run[0]) - HALF_DAY_MS), (run[0], epoch_ms(run[0]) + HALF_DAY_MS)]
            if len(run) == 1
            else [(day, epoch_ms(day)) for day in run]
        )
        rows = [
            {"day": at, "brand": band.label, "order": order, "share": band.shares.get(day, 0.0)}
            for order, band in enumerate(bands)
            for day, at in stops
        ]
        layers.append({"data": {"values": rows}, "mark": {**area, "aria": False}})
    spec: Spec = {
        "width": width,
        "height": height,
        # One layer per run of consecutive days: a stack imputes missing days as 0 within a
        # layer, so runs must not share one.
        "layer": layers,
        "encoding": {
            "x": {"field": "day", **day_axis(first, last)},
            "y": {
                "field": "share",
                "type": "quantitative",
                "stack": "normalize",
                "scale": {"domain": [0, 1]},
                "axis": {"format": "~%", "values": [0, 0.25, 0.5, 0.75, 1]},
            },
            "color": {
                "field": "brand",
                "type": "nominal",
                "scale": {
                    "domain": [band.label for band in bands],
                    "range": [band.colour for band in bands],
                },
            },
            "order": {"field": "order", "type": "quantitative"},
        },
    }
    return render(spec, title=title, description=description)


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
    stretches: Sequence[Stretch]


def heat_map(
    rows: Sequence[HeatRow],
    first: date,
    last: date,
    *,
    title: str,
    description: str,
    width: int = 900,
) -> Markup:
    """Accounts × days, one colour per coverage kind. Each stretch of consecutive days of a
    kind is one rectangle (x to x2), so a year of 500 accounts stays small. Rows are labelled
    by account when there is room, else by group (brand) on its first row."""
    row_height = 14.0 if len(rows) <= 40 else max(2.0, min(14.0, 640 / max(1, len(rows))))
    keys = [f"{index:05d}" for index in range(len(rows))]
    if row_height >= 10:
        labels = {key: row.label for key, row in zip(keys, rows, strict=True)}
        shown = keys
    else:
        shown = [
            key
            for index, (key, row) in enumerate(zip(keys, rows, strict=True))
            if index == 0 or rows[index - 1].group != row.group
        ]
        labels = {key: rows[int(key)].group for key in shown}
    cells = [
        {
            "row": key,
            "from": epoch_ms(stretch.first),
            "to": epoch_ms(stretch.last + timedelta(days=1)),
            "kind": stretch.kind,
        }
        for key, row in zip(keys, rows, strict=True)
        for stretch in row.stretches
        if stretch.kind in COVERAGE_KINDS
    ]
    kinds = list(COVERAGE_KINDS)
    spec: Spec = {
        "width": width,
        "height": max(row_height, row_height * len(rows)),
        "view": {"fill": NO_DATA_FILL},
        "data": {"values": cells},
        "mark": {"type": "rect", "aria": False},
        "encoding": {
            "x": {"field": "from", **day_axis(first, last + timedelta(days=1))},
            "x2": {"field": "to"},
            "y": {
                "field": "row",
                "type": "ordinal",
                "scale": {"domain": keys, "paddingInner": 0.08 if row_height >= 4 else 0},
                "axis": {
                    "values": shown,
                    "labelExpr": f"{_js_object(labels)}[datum.value]",
                    "ticks": False,
                    "domain": False,
                    "labelOverlap": False,
                    "labelLimit": 160,
                    "labelFontSize": 11 if row_height >= 10 else 10,
                },
            },
            "color": {
                "field": "kind",
                "scale": {"domain": kinds, "range": [COVERAGE_KINDS[kind][0] for kind in kinds]},
            },
        },
    }
    return render(spec, title=title, description=description, css_class="chart heat")


def _js_object(labels: dict[str, str]) -> str:
    """A Vega expression object literal mapping keys to labels (quotes escaped)."""

    def quoted(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return "{" + ",".join(f"{quoted(key)}:{quoted(text)}" for key, text in labels.items()) + "}"


@dataclasses.dataclass(frozen=True, slots=True)
class Bar:
    """A day's bar and its ARIA description."""

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
    width: int = 1060,
    panel_height: int = 70,
) -> Markup:
    """Aligned bar charts over the same days, one panel per (label, colour, bars), each
    titled and with its own scale from zero; a day with nothing has no bar."""
    charts = []
    for label, colour, bars in panels:
        rows = [
            {
                "from": epoch_ms(bar.day),
                "to": epoch_ms(bar.day) + int(0.8 * DAY_MS),
                "value": bar.value,
                "text": bar.text,
            }
            for bar in bars
            if bar.value > 0
        ]
        charts.append(
            {
                "title": {"text": label, "anchor": "start", "fontSize": 12, "color": INK},
                "width": width,
                "height": panel_height,
                "data": {"values": rows},
                "mark": {"type": "rect", "color": colour},
                "encoding": {
                    "x": {"field": "from", **day_axis(first, last + timedelta(days=1))},
                    "x2": {"field": "to"},
                    "y": {
                        "field": "value",
                        "type": "quantitative",
                        "scale": {"domainMin": 0, "nice": True},
                        "axis": {"labelExpr": COUNT_LABELS, "tickCount": 2},
                    },
                    "description": {"field": "text"},
                },
            }
        )
    return render({"vconcat": charts, "spacing": 10}, title=title, description=description)
