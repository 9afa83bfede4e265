"""Folding the rollups' log (``checkin.folding``): a check-in waits on no rollup row,
the job folds what was logged, a summary counts every change committed before it, and
two folders never fold the same moves. Real commits on the configured database; CI
runs them on PostgreSQL, where the locks are real."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from checkin import folding, rollups, summaries
from checkin.checkins import record_checkin
from checkin.enums import Channel
from checkin.models import AttendanceRollup, CaseCopy, Checkin, ExpectedCheckin, RollupMove

from tests.checkin.helpers import quiet_app
from tests.checkin.test_summaries import FROM, MONDAYS, TO, add_case, weekly


@pytest.fixture
async def app(empty_database):
    async with quiet_app(empty_database) as app:
        yield app


def postgres_only(app) -> None:
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: nothing to wait on")


async def check_in(sessionmaker, case: CaseCopy, *, hours: int = 1) -> None:
    async with sessionmaker() as session, session.begin():
        copy = await session.get(CaseCopy, case.case_id, with_for_update=True)
        await record_checkin(session, case=copy, channel=Channel.sms,
                             now=MONDAYS[0] + timedelta(hours=hours))


async def logged(sessionmaker) -> int:
    async with sessionmaker() as session:
        return await session.scalar(sa.select(sa.func.count()).select_from(RollupMove))


async def total(sessionmaker) -> dict:
    async with sessionmaker() as session, session.begin():
        return (await summaries.attendance(session, since=FROM, until=TO, group_by=[]))["total"]


async def test_a_check_in_is_logged_and_counted_once_folded(app):
    db = app.state.sessionmaker
    cases = [await add_case(db, windows=weekly("pending", "pending")) for _ in range(3)]
    folding.fold(app.state.fold_engine)
    assert await logged(db) == 0
    for case in cases[:2]:
        await check_in(db, case)
    assert await logged(db) == 2
    assert folding.fold(app.state.fold_engine) == 2
    assert await logged(db) == 0
    counted = await total(db)
    assert (counted["on_time"], counted["pending"], counted["people"]) == (2, 4, 3)
    async with db() as session:
        kept = {r.key: tuple(r) for r in await session.execute(
            sa.select(AttendanceRollup.__table__))}
        await rollups.rebuild(session)
        assert kept == {r.key: tuple(r) for r in await session.execute(
            sa.select(AttendanceRollup.__table__))}


async def test_a_summary_counts_what_no_job_has_folded_yet(app):
    db = app.state.sessionmaker
    case = await add_case(db, windows=weekly("pending", "pending"))
    await check_in(db, case, hours=11)  # late
    assert await logged(db) > 0
    counted = await total(db)
    assert (counted["late"], counted["pending"], counted["expected"]) == (1, 1, 2)
    assert await logged(db) == 0  # the summary folded it, for everyone after it too


async def test_a_check_in_waits_on_no_rollup_row(app):
    """The day's, week's and month's totals are in every change: a check-in that had to
    lock them would queue behind every other one. Here another transaction holds every
    rollup row while the check-in is recorded."""
    postgres_only(app)
    db = app.state.sessionmaker
    cases = [await add_case(db, windows=weekly("pending", "pending")) for _ in range(2)]
    folding.fold(app.state.fold_engine)
    async with db() as holder, holder.begin():
        held = (await holder.execute(sa.select(AttendanceRollup.key).with_for_update())).all()
        assert held
        async with db() as session, session.begin():
            await session.execute(sa.text("SET LOCAL lock_timeout = '3s'"))
            copy = await session.get(CaseCopy, cases[0].case_id, with_for_update=True)
            await record_checkin(session, case=copy, channel=Channel.sms,
                                 now=MONDAYS[0] + timedelta(hours=1))
    assert (await total(db))["on_time"] == 1


async def test_one_folder_at_a_time_and_a_summary_waits_for_it(app):
    postgres_only(app)
    db = app.state.sessionmaker
    cases = [await add_case(db, windows=weekly("pending", "pending")) for _ in range(2)]
    folding.fold(app.state.fold_engine)
    await check_in(db, cases[0])
    async with db() as first, first.begin():
        assert await first.run_sync(folding.fold_sync) == 1
        # While the first folder's transaction is open, the job skips its turn...
        await check_in(db, cases[1])
        assert folding.fold(app.state.fold_engine) == 0
        assert await logged(db) == 2
        # ...and a summary waits for the first folder to commit, then counts both.
        waiting = asyncio.ensure_future(total(db))
        await asyncio.sleep(0.5)
        assert not waiting.done()
    counted = await asyncio.wait_for(waiting, 10)
    assert (counted["on_time"], counted["pending"]) == (2, 2)
    assert await logged(db) == 0


async def test_a_rebuild_drops_the_log_it_already_shows(app):
    db = app.state.sessionmaker
    case = await add_case(db, windows=weekly("pending", "pending"))
    await check_in(db, case)
    async with db() as session, session.begin():
        await rollups.rebuild(session)
    assert await logged(db) == 0
    counted = await total(db)
    assert (counted["on_time"], counted["pending"]) == (1, 1)
    async with db() as session:
        windows = (await session.execute(sa.select(ExpectedCheckin))).scalars().all()
        assert len(windows) == 2
        assert len((await session.execute(sa.select(Checkin))).scalars().all()) == 1


async def test_the_service_folds_on_its_own(empty_database):
    """With its job on, the service folds what check-ins log, no summary asked."""
    async with quiet_app(empty_database, WAYMARK_ROLLUP_FOLD_SECONDS=0.2) as app:
        db = app.state.sessionmaker
        case = await add_case(db, windows=weekly("pending", "pending"))
        await check_in(db, case)
        for _ in range(100):
            if await logged(db) == 0:
                break
            await asyncio.sleep(0.1)
        assert await logged(db) == 0
        async with db() as session:
            on_time = await session.scalar(sa.select(sa.func.sum(AttendanceRollup.on_time))
                                           .where(AttendanceRollup.cube == 0,
                                                  AttendanceRollup.grain == "day"))
        assert on_time == 1


async def test_a_day_decided_at_once_is_stamped_from_its_cases_a_batch_at_a_time(
        app, monkeypatch):
    """Deciding many windows in one flush reads their cases in batches (a national day
    is 143,000 windows, over a driver's limit on parameters), each window stamped from
    its own case."""
    monkeypatch.setattr(rollups, "CASES_PER_QUERY", 2)
    db = app.state.sessionmaker
    for n in range(5):
        await add_case(db, programme="AB"[n % 2], windows=weekly("pending", "pending"))
    async with db() as session, session.begin():
        for window in (await session.execute(sa.select(ExpectedCheckin))).scalars():
            window.status = "missed"
    async with db() as session:
        result = await summaries.attendance(session, since=FROM, until=TO,
                                            group_by=["programme"])
    assert {r["programme"]: (r["people"], r["missed"]) for r in result["rows"]} == {
        "A": (3, 6), "B": (2, 4)}
