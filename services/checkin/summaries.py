"""Attendance summaries for authorities: counts and rates of expected check-ins,
disaggregated by programme, sex, age group, nationality and vulnerability.

What is counted: every expected check-in whose window opens (``opens_at``, UTC) on a
day from ``since`` to ``until`` inclusive, by its outcome (``on_time``, ``late``,
``missed``, ``excused``, ``pending``), and ``people``, the distinct cases behind them.

- ``attendance_rate`` = (on_time + late) / (on_time + late + missed) and
  ``on_time_rate`` = on_time / (on_time + late + missed). Excused and pending windows
  are left out of both: an excused absence is not a failure to attend, and a pending
  one is not decided yet. ``None`` when nothing was decided.
- Programme, sex, nationality and vulnerabilities are the case's current values (the
  copy kept from the registry's feed), not their history. The age group is the
  person's age on the UTC date the window opens, so someone whose birthday falls in
  the period can appear in two age groups. Once a case is erased its date of birth is
  gone and each window answers with the age group written on it at erasure
  (``checkin.erasure``): the same group, so a summary answers exactly as before.
- ``vulnerability``: a case with several flags is counted in the row of each of its
  flags, so those rows add up to more than the total; a case with none is in the row
  ``none``.

Suppression, so that no individual can be singled out (``threshold``, default 5):

1. A row about fewer than ``threshold`` people is withheld whole: ``people``, every
   count and both rates are ``None`` and ``suppressed`` is true. Only its dimension
   values remain.
2. Otherwise any count ``c`` with ``0 < c < threshold`` is withheld (``None``), and a
   rate is withheld when any count it is derived from is withheld.
3. Zero is always shown: it singles nobody out. Withheld is ``None``, never 0.

Known limits: complementary disclosure is handled only for rates. A withheld count can
sometimes be recovered by subtraction, from ``expected`` minus the counts shown in the
same row, or from the total of another request grouped differently; the counts are of
check-ins, not people, so a large count can still be mostly one person's. Publishing
several overlapping tables needs a person to check them, as with any statistical
release.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.enums import Outcome
from checkin.models import CaseCopy, ExpectedCheckin

DIMENSIONS = ("programme", "sex", "age_group", "nationality", "vulnerability")
# Every outcome, in the order the columns are listed.
OUTCOMES = (Outcome.on_time, Outcome.late, Outcome.missed, Outcome.excused, Outcome.pending)
COUNTS = ("people", "expected", *OUTCOMES)
RATES = ("attendance_rate", "on_time_rate")
# The counts each rate is derived from: a rate is withheld when any of them is.
RATE_INPUTS = (Outcome.on_time, Outcome.late, Outcome.missed)
NO_VULNERABILITY = "none"
# (lowest age, label), oldest first: the first one reached is the person's group.
UNKNOWN_AGE = "unknown"
AGE_GROUPS = ((65, "65+"), (50, "50-64"), (35, "35-49"), (25, "25-34"), (18, "18-24"), (0, "0-17"))


def age_on(date_of_birth: date, day: date) -> int:
    """Completed years on ``day`` (someone born on 29 February turns a year older on
    1 March in common years)."""
    return day.year - date_of_birth.year - ((day.month, day.day) < (date_of_birth.month,
                                                                      date_of_birth.day))


def age_group(date_of_birth: date | None, day: date) -> str:
    if date_of_birth is None:  # erased before its windows' groups were kept: none known
        return UNKNOWN_AGE
    age = age_on(date_of_birth, day)
    for lowest, label in AGE_GROUPS:
        if age >= lowest:
            return label
    # Born after the window opened: a data error upstream, kept visible in the youngest group.
    return "0-17"


@dataclass
class _Tally:
    cases: set[Any] = field(default_factory=set)
    expected: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    def add(self, case_id: Any, status: str) -> None:
        self.cases.add(case_id)
        self.expected += 1
        if status in self.outcomes:
            self.outcomes[status] += 1


def _columns(group_by: Sequence[str]) -> list[sa.ColumnElement[Any]]:
    """Only what the requested dimensions need: no reference, phone hash or caseworker."""
    columns: list[Any] = [ExpectedCheckin.case_id, ExpectedCheckin.status]
    for dim in group_by:
        if dim == "age_group":
            columns += [ExpectedCheckin.opens_at, ExpectedCheckin.age_group,
                        CaseCopy.date_of_birth]
        elif dim == "vulnerability":
            columns.append(CaseCopy.vulnerabilities)
        else:
            columns.append(getattr(CaseCopy, dim))
    return columns


def _keys(row: Any, group_by: Sequence[str]) -> Iterable[tuple[str, ...]]:
    """The rows (one, or one per vulnerability flag) an expected check-in counts in."""
    keys: list[tuple[str, ...]] = [()]
    for dim in group_by:
        if dim == "age_group":
            values = [row.age_group or age_group(row.date_of_birth,
                                                 row.opens_at.astimezone(UTC).date())]
        elif dim == "vulnerability":
            values = sorted(set(row.vulnerabilities or ())) or [NO_VULNERABILITY]
        else:
            values = [getattr(row, dim)]
        keys = [key + (value,) for key in keys for value in values]
    return keys


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _publish(key: tuple[str, ...], tally: _Tally, group_by: Sequence[str],
             threshold: int) -> dict[str, Any]:
    """One output row with the suppression rule applied (see the module docstring)."""
    row: dict[str, Any] = dict(zip(group_by, key, strict=True))
    people = len(tally.cases)
    if 0 < people < threshold:
        row.update(dict.fromkeys(COUNTS + RATES), suppressed=True)
        return row
    counts = {"people": people, "expected": tally.expected, **tally.outcomes}
    on_time, late = counts[Outcome.on_time], counts[Outcome.late]
    decided = on_time + late + counts[Outcome.missed]
    rates = {
        "attendance_rate": _rate(on_time + late, decided),
        "on_time_rate": _rate(on_time, decided),
    }
    withheld = {name for name, c in counts.items() if 0 < c < threshold}
    for name in withheld:
        counts[name] = None
    if withheld & set(RATE_INPUTS):
        rates = dict.fromkeys(RATES)
    row.update(counts, **rates, suppressed=False)
    return row


async def attendance(
    session: AsyncSession, *, since: date, until: date, group_by: Sequence[str], threshold: int
) -> list[dict[str, Any]]:
    """Attendance rows for windows opening from ``since`` to ``until`` (inclusive, UTC
    days), grouped by ``group_by`` (a subset of ``DIMENSIONS``), suppressed at
    ``threshold``. No grouping gives one total row, even over no data."""
    unknown = [dim for dim in group_by if dim not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension(s): {', '.join(unknown)}")
    if len(set(group_by)) != len(group_by):
        raise ValueError("a dimension is repeated")
    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    stmt = (
        sa.select(*_columns(group_by))
        .join(CaseCopy, CaseCopy.case_id == ExpectedCheckin.case_id)
        .where(ExpectedCheckin.opens_at >= start, ExpectedCheckin.opens_at < end)
    )
    tallies: dict[tuple[str, ...], _Tally] = {}
    if not group_by:
        tallies[()] = _Tally()
    result = await session.stream(stmt)
    async for row in result:
        for key in _keys(row, group_by):
            tallies.setdefault(key, _Tally()).add(row.case_id, row.status)
    return [_publish(key, tallies[key], group_by, threshold) for key in sorted(tallies)]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    # A dimension value opening with one of these would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: Iterable[dict[str, Any]], group_by: Sequence[str]) -> str:
    """The rows as CSV with a header; a withheld cell is empty."""
    header = [*group_by, *COUNTS, *RATES, "suppressed"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in header])
    return out.getvalue()
