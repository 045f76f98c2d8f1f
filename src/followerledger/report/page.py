"""The report page: the charts of each section drawn from its rows, and the HTML around them.

The page is one Jinja template (`templates/report.html.j2`) with its stylesheet inlined and no
script: nothing to load, nothing to run, so it opens from a file, offline, and prints.
Numbers are formatted here, once; a value that is unknown is shown as such (a status, or a
dash saying why), never as 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import jinja2

from followerledger.report import charts
from followerledger.report.data import Brand, BrandLine, Landscape, ReportData, Row

#: How statuses read in the report.
STATUS_WORDS: Final = {
    "ok": "counted",
    "not_found": "not found",
    "suspended": "suspended",
    "deactivated": "deactivated",
    "protected": "protected",
    "hidden": "hidden",
    "error": "error",
}
#: Gaps listed in the table (the heat map shows them all).
GAPS_LISTED: Final = 200
#: Anomalies marked and listed per brand: the strongest (by |score|); a noisy account must
#: not bury the chart, and the table says how many more the anomalies relation has.
MARKED_PER_BRAND: Final = 12


def count(value: int | float | None) -> str:
    """A count with thousands separators ('' when unknown: callers say why)."""
    return "" if value is None else f"{value:,.0f}"


def signed(value: int | float | None) -> str:
    """A change with its sign: +1,234 or −56."""
    if value is None:
        return ""
    return f"{value:+,.0f}".replace("-", "−")


def percent(value: float | None, digits: int = 2) -> str:
    """A signed percentage: +1.25%; changes too small to show read <0.01%."""
    if value is None:
        return ""
    smallest = 10.0**-digits
    if 0 < abs(value) < smallest:
        return f"{'+' if value > 0 else '−'}<{smallest:.{digits}f}%"
    return f"{value:+.{digits}f}%".replace("-", "−")


def dollars(value: float | None) -> str:
    """An amount in US dollars: $1,361.25."""
    return "" if value is None else f"${value:,.2f}"


def score(value: float) -> str:
    """An anomaly's score, one decimal, with a true minus sign."""
    return f"{value:.1f}".replace("-", "−")


def points(value: float | None) -> str:
    """A change of share in percentage points: +0.4 pp; changes too small to show, <0.1."""
    if value is None:
        return ""
    if 0 < abs(value) < 0.05:
        return f"{'+' if value > 0 else '−'}<0.1 pp"
    return f"{value:+.1f} pp".replace("-", "−")


def status_word(status: str | None) -> str:
    """A status as words; an account no run has reached yet has none."""
    return "not observed yet" if status is None else STATUS_WORDS.get(status, status)


class Formatter:
    """Times in the report's time zone (storage is UTC; only display changes)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def moment(self, value: datetime | None) -> str:
        """A timestamp in the report's zone, to the minute, with the zone's abbreviation."""
        if value is None:
            return ""
        return value.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z")


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("followerledger.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        count=count,
        signed=signed,
        percent=percent,
        points=points,
        dollars=dollars,
        score=score,
        status_word=status_word,
    )
    return environment


_ENVIRONMENT: Final = _environment()


def render_page(data: ReportData, *, zone: ZoneInfo, generated_at: datetime) -> str:
    """The whole report as one HTML document."""
    window = data.window
    formatter = Formatter(zone)
    return _ENVIRONMENT.get_template("report.html.j2").render(
        data=data,
        window=window,
        zone=zone.key,
        at=formatter.moment,
        generated_at=generated_at,
        brands=[brand_view(brand, data) for brand in data.brands],
        accounts=[account_view(account, data) for account in data.accounts],
        landscapes=[landscape_view(landscape, data) for landscape in data.landscapes],
        projections=[projection_view(row) for row in data.projections],
        coverage=coverage_view(data),
        gaps=data.gaps[:GAPS_LISTED],
        gaps_left_out=max(0, len(data.gaps) - GAPS_LISTED),
        runs=runs_view(data),
        platform_colour=charts.platform_colour,
        coverage_kinds=charts.COVERAGE_KINDS,
    )


def mark_text(row: Row) -> str:
    """An anomaly's words (its mark's ARIA label): when, whose, how big, what explains it."""
    because = row["platform_event"] or "the account's own change"
    return (
        f"{row['day']} · {row['platform']} {row['handle']}: {row['direction']} of "
        f"{signed(row['change'])} followers (score {row['score']:.1f}) · {because}"
    )


def _marks(rows: Sequence[Row]) -> list[charts.Mark]:
    return [
        charts.Mark(row["day"], row["direction"], row["platform_event"] is not None, mark_text(row))
        for row in rows
    ]


def _line_summary(line: BrandLine) -> Row:
    first, last = line.rows[0], line.rows[-1]
    change = last["followers"] - first["followers"]
    return {
        "platform": line.platform,
        "first_day": first["day"],
        "first": first["followers"],
        "last_day": last["day"],
        "last": last,
        "change": change,
        "change_pct": 100 * change / first["followers"] if first["followers"] else None,
    }


def brand_view(brand: Brand, data: ReportData) -> dict[str, Any]:
    """A brand's card: the total over every platform, one small chart per platform, the
    numbers per platform and the marked days."""
    window = data.window
    marked = sorted(brand.anomalies, key=lambda row: -abs(row["score"]))[:MARKED_PER_BRAND]
    marked.sort(key=lambda row: (row["day"], row["platform"], row["handle"]))
    total = next((line for line in brand.lines if line.platform == "all"), None)
    platforms = [line for line in brand.lines if line.platform != "all"]
    main = None
    if total is not None:
        main = charts.line_chart(
            [
                charts.Series(
                    "all platforms",
                    charts.PLATFORM_COLOURS["all"],
                    total.points,
                    _marks(marked),
                )
            ],
            window.first_day,
            window.last_day,
            title=f"{brand.name}: followers over every platform",
            description=(
                f"{brand.name}'s total followers per UTC day from {window.first_day} to "
                f"{window.last_day}; marked days are anomalies, listed in the table below."
            ),
        )
    small = None
    if len(platforms) > 1:
        small = charts.line_chart(
            [
                charts.Series(
                    line.platform,
                    charts.platform_colour(line.platform),
                    line.points,
                    _marks([a for a in brand.anomalies if a["platform"] == line.platform]),
                )
                for line in platforms
            ],
            window.first_day,
            window.last_day,
            title=f"{brand.name} per platform",
            description=(
                f"{brand.name}'s followers per UTC day on each platform "
                f"({', '.join(line.platform for line in platforms)}), one panel each."
            ),
            width=226,
            height=90,
        )
    return {
        "name": brand.name,
        "anchor": f"brand-{_slug(brand.name)}",
        "total": _line_summary(total) if total else None,
        "main": main,
        "small": small,
        "rows": [_line_summary(line) for line in brand.lines],
        "anomalies": marked,
        "anomalies_left_out": len(brand.anomalies) - len(marked),
    }


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "x"


def account_view(account: Row, data: ReportData) -> dict[str, Any]:
    """An account's row: sparkline, latest count or status, changes, rank."""
    window = data.window
    points = account["sparkline"]
    if points:
        trend = (
            f"{account['handle']}: {count(points[0][1])} on {points[0][0]}, "
            f"{count(points[-1][1])} on {points[-1][0]}"
        )
    else:
        trend = f"{account['handle']}: no count from {window.first_day} to {window.last_day}"
    return {
        **account,
        "spark": charts.sparkline(points, window.first_day, window.last_day, title=trend),
        "counted": account["status"] == "ok" and account["followers"] is not None,
    }


def landscape_view(landscape: Landscape, data: ReportData) -> dict[str, Any]:
    """A landscape's stacked shares over time, and the latest day's numbers."""
    window = data.window
    latest = landscape.on(landscape.last_day)
    order = [row["brand"] for row in latest]
    order += sorted({row["brand"] for row in landscape.rows} - set(order))
    colours = {brand: charts.series_colour(index) for index, brand in enumerate(order)}
    shares: dict[str, dict[date, float]] = {brand: {} for brand in order}
    first_share: dict[str, float] = {}
    for row in landscape.rows:
        shares[row["brand"]][row["day"]] = row["share_pct"]
        first_share.setdefault(row["brand"], row["share_pct"])
    incomplete = sorted(
        {row["day"] for row in landscape.rows if row["brands_included"] < row["brands_expected"]}
    )
    chart = charts.share_chart(
        [charts.Band(brand, colours[brand], shares[brand]) for brand in order],
        landscape.days,
        window.first_day,
        window.last_day,
        title=f"{landscape.name}: share of audience",
        description=(
            f"Each brand's percentage of the followers of {landscape.name} over every "
            f"platform, per UTC day from {window.first_day} to {window.last_day}."
        ),
    )
    return {
        "name": landscape.name,
        "anchor": f"landscape-{_slug(landscape.name)}",
        "chart": chart,
        "day": landscape.last_day,
        "legend": [(brand, colours[brand]) for brand in order],
        "rows": [
            {
                **row,
                "colour": colours[row["brand"]],
                "share_change": row["share_pct"] - first_share[row["brand"]],
            }
            for row in latest
        ],
        "incomplete_days": incomplete,
    }


def projection_view(row: Row) -> dict[str, Any]:
    """A projection with how far the account is to its next milestone (a `<meter>`)."""
    progress = None
    if row["next_milestone"]:
        share = min(1.0, row["followers"] / row["next_milestone"])
        progress = {
            "share": share,
            "title": f"{count(row['followers'])} of {count(row['next_milestone'])} ({share:.0%})",
        }
    return {**row, "progress": progress}


def coverage_view(data: ReportData) -> dict[str, Any]:
    """The heat map of watched accounts × days, and each account's days per kind."""
    window = data.window
    rows = []
    summaries = []
    for account in data.accounts:
        days = dict.fromkeys(charts.COVERAGE_KINDS, 0)
        for stretch in account["coverage"]:
            days[stretch["kind"]] += stretch["days"]
        rows.append(
            charts.HeatRow(
                f"{account['platform']} {account['handle']}",
                account["brand"],
                [
                    charts.Stretch(s["first_day"], s["last_day"], s["kind"])
                    for s in account["coverage"]
                ],
            )
        )
        summaries.append({**account, "days": days})
    chart = charts.heat_map(
        rows,
        window.first_day,
        window.last_day,
        title="Coverage: watched accounts × days",
        description=(
            f"One row per watched account, one column per UTC day from {window.first_day} to "
            f"{window.last_day}; the colour says whether the day's runs counted the account. "
            "The table of gaps below lists the stretches without a count."
        ),
    )
    return {"chart": chart, "accounts": summaries}


def runs_view(data: ReportData) -> dict[str, Any]:
    """Requests and accounts without a count per day, and the window's totals."""
    window = data.window
    days = data.run_days
    chart = None
    if days:
        chart = charts.bar_panels(
            [
                (
                    "requests",
                    charts.PLATFORM_COLOURS["all"],
                    [
                        charts.Bar(
                            d["day"],
                            d["requests"],
                            f"{d['day']}: {count(d['requests'])} requests in {d['runs']} runs",
                        )
                        for d in days
                    ],
                ),
                (
                    "accounts without a count",
                    "#c0262d",
                    [
                        charts.Bar(
                            d["day"],
                            d["uncounted"],
                            f"{d['day']}: {count(d['uncounted'])} account rows without a count "
                            f"({count(d['errors'])} errors)",
                        )
                        for d in days
                    ],
                ),
            ],
            window.first_day,
            window.last_day,
            title="Run health per day",
            description=(
                "Per UTC day: the requests the snapshot runs made, and the account rows they "
                "wrote without a count (not found, suspended, hidden, errors)."
            ),
        )
    costs = [d["x_cost_usd"] for d in days if d["x_cost_usd"] is not None]
    quota = [d["quota_units"] for d in days if d["quota_units"] is not None]
    return {
        "chart": chart,
        "runs": sum(d["runs"] for d in days),
        "requests": sum(d["requests"] for d in days),
        "quota_units": sum(quota) if quota else None,
        "x_cost_usd": sum(costs) if costs else None,
        "uncounted": sum(d["uncounted"] for d in days),
        "errors": sum(d["errors"] for d in days),
        "last": data.last_runs,
    }
