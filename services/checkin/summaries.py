"""Attendance summaries for supervisors and authorities: counts and rates of expected
check-ins, disaggregated, read from the rollups (``checkin.rollups``), never from the
expected check-ins themselves.

What is counted: every expected check-in whose window opens on a local date (the
person's time zone) from ``since`` to ``until`` inclusive, by its outcome (``on_time``,
``late``, ``missed``, ``excused``, ``pending``); ``expected`` is all of them; ``people``
is the distinct cases behind them.

- ``attendance_rate`` = attended / decided and ``on_time_rate`` = on_time / decided,
  where attended = on_time + late and decided = on_time + late + missed (that is,
  expected − excused − pending): an excused absence is not a failure to attend, and a
  pending window is not decided yet. ``None`` when nothing was decided.
- Dimensions are those stamped on each window (``checkin.rollups``): the case's
  programme, sex, age group on the window's local date, nationality and vulnerabilities
  as they were when it was planned and first decided, and the check-in's ``channel``
  and ``reporting_centre`` (``none`` without one). ``period`` groups by ISO week
  (``2026-W49``) or month (``2026-12``) of the local date.
- ``vulnerability``: a case with several flags is counted in the row of each, so those
  rows add up to more than the total; a case with none is in the row ``none``.

Two audiences:

- a supervisor gets exact counts, every row;
- an ``authority`` gets every count perturbed by the cell-key method
  (``checkin.cellkey``): units are cases for ``people`` and expected check-ins for the
  outcome counts, each with its record key. Each count of each row is a cell of its
  own, and so is the total (``total``: one cell per count over everything asked for,
  never the sum of the rows). A count that ends under the threshold is withheld
  (``None``); a row whose ``people`` is withheld is not listed at all (its dimension
  values could single someone out) and ``withheld_rows`` says how many were left out.
- An authority's rates come from two more perturbed cells of the row, its attended
  and its decided expected check-ins (counted and keyed like any other), never from
  ``expected`` minus withheld counts. So a small excused or pending count, withheld,
  does not withhold the rate (the first rule did, and almost every rate of a real
  table went blank); a rate is withheld only when its own attended, on-time or
  decided cell is. Noise can put a rate over 1 or the on-time rate over the
  attendance rate by a hair: each is capped, which only uses published values.

Why this defeats differencing: a withheld or small value cannot be recovered by
subtracting published ones, because each published value carries its own noise,
fixed by its own cell key. ``expected`` minus a row's outcomes, a total minus its
rows, or one date range minus another gives the true count plus a sum of independent
noises, not the true count; asking again gives the same noise, so nothing averages out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from pyroaring import BitMap
from sqlalchemy.ext.asyncio import AsyncSession

from checkin import bitmap_cache, folding
from checkin.bitmap_cache import BitmapCache
from checkin.cellkey import PTable
from checkin.enums import Audience, Outcome, Period
from checkin.models import AttendanceRollup
from checkin.rollups import (
    CUBES,
    KEYS,
    NONE,
    OUTCOMES,
    key_sums,
    period_start,
    record_keys_sync,
)

DIMENSIONS = ("programme", "sex", "age_group", "nationality", "vulnerability", "channel",
              "reporting_centre", "period")
COUNTS = ("people", "expected", *OUTCOMES)
RATES = ("attendance_rate", "on_time_rate")
NO_VULNERABILITY = NONE
ALL = "(all)"
ROLLUP = AttendanceRollup.__table__  # type: ignore[attr-defined]
# Per group: each outcome's count, then its key sum, then the rows, their people and
# their people's key sum.
SUMS = ([sa.func.sum(ROLLUP.c[o]) for o in OUTCOMES]
        + [sa.func.sum(ROLLUP.c[f"{o}_keys"]) for o in OUTCOMES]
        + [sa.func.count(), sa.func.sum(ROLLUP.c.people), sa.func.sum(ROLLUP.c.people_keys)])


def cover(since: date, until: date, period: Period | None) -> list[tuple[str, date]]:
    """The fewest rollup periods that make up ``since``..``until``: whole months, then
    whole weeks, then days. Grouped by week, no month is used; by month, no week that
    crosses into another month."""
    pieces: list[tuple[str, date]] = []
    day = since
    while day <= until:
        if period != Period.week and day.day == 1:
            following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
            if following - timedelta(days=1) <= until:
                pieces.append(("month", day))
                day = following
                continue
        if period != Period.month or (day + timedelta(days=6)).month == day.month:
            if day.weekday() == 0 and day + timedelta(days=6) <= until:
                pieces.append(("week", day))
                day += timedelta(days=7)
                continue
        pieces.append(("day", day))
        day += timedelta(days=1)
    return pieces


def period_label(period: Period, day: date) -> str:
    if period == Period.week:
        year, week, _ = period_start("week", day).isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


# A group's sums, as the database returns them (``SUMS``): each outcome's count, each
# outcome's key sum, then the rollup rows summed in, their people and people's key sum.
# A group of one rollup row takes its people from the row and needs no bitmap.
_N = len(OUTCOMES)
_ROWS, _PEOPLE, _PEOPLE_KEYS = 2 * _N, 2 * _N + 1, 2 * _N + 2
# The outcomes (their places in ``OUTCOMES``) the rates are read from: attended and
# decided are cells of their own, for an authority perturbed like any count.
_ON_TIME = OUTCOMES.index(Outcome.on_time)
_ATTENDED = (_ON_TIME, OUTCOMES.index(Outcome.late))
_DECIDED = (*_ATTENDED, OUTCOMES.index(Outcome.missed))


def _groups(values: Sequence[Any], group_by: Sequence[str]) -> list[tuple[str, ...]]:
    """The rows (one, or one per vulnerability flag) a rollup group counts in; ``values``
    are the group's columns in ``group_by`` order (the period's label last)."""
    if "vulnerability" not in group_by:
        return [tuple(values)]
    keys: list[tuple[str, ...]] = [()]
    for dim, value in zip(group_by, values, strict=True):
        if dim == "vulnerability":
            names = sorted(set(filter(None, value.split("|")))) or [NO_VULNERABILITY]
        else:
            names = [value]
        keys = [key + (name,) for key in keys for name in names]
    return keys


def _rates(attended: int | None, on_time: int | None,
           decided: int | None) -> tuple[float | None, float | None]:
    if decided is None or decided <= 0:
        return None, None
    attendance = None if attended is None else round(min(attended / decided, 1.0), 4)
    on_time_rate = None if on_time is None else round(min(on_time / decided, 1.0), 4)
    if attendance is not None and on_time_rate is not None:
        on_time_rate = min(on_time_rate, attendance)
    return attendance, on_time_rate


def _exact(sums: Sequence[int], people: int) -> list[Any]:
    """A supervisor's values in ``COUNTS`` then ``RATES`` order."""
    counts = sums[:_N]
    return [people, sum(counts), *counts,
            *_rates(sum(counts[i] for i in _ATTENDED), counts[_ON_TIME],
                    sum(counts[i] for i in _DECIDED))]


def _perturbed(sums: Sequence[int], people: int, people_key: int, ptable: PTable,
               threshold: int) -> list[Any]:
    """An authority's values in ``COUNTS`` then ``RATES`` order: each count a cell of
    its own, and the rates from the attended and decided cells."""
    counts, keys = sums[:_N], sums[_N:2 * _N]

    def cell(slots: Sequence[int]) -> int | None:
        return ptable.perturb(sum(counts[i] for i in slots), sum(keys[i] for i in slots),
                              threshold)

    outcomes = [cell((i,)) for i in range(_N)]
    return [ptable.perturb(people, people_key, threshold), cell(range(_N)), *outcomes,
            *_rates(cell(_ATTENDED), outcomes[_ON_TIME], cell(_DECIDED))]


async def attendance(
    session: AsyncSession, *, since: date, until: date, group_by: Sequence[str],
    period: Period | None = None, audience: Audience = Audience.exact,
    ptable: PTable | None = None, threshold: int = 5, cache: BitmapCache | None = None,
) -> dict[str, Any]:
    """The summary of windows opening on local dates ``since``..``until``, grouped by
    ``group_by`` (a subset of ``DIMENSIONS``; ``period`` needs ``period``), for
    ``audience``: ``{"rows": [...], "total": {...}, "withheld_rows": n}``. ``cache``
    keeps the bitmaps it reads for the next summary (``checkin.bitmap_cache``)."""
    unknown = [dim for dim in group_by if dim not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension(s): {', '.join(unknown)}")
    if len(set(group_by)) != len(group_by):
        raise ValueError("a dimension is repeated")
    if ("period" in group_by) != (period is not None):
        raise ValueError("period is grouped by exactly when it is given")
    # Every change committed before this summary is counted: the moves not folded yet
    # are folded first (usually none: the job keeps up).
    await folding.fold_all(session)
    stamps = {"vulnerabilities" if d == "vulnerability" else d for d in group_by} - {"period"}
    cube = min((i for i, dims in enumerate(CUBES) if stamps <= set(dims)),
               key=lambda i: len(CUBES[i]))
    pieces = cover(since, until, period)
    by_grain: dict[str, list[date]] = {}
    for grain, start in pieces:
        by_grain.setdefault(grain, []).append(start)
    covered = sa.or_(*(sa.and_(ROLLUP.c.grain == grain, ROLLUP.c.period.in_(starts))
                       for grain, starts in by_grain.items()))
    # The columns a group is told by: the dimensions asked for, the period's start last.
    columns = [ROLLUP.c["vulnerabilities" if d == "vulnerability" else d]
               for d in group_by if d != "period"]
    if period is not None:
        # The database puts each piece of the cover under its week's or month's label,
        # so a month made of days and weeks at the range's edges is one group.
        columns.append(sa.case({start: period_label(period, start) for _, start in pieces},
                               value=ROLLUP.c.period))
        group_by = [d for d in group_by if d != "period"] + ["period"]
    width = len(columns)
    # Counts and key sums add up: the database sums them per group. Only vulnerability
    # puts one database group in several rows (a row per flag), whose sums are added here.
    groups: dict[tuple[Any, ...], list[int]] = {}
    targets: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    split = "vulnerability" in group_by
    if group_by:
        for row in (await session.execute(sa.select(*columns, *SUMS).where(
                ROLLUP.c.cube == cube, covered).group_by(*columns))).all():
            # Never NULL: a group has rows, and the columns are integers (sums too).
            values, numbers = row[:width], list(row[width:])
            if not split:
                groups[values] = numbers
                continue
            targets[values] = _groups(values, group_by)
            for key in targets[values]:
                if key in groups:
                    groups[key] = [a + b for a, b in zip(groups[key], numbers, strict=True)]
                else:
                    groups[key] = numbers
    # The total is a cell of its own, from the total cube: a few rows whatever the grouping.
    total = [int(n or 0) for n in (await session.execute(
        sa.select(*SUMS).where(ROLLUP.c.cube == 0, covered))).one()]
    # People do not add up: a group of several rows unions their bitmaps.
    several = {key for key, sums in groups.items() if sums[_ROWS] > 1}
    unions: dict[tuple[Any, ...], BitMap] = {}
    if several:
        bitmaps: dict[tuple[Any, ...], list[BitMap]] = {}
        for values, bitmap in await bitmap_cache.read(session, cache, columns,
                                                      sa.and_(ROLLUP.c.cube == cube, covered)):
            for key in targets[values] if split else [values]:
                if key in several:
                    bitmaps.setdefault(key, []).append(bitmap)
        unions = {key: BitMap.union(*found) for key, found in bitmaps.items()}
    if total[_ROWS] > 1:
        unions[()] = BitMap.union(*(bitmap for _, bitmap in await bitmap_cache.read(
            session, cache, [], sa.and_(ROLLUP.c.cube == 0, covered))))
    people_keys: dict[tuple[Any, ...], int] = {}
    if audience == Audience.cell_key and unions:
        record_keys = await session.run_sync(record_keys_sync)
        people_keys = dict(zip(unions, key_sums(record_keys, list(unions.values())),
                               strict=True))

    def values_of(key: tuple[Any, ...], sums: list[int]) -> list[Any]:
        union = unions.get(key)
        people = sums[_PEOPLE] if union is None else len(union)
        if audience == Audience.exact:
            return _exact(sums, people)
        assert ptable is not None
        people_key = sums[_PEOPLE_KEYS] % KEYS if union is None else people_keys[key]
        return _perturbed(sums, people, people_key, ptable, threshold)

    header = [*group_by, *COUNTS, *RATES]
    rows, withheld = [], 0
    for key in sorted(groups):
        values = values_of(key, groups[key])
        if values[0] is None:  # people withheld: the row is not listed at all
            withheld += 1
            continue
        rows.append(dict(zip(header, (*key, *values), strict=True)))
    return {"rows": rows,
            "total": dict(zip(header, (*(ALL,) * len(group_by), *values_of((), total)),
                              strict=True)),
            "withheld_rows": withheld}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    # A dimension value opening with one of these would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: Iterable[dict[str, Any]], group_by: Sequence[str]) -> str:
    """RFC 4180: a header, CRLF line ends, fields quoted where needed; a withheld cell
    is empty."""
    header = [*group_by, *COUNTS, *RATES]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in header])
    return out.getvalue()
