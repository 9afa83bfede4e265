"""Folding the logged moves into the rollups.

Every change to an expected check-in logs where the window moved, in its own
transaction (``rollups.record``, one row in ``rollup_moves``). Folding applies the
logged moves to the rollups and deletes them, in one transaction:

- from a job every ``WAYMARK_ROLLUP_FOLD_SECONDS`` (2 s), so the log stays short;
- at the start of every summary, so a summary counts every change committed before it
  (a supervisor's counts equal the raw rows, with no lag to explain).

Why not update the rollups in the change's own transaction: every change touches the
same few rows (the totals of the day, week and month), so concurrent check-ins would
queue on them. Logging is one INSERT that locks nothing shared; folding many moves at
once updates each rollup row once per batch.

One folder at a time (a PostgreSQL advisory lock; SQLite's writers take turns
anyway): a job finding it held skips its turn, a summary waits for it. Counts and key
sums are deltas, so folding order does not matter. Bitmaps are not: a case belongs in
a row's bitmap while any of its windows is in the row, so wherever a move takes a
window into or out of a row, the case's membership is set from its windows as they are
when folded (not as the move saw them); a move logged after the fold reads them is
folded later and sets it again. Moves of one window are logged in order (its row lock
orders them), and the log is read in id order.

A move within a row (an outcome decided, nothing else changed: most of them) touches
no bitmap, so a day of windows decided missed is counts alone.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from pyroaring import BitMap
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from checkin.models import CaseCopy
from checkin.rollups import (
    KEYS,
    MEMBER,
    MOVES,
    NONE,
    OUTCOMES,
    ROLLUP,
    STAMPS,
    WINDOWS,
    Cell,
    parse_cell,
    period_start,
    rows_of,
)

log = logging.getLogger("waymark.checkin.folding")

# Log rows read per transaction: a batch updates each rollup row it touches once. A
# move costs about 0.1 ms of Python; a summary's fold holds its request that long.
BATCH = 1000
EMPTY = BitMap().serialize()
# pg_advisory_xact_lock's key for "folding the rollups" ("WMRKFOLD").
LOCK = 0x574D524B464F4C44


def _take_turn(conn: sa.Connection, *, wait: bool) -> bool:
    if conn.dialect.name != "postgresql":
        return True  # every SQLite transaction here begins IMMEDIATE: one writer at a time
    if wait:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK)))
        return True
    return bool(conn.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(LOCK))))


def _present(conn: sa.Connection, wanted: dict[str, set[str]],
             starts: dict[str, date]) -> set[tuple[str, str]]:
    """Of the (row, case) pairs in ``wanted``, those where the case has a window now."""
    cases = [uuid.UUID(case) for case in {case for group in wanted.values() for case in group}]
    since = min(starts[key] for key in wanted)
    until = max(starts[key] for key in wanted) + timedelta(days=31)
    found: set[tuple[str, str]] = set()
    for chunk in range(0, len(cases), 5000):
        some = cases[chunk:chunk + 5000]
        windows = conn.execute(sa.select(
            WINDOWS.c.case_id, WINDOWS.c.local_date, *(WINDOWS.c[n] for n in STAMPS))
            .where(WINDOWS.c.case_id.in_(some), WINDOWS.c.local_date >= since,
                   WINDOWS.c.local_date < until))
        for w in windows:
            stamps = tuple(str(v) if v is not None else NONE for v in w[2:])
            case = str(w.case_id)
            for key, *_ in rows_of(w.local_date, stamps):
                if case in wanted.get(key, ()):
                    found.add((key, case))
    return found


def apply_sync(session: Session, moves: Iterable[tuple[Cell | None, Cell | None]]) -> None:
    """Apply windows moving from one cell to another (``None``: planned, or deleted) to
    the rollups; the windows themselves are already as the moves left them, or later."""
    width = len(OUTCOMES)
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * (2 * width))
    rows: dict[str, tuple[int, str, date, tuple[str, ...]]] = {}
    # (row, case) pairs whose membership a move may change: a window entered or left
    # the row (it was not in the row on both sides of the move).
    wanted: dict[str, set[str]] = defaultdict(set)
    slots = {str(o): i for i, o in enumerate(OUTCOMES)}
    # Moves first summed per place (day, stamps) and outcome: a day's windows share a
    # few thousand places, and each place is a rollup row per cube and grain.
    places: dict[tuple[date, tuple[str, ...]], list[int]] = {}
    for old, new in moves:
        if old == new:
            continue
        for cell, sign in ((old, -1), (new, 1)):
            if cell is not None:
                slot = slots[cell.status]
                tally = places.get((cell.day, cell.stamps))
                if tally is None:
                    tally = places[(cell.day, cell.stamps)] = [0] * (2 * width)
                tally[slot] += sign
                tally[width + slot] += sign * cell.window_key
        if (old is not None and new is not None and old.day == new.day
                and old.stamps == new.stamps):
            continue  # an outcome decided where the window was: no row gained or lost it
        left = {k for k, *_ in rows_of(old.day, old.stamps)} if old is not None else set()
        entered = {k for k, *_ in rows_of(new.day, new.stamps)} if new is not None else set()
        for cell, keys in ((old, left - entered), (new, entered - left)):
            for key in keys:
                assert cell is not None
                wanted[key].add(str(cell.case_id))
    for (day, stamps), tally in places.items():
        for key, cube, grain, kept in rows_of(day, stamps):
            if key not in rows:
                rows[key] = (cube, grain, period_start(grain, day), kept)
            row = counts[key]
            for i, value in enumerate(tally):
                row[i] += value
    if not counts:
        return
    conn = session.connection()
    cases = {case for group in wanted.values() for case in group}
    members = {str(case_id): (serial, key) for case_id, serial, key in conn.execute(
        sa.select(CaseCopy.case_id, MEMBER, CaseCopy.record_key)
        .where(CaseCopy.case_id.in_([uuid.UUID(c) for c in cases])))} if cases else {}
    present = _present(conn, wanted, {k: rows[k][2] for k in wanted}) if wanted else set()
    ordered = sorted(counts)
    for chunk in range(0, len(ordered), 1000):
        keys = ordered[chunk:chunk + 1000]
        _ensure_rows(conn, keys, rows)
        _add_counts(conn, keys, counts)
        if any(k in wanted for k in keys):
            _set_members(conn, [k for k in keys if k in wanted], wanted, members, present)
        conn.execute(ROLLUP.delete().where(ROLLUP.c.key.in_(keys),
                                           *(ROLLUP.c[o] == 0 for o in OUTCOMES)))


def _ensure_rows(conn: sa.Connection, keys: list[str],
                 rows: dict[str, tuple[int, str, date, tuple[str, ...]]]) -> None:
    """Make the rows a fold adds to that do not exist yet, empty."""
    there = set(conn.execute(sa.select(ROLLUP.c.key).where(ROLLUP.c.key.in_(keys))).scalars())
    missing = [k for k in keys if k not in there]
    if missing:
        conn.execute(ROLLUP.insert(), [
            {"key": k, "cube": rows[k][0], "grain": rows[k][1], "period": rows[k][2],
             **dict(zip(STAMPS, rows[k][3], strict=True)), "cases": EMPTY,
             "people": 0, "people_keys": 0,
             **dict.fromkeys(OUTCOMES, 0), **{f"{o}_keys": 0 for o in OUTCOMES}}
            for k in missing])


def _modulo(value: Any) -> Any:
    # SQL's % keeps the dividend's sign: a key sum that went below 0 comes back up.
    return ((value % KEYS) + KEYS) % KEYS


def _add_counts(conn: sa.Connection, keys: list[str], counts: dict[str, list[int]]) -> None:
    """Add each row's deltas in SQL (no read first): on PostgreSQL one statement per
    thousand rows, the deltas passed as arrays; on SQLite a statement per row."""
    width = len(OUTCOMES)
    names = [f"d{i}" for i in range(2 * width)]
    if conn.dialect.name == "postgresql":
        delta = sa.func.unnest(
            sa.bindparam("k", type_=postgresql.ARRAY(sa.String)),
            *(sa.bindparam(n, type_=postgresql.ARRAY(sa.Integer)) for n in names),
        ).table_valued("k", *names).render_derived(name="delta")
        d = [delta.c[n] for n in names]
        where = ROLLUP.c.key == delta.c.k
    else:
        d = [sa.bindparam(n) for n in names]
        where = ROLLUP.c.key == sa.bindparam("k")
    update = ROLLUP.update().where(where).values({
        **{o: ROLLUP.c[o] + d[i] for i, o in enumerate(OUTCOMES)},
        **{f"{o}_keys": _modulo(ROLLUP.c[f"{o}_keys"] + d[width + i])
           for i, o in enumerate(OUTCOMES)}})
    if conn.dialect.name == "postgresql":
        conn.execute(update, {"k": keys, **{n: [counts[k][i] for k in keys]
                                            for i, n in enumerate(names)}})
    else:
        conn.execute(update, [{"k": k, **dict(zip(names, counts[k], strict=True))}
                              for k in keys])


def _set_members(conn: sa.Connection, keys: list[str], wanted: dict[str, set[str]],
                 members: dict[str, tuple[int, int]],
                 present: set[tuple[str, str]]) -> None:
    """Each wanted case in or out of each row's bitmap, as its windows are now."""
    rewritten = []
    for key, cases, people_keys in conn.execute(
            sa.select(ROLLUP.c.key, ROLLUP.c.cases, ROLLUP.c.people_keys)
            .where(ROLLUP.c.key.in_(keys))):
        bitmap = BitMap.deserialize(cases)
        for case in wanted[key]:
            if case not in members:
                continue  # no copy, no serial: never in a bitmap
            serial, record_key = members[case]
            if ((key, case) in present) != (serial in bitmap):
                if serial in bitmap:
                    bitmap.remove(serial)
                    people_keys -= record_key
                else:
                    bitmap.add(serial)
                    people_keys += record_key
        rewritten.append({"k": key, "cases": bitmap.serialize(), "people": len(bitmap),
                          "people_keys": people_keys % KEYS})
    if rewritten:
        conn.execute(ROLLUP.update().where(ROLLUP.c.key == sa.bindparam("k")), rewritten)


def fold_sync(session: Session, *, wait: bool = True, limit: int = BATCH) -> int:
    """Fold up to ``limit`` logged moves (oldest first) into the rollups and delete
    them; returns how many log rows were folded (0 when another folder has its turn
    and ``wait`` is false)."""
    conn = session.connection()
    if conn.scalar(sa.select(MOVES.c.id).limit(1)) is None:
        return 0  # nothing logged: no lock taken, the common case for a summary
    if not _take_turn(conn, wait=wait):
        return 0
    logged = conn.execute(sa.select(MOVES.c.id, MOVES.c.moves)
                          .order_by(MOVES.c.id).limit(limit)).all()
    if not logged:
        return 0
    apply_sync(session, [(parse_cell(old), parse_cell(new))
                         for row in logged for old, new in row.moves])
    # By id, not "up to the last id": a move committed meanwhile with a lower id stays.
    ids = [row.id for row in logged]
    conn.execute(MOVES.delete().where(MOVES.c.id.in_(ids)))
    return len(logged)


async def fold_all(session: AsyncSession) -> None:
    """Fold every move logged so far, in the session's transaction (a summary's)."""
    while await session.run_sync(fold_sync, wait=True) == BATCH:
        pass


def fold(engine: sa.Engine) -> int:
    """The job: fold batch after batch, a transaction each, until the log is empty or
    another folder has its turn; returns how many log rows were folded. Synchronous, to
    run in a thread (``tick``)."""
    total = 0
    while True:
        with Session(engine) as session, session.begin():
            done = fold_sync(session, wait=False)
        total += done
        if done < BATCH:
            return total


async def tick(engine: sa.Engine) -> None:
    """The job's run, in a thread: a fold of a thousand moves is about 0.1 s of Python,
    which would otherwise hold the worker's requests. Logs and never raises, so the
    next tick tries again."""
    try:
        await asyncio.to_thread(fold, engine)
    except Exception as exc:
        log.error("folding the rollups failed: %s", type(exc).__name__)
