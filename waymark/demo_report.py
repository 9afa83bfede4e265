"""What ``waymark demo`` shows at the end: the attendance summaries as tables, and the
weekly attendance by programme as an SVG line chart (hand-written: one chart does not
warrant a plotting library and its dependencies).

Every summary is asked of checkin's ``GET /v1/summaries/attendance`` through
``attendance_summary`` alone, so moving to the rebuilt summaries (issue 12:
``group_by=programme,period`` with ``period=week``, the authority's perturbed cells)
changes that function and ``weekly_attendance``, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any
from xml.sax.saxutils import escape

import httpx

COLUMNS = (("people", "people"), ("expected", "expected"), ("on_time", "on time"),
           ("late", "late"), ("missed", "missed"), ("excused", "excused"),
           ("pending", "pending"), ("attendance_rate", "attended"),
           ("on_time_rate", "on time %"))
WITHHELD = "·"  # a withheld cell (fewer people or check-ins than the threshold)
COLOURS = ("#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#7b4b94", "#00798c")


async def attendance_summary(client: httpx.AsyncClient, *, auth: httpx.Auth, since: date,
                             until: date, group_by: Sequence[str]) -> dict[str, Any]:
    """Checkin's attendance summary for windows opening from ``since`` to ``until``
    (inclusive), as the caller ``auth`` speaks for sees it: ``rows`` and the
    ``suppression_threshold`` they were published with."""
    params: dict[str, str] = {"from": since.isoformat(), "to": until.isoformat()}
    if group_by:
        params["group_by"] = ",".join(group_by)
    response = await client.get("/v1/summaries/attendance", params=params, auth=auth)
    response.raise_for_status()
    return response.json()


Rate = tuple[float, float] | None  # (lowest, highest) it can be; equal when published


async def weekly_attendance(client: httpx.AsyncClient, *, auth: httpx.Auth, since: date,
                            weeks: int) -> dict[str, list[Rate]]:
    """Attendance rate by programme, week by week from ``since`` (one request per week:
    the current endpoint has no period grouping). A rate the summary withholds is
    given as the range it must lie in (``rate_range``); ``None`` where nothing was
    decided or the whole row is withheld."""
    series: dict[str, list[Rate]] = {}
    for week in range(weeks):
        start = since + timedelta(days=7 * week)
        summary = await attendance_summary(client, auth=auth, since=start,
                                           until=start + timedelta(days=6),
                                           group_by=("programme",))
        for row in summary["rows"]:
            series.setdefault(row["programme"], [None] * weeks)[week] = rate_range(
                row, summary["suppression_threshold"])
    return dict(sorted(series.items()))


def rate_range(row: dict[str, Any], threshold: int) -> Rate:
    """The attendance rate, or where a count behind it is withheld (so from 1 to
    ``threshold - 1``), the lowest and highest it can be: the weekly rows of a
    programme often withhold a handful of late or missed check-ins, and a chart of
    gaps would show nothing. The summary's known limit (``checkin.summaries``)."""
    if row.get("suppressed"):
        return None
    if row.get("attendance_rate") is not None:
        return (row["attendance_rate"], row["attendance_rate"])
    bounds = {name: (row[name], row[name]) if row.get(name) is not None else (1, threshold - 1)
              for name in ("on_time", "late", "missed")}
    attended_low = bounds["on_time"][0] + bounds["late"][0]
    attended_high = bounds["on_time"][1] + bounds["late"][1]
    if attended_low + bounds["missed"][1] == 0 or attended_high + bounds["missed"][0] == 0:
        return None
    return (attended_low / (attended_low + bounds["missed"][1]),
            attended_high / (attended_high + bounds["missed"][0]))


def _cell(name: str, value: Any) -> str:
    if value is None:
        return WITHHELD
    if name.endswith("_rate"):
        return f"{value * 100:.0f}%"
    return str(value)


def table(rows: Sequence[dict[str, Any]], group_by: Sequence[str]) -> str:
    """The rows as a plain-text table, a withheld cell shown as ``·``."""
    headers = [*group_by, *(label for _, label in COLUMNS)]
    body = [[str(row.get(dim)) for dim in group_by]
            + [_cell(name, row.get(name)) for name, _ in COLUMNS] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(headers)]
    dims = len(group_by)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < dims else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in body)])


def svg_chart(series: dict[str, list[Rate]], *, since: date,
              title: str = "Weekly attendance by programme") -> str:
    """A line chart, one ``<g class="series">`` per programme (``data-programme``), the
    attendance rate (0 to 100 %) by week. A published rate is a filled dot; a withheld
    one a hollow dot at the middle of its range, with the range as a bar; a week
    with nothing decided is a gap."""
    weeks = max((len(v) for v in series.values()), default=0)
    width, height, left, right, top, bottom = 780, 440, 60, 230, 50, 70
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(week: int) -> float:
        return left + (plot_w * week / (weeks - 1) if weeks > 1 else plot_w / 2)

    def y(rate: float) -> float:
        return top + plot_h * (1 - rate)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<title>{escape(title)}</title>',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="28" font-size="16">{escape(title)}</text>']
    for percent in range(0, 101, 20):
        gy = y(percent / 100)
        out.append(f'<line x1="{left}" y1="{gy:.1f}" x2="{left + plot_w}" y2="{gy:.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{gy + 4:.1f}" text-anchor="end">{percent}%</text>')
    for week in range(weeks):
        label = (since + timedelta(days=7 * week)).strftime("%d %b")
        out.append(f'<text x="{x(week):.1f}" y="{top + plot_h + 20}" '
                   f'text-anchor="middle">{escape(label)}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 40}" '
               f'text-anchor="middle">week starting (attended: on time or late, of those '
               f'decided)</text>')
    out.append(f'<text x="{left}" y="{height - 8}" fill="#555">Hollow dot and bar: the '
               f'summary withholds a count under its threshold; the rate lies on the bar.'
               f'</text>')
    for number, (programme, rates) in enumerate(series.items()):
        colour = COLOURS[number % len(COLOURS)]
        out.append(f'<g class="series" data-programme="{escape(programme)}" '
                   f'stroke="{colour}" fill="{colour}">')
        for segment in _segments(rates):
            points = " ".join(f"{x(w):.1f},{y((lo + hi) / 2):.1f}" for w, (lo, hi) in segment)
            out.append(f'<polyline points="{points}" fill="none" stroke-width="2"/>')
            for w, (lo, hi) in segment:
                tip = (f"{lo * 100:.0f}%" if lo == hi
                       else f"withheld: {lo * 100:.0f}% to {hi * 100:.0f}%")
                if lo != hi:
                    out.append(f'<line x1="{x(w):.1f}" y1="{y(lo):.1f}" x2="{x(w):.1f}" '
                               f'y2="{y(hi):.1f}" stroke-width="6" stroke-opacity="0.3"/>')
                fill = "" if lo == hi else ' fill="white"'
                out.append(f'<circle cx="{x(w):.1f}" cy="{y((lo + hi) / 2):.1f}" r="3.5"'
                           f'{fill}><title>{escape(programme)}: {tip}</title></circle>')
        ly = top + 10 + 22 * number
        out.append(f'<rect x="{left + plot_w + 20}" y="{ly - 9}" width="12" height="12"/>')
        out.append(f'<text x="{left + plot_w + 38}" y="{ly + 1}" stroke="none" '
                   f'fill="#222">{escape(programme)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _segments(rates: Sequence[Rate]) -> list[list[tuple[int, tuple[float, float]]]]:
    """Runs of weeks with a rate: a gap breaks the line."""
    runs: list[list[tuple[int, tuple[float, float]]]] = [[]]
    for week, rate in enumerate(rates):
        if rate is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((week, rate))
    return [run for run in runs if run]


def print_summary(title: str, rows: Sequence[dict[str, Any]], group_by: Sequence[str],
                  out: Callable[[str], None] = print) -> None:
    out(f"\n{title}")
    out(table(rows, group_by))
