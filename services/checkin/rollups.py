"""Attendance rollups: what summaries read, so a summary never scans the expected
check-ins. Every change to an expected check-in logs where the window moved, in its
own transaction (``record``); ``checkin.folding`` folds the log into the rollups from a
job and before every summary.

Stamping. A window is counted under the dimensions it is stamped with
(``ExpectedCheckin.programme`` … ``reporting_centre``, ``local_date``): the case's
programme, sex, age group on the local date the window opens, nationality and
vulnerabilities when it is planned, stamped again when it is first decided (pending →
anything), and the check-in's channel and reporting centre (``none`` without one). A
later change of the case leaves decided windows where they were: the past is not
rewritten. ``before_flush`` stamps ORM changes; the check-in path, which writes with
core statements, stamps with ``settled_values`` and logs with ``record``.

The rollup (``AttendanceRollup``): one row per grain (``day``, ``week`` from Monday,
``month``), period and combination of stamped dimensions, holding per outcome the
count of windows and the sum of their record keys modulo 256. Both add up across rows,
so a date range is covered by whole months, then whole weeks, then days at the edges,
and dimensions not asked for are summed away. Vulnerabilities are kept as the set
(``a|b``): a window counts once in a total and once under each of its flags.

People are distinct cases, which do not add up across days or across rows (the same
person is in many). Each rollup row keeps its cases as a roaring bitmap (``pyroaring``)
and a summary unions the bitmaps of the rows it reads: exact distinct counts at any
grouping and any range, in a few milliseconds per thousand rows, and small (a bitmap
of n cases takes about 2n bytes). Per-case period rows were the alternative; they are
exact only for whole periods, and a query over them is a ``COUNT(DISTINCT)`` over a
million rows a month, the scan this avoids. A case's bitmap member is its serial
(dense, so a row's bitmap compresses to about 2 bytes a case); the cell key of a
people count (the sum of its cases' record keys) is looked up by serial
(``record_keys_sync``, cached).

Cubes. The full combination of the seven stamps has nearly a row per case and month
at national scale, so narrower cubes are kept beside it (``CUBES``: the total;
programme × sex × age × nationality; programme × sex × age × vulnerabilities;
programme × channel × centre; sex, age group and nationality alone), and a summary
reads the smallest one that has its dimensions; the full cube answers any other
grouping.

A case leaves a row's bitmap only when none of its windows is left in that row (a
check-in moves a window from channel ``none`` to ``sms``, while the case's other
windows of the month may stay there): folding looks at the case's own windows to tell.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from pyroaring import BitMap
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from checkin.enums import Outcome
from checkin.models import AttendanceRollup, CaseCopy, ExpectedCheckin, RollupMove

GRAINS = ("day", "week", "month")
# The stamped dimensions, in the rollup's column order.
STAMPS = ("programme", "sex", "age_group", "nationality", "vulnerabilities", "channel",
          "reporting_centre")
OUTCOMES = (Outcome.on_time, Outcome.late, Outcome.missed, Outcome.excused, Outcome.pending)
# The cubes kept, each over some of the stamps (the rest summed away, ``*`` in the row):
# a summary reads the smallest cube that has every dimension it groups by. The full
# cube answers any grouping; the narrow ones keep the common ones small at national
# scale (the full cube has nearly a row per case and month).
CUBES: tuple[tuple[str, ...], ...] = (
    (),
    ("programme", "sex", "age_group", "nationality"),
    ("programme", "sex", "age_group", "vulnerabilities"),
    ("programme", "channel", "reporting_centre"),
    STAMPS,
    # One dimension each (che0013): a year by sex reads a few dozen rows, not thousands.
    ("sex",),
    ("age_group",),
    ("nationality",),
)
ANY = "*"
# Per cube, whether it keeps each stamp.
_KEPT = tuple(tuple(n in dims for n in STAMPS) for dims in CUBES)
# Between the fields of a rollup key or a logged cell: cannot be typed into a centre's name.
SEPARATOR = "\x1f"
NONE = "none"
UNKNOWN = "unknown"
KEYS = 256
# (lowest age, label), oldest first: the first one reached is the person's group.
AGE_GROUPS = ((65, "65+"), (50, "50-64"), (35, "35-49"), (25, "25-34"), (18, "18-24"), (0, "0-17"))
# The case in a bitmap: its serial.
MEMBER = CaseCopy.serial
ROLLUP = AttendanceRollup.__table__  # type: ignore[attr-defined]
# Cases read per query when a flush stamps many windows at once.
CASES_PER_QUERY = 10_000
MOVES = RollupMove.__table__  # type: ignore[attr-defined]
WINDOWS = ExpectedCheckin.__table__  # type: ignore[attr-defined]


def age_on(date_of_birth: date, day: date) -> int:
    """Completed years on ``day`` (someone born on 29 February turns a year older on
    1 March in common years)."""
    return day.year - date_of_birth.year - ((day.month, day.day) < (date_of_birth.month,
                                                                      date_of_birth.day))


def age_group(date_of_birth: date | None, day: date) -> str:
    if date_of_birth is None:
        return UNKNOWN
    age = age_on(date_of_birth, day)
    for lowest, label in AGE_GROUPS:
        if age >= lowest:
            return label
    # Born after the window opened: a data error upstream, kept visible in the youngest group.
    return "0-17"


def period_start(grain: str, day: date) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def key_sums(keys: Any, bitmaps: Sequence[BitMap]) -> list[int]:
    """The sum of the record keys of the cases in each bitmap, modulo 256, with
    ``keys`` the record key of every serial (a numpy array, ``record_keys``)."""
    return [int(keys[np.frombuffer(b.to_array(), dtype=np.uint32)].sum()) % KEYS
            if len(b) else 0 for b in bitmaps]


_KEYS: dict[str, tuple[tuple[int, int, int], Any]] = {}


def record_keys_sync(session: Session) -> Any:
    return record_keys_on(session.connection())


def record_keys_on(conn: sa.Connection) -> Any:
    """Every case's record key by serial (a numpy array), cached per database while the
    case copies' count, top serial and key sum stay the same (keys never change; copies
    are only added, except by tests)."""
    stamp = tuple(conn.execute(sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.max(CaseCopy.serial), 0),
        sa.func.coalesce(sa.func.sum(CaseCopy.record_key), 0))).one())
    cached = _KEYS.get(str(conn.engine.url))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    keys = np.zeros(int(stamp[1]) + 1, dtype=np.int64)
    for serial, key in conn.execute(sa.select(CaseCopy.serial, CaseCopy.record_key)
                                    .where(CaseCopy.serial.is_not(None))):
        keys[serial] = key
    _KEYS[str(conn.engine.url)] = (stamp, keys)  # type: ignore[assignment]
    return keys


# --- stamping -------------------------------------------------------------------------


def case_stamps(case: CaseCopy, opens_at: Any) -> dict[str, Any]:
    """What a window takes from its case: the local opening date and the case's
    dimensions on it. An erased case has no date of birth: its windows keep theirs."""
    local = opens_at.astimezone(ZoneInfo(case.timezone)).date()
    stamps = {"local_date": local, "programme": case.programme, "sex": case.sex,
              "nationality": case.nationality,
              "vulnerabilities": "|".join(sorted(set(case.vulnerabilities or ())))}
    if case.date_of_birth is not None:
        stamps["age_group"] = age_group(case.date_of_birth, local)
    return stamps


def settled_values(expected: ExpectedCheckin, case: CaseCopy, *, channel: str,
                   reporting_centre: str | None) -> dict[str, Any]:
    """The stamps of a window a check-in settles (the check-in path's core update)."""
    values = case_stamps(case, expected.opens_at) if expected.status == Outcome.pending else {}
    return {**values, "channel": str(channel), "reporting_centre": reporting_centre or NONE}


def _stamp(window: ExpectedCheckin, case: CaseCopy | None, *, planned: bool) -> None:
    if case is not None:
        for name, value in case_stamps(case, window.opens_at).items():
            setattr(window, name, value)
    if window.local_date is None:  # no case copy: a data error, kept visible as unknown
        window.local_date = window.opens_at.astimezone(UTC).date()
    for name in ("programme", "sex", "nationality", "age_group"):
        if getattr(window, name) is None:
            setattr(window, name, UNKNOWN)
    if window.vulnerabilities is None:
        window.vulnerabilities = ""
    if planned or window.channel is None:
        window.channel = window.channel or NONE
        window.reporting_centre = window.reporting_centre or NONE


# --- cells and moves ------------------------------------------------------------------


class Cell(NamedTuple):
    """Where one window counts: its case, keys, outcome, local date and stamps."""

    case_id: uuid.UUID | str
    window_key: int
    status: str
    day: date
    stamps: tuple[str, ...]


def cell_of(values: Any) -> Cell | None:
    """Where a window (or its values) counts; ``None`` for a row written without stamps
    (by hand, outside the service), which counts from its first stamping on."""
    get = values.get if isinstance(values, dict) else lambda n: getattr(values, n)
    if get("local_date") is None:
        return None
    return Cell(get("case_id"), get("record_key"), str(get("status")), get("local_date"),
                tuple(str(get(n)) if get(n) is not None else NONE for n in STAMPS))


def masked(cube: int, stamps: Sequence[str]) -> tuple[str, ...]:
    """The stamps as the cube keeps them: those it is not over are ``*``."""
    return tuple(v if kept else ANY for v, kept in zip(stamps, _KEPT[cube], strict=True))


def rollup_key(cube: int, grain: str, day: date, stamps: Sequence[str]) -> str:
    """The rollup row a window with ``stamps`` on ``day`` counts in (``stamps`` already
    masked for the cube). A unit separator cannot be typed into a centre's name."""
    return SEPARATOR.join((str(cube), grain, period_start(grain, day).isoformat(), *stamps))


@functools.lru_cache(maxsize=1 << 16)
def rows_of(day: date, stamps: tuple[str, ...]) -> tuple[tuple[str, int, str, tuple[str, ...]], ...]:
    """(key, cube, grain, masked stamps) of every rollup row a window counts in. Cached:
    the windows of a day share a few combinations of stamps, and a fold of thousands
    of moves would otherwise spend its time building the same keys."""
    return tuple((rollup_key(cube, grain, day, kept), cube, grain, kept)
                 for cube in range(len(CUBES)) for kept in (masked(cube, stamps),)
                 for grain in GRAINS)


def _old_cell(window: ExpectedCheckin) -> Cell | None:
    """The cell the window counted in before this flush's changes."""
    state = sa.inspect(window)
    values: dict[str, Any] = {}
    for name in ("case_id", "record_key", "status", "local_date", *STAMPS):
        history = state.attrs[name].history
        if history.deleted:
            values[name] = history.deleted[0]
        elif history.unchanged:
            values[name] = history.unchanged[0]
        elif history.added:  # set for the first time in this flush: it was NULL
            values[name] = None
        else:
            values[name] = getattr(window, name)
    return cell_of(values)


def _plain(cell: Cell | None) -> str | None:
    if cell is None:
        return None
    return SEPARATOR.join((str(cell.case_id), str(cell.window_key), cell.status,
                           cell.day.isoformat(), *cell.stamps))


def parse_cell(value: str | None) -> Cell | None:
    """A cell as ``RollupMove.moves`` keeps it (its fields joined by ``SEPARATOR``: a
    day's outcomes are one log row of many thousand moves, read back at once)."""
    if value is None:
        return None
    case_id, window_key, status, day, *stamps = value.split(SEPARATOR)
    # The case id stays text: folding compares it, and parses the few it looks up.
    return Cell(case_id, int(window_key), status, date.fromisoformat(day), tuple(stamps))


def record_sync(session: Session, moves: Iterable[tuple[Cell | None, Cell | None]]) -> None:
    """Log windows moving from one cell to another (``None``: planned, or deleted) in
    the session's transaction; ``checkin.folding`` applies them to the rollups. One
    INSERT, whatever the number of moves: nothing shared is locked."""
    plain = [[_plain(old), _plain(new)] for old, new in moves if old != new]
    if plain:
        session.connection().execute(MOVES.insert(), {"moves": plain})


async def record(session: AsyncSession, moves: Sequence[tuple[Cell | None, Cell | None]]
                 ) -> None:
    await session.run_sync(record_sync, moves)


# --- the session hooks ----------------------------------------------------------------


def _next_serial(session: Session) -> int:
    taken = session.connection().scalar(sa.select(sa.func.max(CaseCopy.serial))) or 0
    pending = session.info.get("waymark_serial", 0)
    serial = max(taken, pending) + 1
    session.info["waymark_serial"] = serial
    return serial


@event.listens_for(Session, "before_flush")
def _stamp_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    """New cases get a serial; new windows their stamps; a window decided for the first
    time is stamped again from its case."""
    with session.no_autoflush:
        new_cases = {}
        for obj in session.new:
            if isinstance(obj, CaseCopy):
                new_cases[obj.case_id] = obj
                if obj.serial is None:
                    obj.serial = _next_serial(session)
        due = []
        for obj in list(session.new) + list(session.dirty):
            if not isinstance(obj, ExpectedCheckin):
                continue
            status = sa.inspect(obj).attrs.status.history
            first_decision = bool(status.deleted) and status.deleted[0] == Outcome.pending
            planned = obj in session.new
            if planned and obj.local_date is not None and obj.programme is not None:
                continue  # stamped by its writer
            if planned or first_decision:
                due.append((obj, planned))
        # The cases in a few queries, not one each (a day's outcomes decided at once),
        # each under the drivers' limit on parameters (asyncpg's is 32,767).
        wanted = list({obj.case_id for obj, _ in due} - set(new_cases))
        for start in range(0, len(wanted), CASES_PER_QUERY):
            new_cases.update((c.case_id, c) for c in session.execute(sa.select(CaseCopy).where(
                CaseCopy.case_id.in_(wanted[start:start + CASES_PER_QUERY]))).scalars())
        for obj, planned in due:
            _stamp(obj, new_cases.get(obj.case_id), planned=planned)
    session.info.pop("waymark_serial", None)


@event.listens_for(Session, "after_flush")
def _fold_after_flush(session: Session, _context: Any) -> None:
    moves: list[tuple[Cell | None, Cell | None]] = []
    for obj in session.new:
        if isinstance(obj, ExpectedCheckin):
            moves.append((None, cell_of(obj)))
    for obj in session.dirty:
        if isinstance(obj, ExpectedCheckin) and session.is_modified(obj):
            moves.append((_old_cell(obj), cell_of(obj)))
    for obj in session.deleted:
        if isinstance(obj, ExpectedCheckin):
            moves.append((_old_cell(obj), None))
    if moves:
        record_sync(session, moves)


# --- rebuilding -----------------------------------------------------------------------


def rebuild_sync(session: Session) -> int:
    return rebuild_on(session.connection())


def rebuild_on(conn: sa.Connection) -> int:
    """Every rollup row again from the stamped windows (a bulk load's, and a repair),
    the logged moves dropped (the windows already show them); returns the number of
    rows. Run it while no outcome changes: one made meanwhile may be counted twice."""
    conn.execute(MOVES.delete())
    conn.execute(ROLLUP.delete())
    acc: dict[str, dict[str, Any]] = {}
    result = conn.execute(sa.select(
        WINDOWS.c.status, WINDOWS.c.record_key, WINDOWS.c.local_date,
        *(WINDOWS.c[n] for n in STAMPS),
        MEMBER.label("member"))
        .join(CaseCopy, CaseCopy.case_id == WINDOWS.c.case_id)
        .where(WINDOWS.c.local_date.is_not(None)).execution_options(yield_per=20000))
    for r in result:
        stamps = tuple(str(r._mapping[n]) if r._mapping[n] is not None else NONE
                       for n in STAMPS)
        for key, cube, grain, kept in rows_of(r.local_date, stamps):
            row = acc.get(key)
            if row is None:
                row = acc[key] = {
                    "key": key, "cube": cube, "grain": grain,
                    "period": period_start(grain, r.local_date),
                    **dict(zip(STAMPS, kept, strict=True)), "cases": BitMap(),
                    **dict.fromkeys(OUTCOMES, 0), **{f"{o}_keys": 0 for o in OUTCOMES}}
            row[r.status] += 1
            row[f"{r.status}_keys"] = (row[f"{r.status}_keys"] + r.record_key) % KEYS
            row["cases"].add(r.member)
    rows = list(acc.values())
    sums = key_sums(record_keys_on(conn), [row["cases"] for row in rows])
    for row, people_keys in zip(rows, sums, strict=True):
        row["people"], row["people_keys"] = len(row["cases"]), people_keys
        row["cases"] = row["cases"].serialize()
    for chunk in range(0, len(rows), 2000):
        conn.execute(ROLLUP.insert(), rows[chunk:chunk + 2000])
    return len(rows)


async def rebuild(session: AsyncSession) -> int:
    return await session.run_sync(rebuild_sync)
