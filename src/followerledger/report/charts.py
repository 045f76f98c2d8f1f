"""Charts as Vega-Lite specs, rendered to static inline SVG by vl-convert.

Each function builds a declarative Vega-Lite spec from the rows it is given and renders it
in-process (`vl_convert.vegalite_to_svg`, no browser, no network: external data is refused)
to an `<svg role="img">` with a title and a description, scaled to its container
(`viewBox`). The page therefore runs no script and loads nothing, and prints as vectors.
The data's gaps stay visible: a day without a count is a null, which breaks the line
(`invalid: break-paths-show-domains`), never a 0. Sparklines are the exception: one
polyline each, drawn here (docs/report.md says why).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
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
    "twitch": "#9146ff",
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
#: Heat map cell kinds (see sql/html_report/coverage.sql), their colours and legend words.
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


def day_axis(first: date, last: date, *, most: int = 8, **axis: object) -> Spec:
    """A UTC time x encoding spanning the window's days, with at most about `most` ticks on
    weeks or months, labelled `Sep 14` or, over long spans, `Sep 2026`."""
    span = (last - first).days
    long = span > 62
    unit = 30 if long else 7
    return {
        "type": "temporal",
        "scale": {"type": "utc", "domain": [epoch_ms(first), epoch_ms(last)]},
        "axis": {
            "labelExpr": f"utcFormat(datum.value, '{'%b %Y' if long else '%b %-d'}')",
            "tickCount": {
                "interval": "month" if long else "week",
                "step": max(1, math.ceil(span / unit / most)),
            },
            "labelSeparation": 4,
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
    body = _hover_titles(_own_ids(svg[svg.index(">") + 1 :]))
    # Markup from an f-string: Vega escapes every text it writes; ours is escaped here.
    return Markup(  # noqa: S704
        f'<svg class="{escape(css_class)}" viewBox="{view_box.group(1)}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f"<desc>{escape(description)}</desc>{body}"
    )


def _hover_titles(svg: str) -> str:
    """Each labelled mark (an anomaly, a day's bar: the spec's `description` channel) also
    given its label as an SVG `<title>`, which browsers show on hover without a script."""
    return re.sub(
        r'<path aria-label="([^"]*)" role="graphics-symbol"([^>]*)/>',
        r'<path aria-label="\1" role="graphics-symbol"\2><title>\1</title></path>',
        svg,
    )


def _own_ids(svg: str) -> str:
    """The SVG with its element ids (Vega's clip paths: clip1, clip2 …) made unique to it,
    so that charts inlined in one page never clip by another chart's path."""
    ids = re.findall(r'\bid="([^"]+)"', svg)
    if not ids:
        return svg
    prefix = hashlib.blake2s(svg.encode(), digest_size=5).hexdigest()
    names = "|".join(re.escape(name) for name in ids)
    return re.sub(
        rf'(\bid="|url\(#|href="#)({names})\b', lambda match: f"{match[1]}{prefix}-{match[2]}", svg
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


@dataclasses.dataclass(frozen=True, slots=True)
class Mark:
    """A marked day on a line: an anomaly, with what explains it."""

    day: date
    direction: str  # spike or drop
    explained: bool  # a platform-wide correction explains it
    text: str  # its ARIA description


@dataclasses.dataclass(frozen=True, slots=True)
class Series:
    """One line: its label, colour, counts (a day without one is absent) and marked days."""

    label: str
    colour: str
    points: Sequence[Point]
    marks: Sequence[Mark] = ()


def series_rows(series: Series) -> list[Spec]:
    """The rows a series is drawn from, by part: `line` (each count, and a null on the day
    after each run of consecutive days that another follows, so the line breaks over the
    missing days instead of joining across them), `dot` (a day alone between gaps, which a
    line cannot show) and `mark` (an anomaly on the line)."""
    label = series.label
    rows: list[Spec] = []
    after: date | None = None
    for run in _runs(series.points):
        if after is not None:
            gap = epoch_ms(after + timedelta(days=1))
            rows.append({"series": label, "part": "line", "day": gap, "value": None})
        rows += [
            {"series": label, "part": "line", "day": epoch_ms(day), "value": value}
            for day, value in run
        ]
        if len(run) == 1:
            day, value = run[0]
            rows.append({"series": label, "part": "dot", "day": epoch_ms(day), "value": value})
        after = run[-1][0]
    values = dict(series.points)
    rows += [
        {
            "series": label,
            "part": "mark",
            "day": epoch_ms(mark.day),
            "value": values[mark.day],
            "direction": mark.direction,
            "fill": "#ffffff" if mark.explained else MARK_SHAPES[mark.direction][1],
            "text": mark.text,
        }
        for mark in series.marks
        if mark.day in values and mark.direction in MARK_SHAPES
    ]
    return rows


def _only(part: str) -> list[Spec]:
    return [{"filter": {"field": "part", "equal": part}}]


def _line_layers(rows: Sequence[Spec], stroke: float, dot: float, marks: float) -> list[Spec]:
    """The layers drawing `series_rows`: lines broken at nulls, dots for lone days and the
    anomalies (▲ spike, ▼ drop, hollow when a platform event explains it); a part without
    rows has no layer (each costs render time)."""
    directions = list(MARK_SHAPES)
    parts = {row["part"] for row in rows}
    layers = [
        {
            "transform": _only("line"),
            "mark": {
                "type": "line",
                "invalid": "break-paths-show-domains",
                "strokeWidth": stroke,
                "strokeJoin": "round",
                "strokeCap": "round",
                "aria": False,
            },
        },
        {
            "transform": _only("dot"),
            "mark": {"type": "circle", "size": dot, "opacity": 1, "aria": False},
        },
        {
            "name": "anomalies",
            "transform": _only("mark"),
            "mark": {
                "type": "point",
                "filled": True,
                "size": marks,
                "strokeWidth": 1.5,
                "opacity": 1,
            },
            "encoding": {
                "shape": {
                    "field": "direction",
                    "scale": {
                        "domain": directions,
                        "range": [MARK_SHAPES[d][0] for d in directions],
                    },
                },
                "stroke": {
                    "field": "direction",
                    "scale": {
                        "domain": directions,
                        "range": [MARK_SHAPES[d][1] for d in directions],
                    },
                },
                "fill": {"field": "fill", "scale": None},
                "description": {"field": "text"},
            },
        },
    ]
    return [
        layer
        for layer, part in zip(layers, ("line", "dot", "mark"), strict=True)
        if part in parts or part == "line"
    ]


def _series_encoding(
    series: Sequence[Series], first: date, last: date, *, axes: bool, small: bool = False
) -> Spec:
    """x by UTC day over the window, y from the data's range, colour per series."""
    x = {"field": "day", **day_axis(first, last, most=4 if small else 10)}
    if not axes:
        x["axis"] = None
    return {
        "x": x,
        "y": {
            "field": "value",
            "type": "quantitative",
            "scale": {"zero": False, "nice": axes},
            "axis": {"labelExpr": COUNT_LABELS, "tickCount": 3 if small else 4} if axes else None,
        },
        "color": {
            "field": "series",
            "type": "nominal",
            "scale": {
                "domain": [line.label for line in series],
                "range": [line.colour for line in series],
            },
        },
    }


def line_chart(
    series: Sequence[Series],
    first: date,
    last: date,
    *,
    title: str,
    description: str,
    width: int = 500,
    height: int = 160,
    columns: int = 2,
) -> Markup:
    """Counts over days, y from the data's range (not from zero: growth stays visible), with
    the anomalies marked on the line. Several series are small multiples in one SVG: a
    panel each, `columns` to a row, each with its own y scale."""
    small = len(series) > 1
    rows = [row for line in series for row in series_rows(line)]
    unit: Spec = {
        "width": width,
        "height": height,
        "encoding": _series_encoding(series, first, last, axes=True, small=small),
        "layer": _line_layers(
            rows, 1.4 if small else 1.8, 14 if small else 20, 60 if small else 110
        ),
    }
    spec: Spec = {"data": {"values": rows}}
    if small:
        spec |= {
            "facet": {
                "field": "series",
                "type": "nominal",
                "sort": [line.label for line in series],
                "header": {"labelAnchor": "start", "labelPadding": 4},
            },
            "columns": columns,
            "spec": unit,
            "resolve": {"scale": {"y": "independent"}},
            "spacing": {"column": 24, "row": 12},
        }
    else:
        spec |= unit
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
    account would cost several seconds on a large watchlist (docs/report.md)."""
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
    area = {
        "type": "area",
        "stroke": "#ffffff",
        "strokeWidth": 0.6,
        "fillOpacity": 0.9,
        "clip": True,
    }
    layers = []
    for run in [[day for day, _ in run] for run in _runs([(day, 0.0) for day in sorted(days)])]:
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
    width: int = 1040,
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
