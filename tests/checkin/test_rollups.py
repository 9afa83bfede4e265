"""Rollups stay equal to the raw rows: after any sequence of check-ins (on time, late,
after the grace period), excusals, missed windows, outages, case changes and erasures,
through the service's own functions, the rollup table equals one rebuilt from the
windows, and a supervisor's summary equals a plain grouping of the windows."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from checkin import erasure, feeds, folding, rollups, summaries
from checkin.checkins import record_checkin
from checkin.enums import Channel, OutageChannel
from checkin.models import (
    AttendanceRollup,
    CaseCopy,
    ChangeEvent,
    Checkin,
    ExpectedCheckin,
    FollowUp,
    Outage,
    RollupMove,
)
from checkin.outcomes import decide_missed, declare_outage, excuse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.errors import Conflict
from shared.migrations import upgrade
from tests.checkin.helpers import BEFORE_START, FIRST_OPENS, case_change, quiet_app

CASES = 3
WEEKS = 5
WEEK = timedelta(days=7)
case_index = st.integers(0, CASES - 1)
week = st.integers(0, WEEKS - 1)
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("checkin"), case_index, week, st.sampled_from(list(Channel)),
              st.sampled_from([1, 11, 40])),  # on time, late, after the grace period
    st.tuples(st.just("excuse"), case_index, week),
    st.tuples(st.just("missed"), week),
    st.tuples(st.just("outage"), week, st.sampled_from(list(OutageChannel))),
    st.tuples(st.just("change"), case_index, st.sampled_from(["A", "B"]),
              st.sampled_from([[], ["disability"], ["disability", "pregnant"]])),
    st.tuples(st.just("erase"), case_index),
    # Folding the logged moves at any point, a few log rows or all of them.
    st.tuples(st.just("fold"), st.sampled_from([1, 2, folding.BATCH])),
), max_size=14)


@pytest.fixture(scope="module")
async def app(empty_database):
    async with quiet_app(empty_database) as app:
        yield app


async def _run(app, operations) -> None:
    sessionmaker = app.state.sessionmaker
    async with sessionmaker() as session, session.begin():
        for table in (AttendanceRollup, RollupMove, Checkin, ExpectedCheckin, FollowUp, Outage,
                      ChangeEvent, CaseCopy):
            await session.execute(sa.delete(table))
    ids = [uuid.uuid4() for _ in range(CASES)]
    versions = dict.fromkeys(ids, 1)
    with time_machine.travel(BEFORE_START, tick=False):
        for case_id in ids:
            async with sessionmaker() as session, session.begin():
                await feeds.apply_registry_change(session, case_change(case_id=case_id))
        for op, *args in operations:
            async with sessionmaker() as session, session.begin():
                if op == "checkin":
                    index, n, channel, hours = args
                    copy = await session.get(CaseCopy, ids[index], with_for_update=True)
                    if copy.erased_at is None:
                        await record_checkin(
                            session, case=copy, channel=channel,
                            now=FIRST_OPENS + n * WEEK + timedelta(hours=hours),
                            reporting_centre="Croydon" if channel == Channel.in_person
                            else None)
                elif op == "excuse":
                    index, n = args
                    window = (await session.execute(sa.select(ExpectedCheckin).where(
                        ExpectedCheckin.case_id == ids[index],
                        ExpectedCheckin.opens_at == FIRST_OPENS + n * WEEK))).scalar()
                    if window is not None:
                        try:
                            await excuse(session, expected_id=window.id, reason="ill",
                                         actor="alice")
                        except Conflict:
                            pass
                elif op == "missed":
                    await decide_missed(session, now=FIRST_OPENS + args[0] * WEEK
                                        + timedelta(hours=35))
                elif op == "outage":
                    n, channel = args
                    starts = FIRST_OPENS + n * WEEK + timedelta(hours=2)
                    await declare_outage(session, channel=channel, starts_at=starts,
                                         ends_at=starts + timedelta(hours=1), reason="down",
                                         actor="sam")
                elif op == "change":
                    index, programme, flags = args
                    versions[ids[index]] += 1
                    change = case_change(case_id=ids[index], version=versions[ids[index]],
                                         vulnerabilities=flags)
                    change.data["programme"] = programme
                    await feeds.apply_registry_change(session, change)
                elif op == "fold":
                    await session.run_sync(folding.fold_sync, limit=args[0])
                elif op == "erase":
                    versions[ids[args[0]]] += 1
                    await erasure.erase_case(session, case_id=ids[args[0]],
                                             version=versions[ids[args[0]]], status="closed")


async def _raw(app, group_by: list[str], since: date, until: date) -> dict:
    """The plain grouping of the windows themselves."""
    async with app.state.sessionmaker() as session:
        windows = (await session.execute(sa.select(ExpectedCheckin).where(
            ExpectedCheckin.local_date >= since, ExpectedCheckin.local_date <= until))).scalars()
        groups: dict[tuple, dict] = defaultdict(lambda: {"people": set(), "expected": 0,
                                                         **dict.fromkeys(rollups.OUTCOMES, 0)})
        for w in windows:
            keys = [()]
            for dim in group_by:
                values = (sorted(filter(None, w.vulnerabilities.split("|"))) or ["none"]
                          if dim == "vulnerability" else [getattr(w, dim)])
                keys = [k + (v,) for k in keys for v in values]
            for key in keys:
                groups[key]["people"].add(w.case_id)
                groups[key]["expected"] += 1
                groups[key][w.status] += 1
    return {k: {**v, "people": len(v["people"])} for k, v in groups.items()}


async def _rollups(app) -> dict:
    """The rollups once every logged move is folded in."""
    async with app.state.sessionmaker() as session, session.begin():
        await folding.fold_all(session)
        return {r.key: tuple(r) for r in (await session.execute(
            sa.select(AttendanceRollup.__table__))).all()}


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=OPERATIONS)
async def test_rollups_equal_the_raw_rows_after_any_sequence(app, operations):
    await _run(app, operations)
    kept = await _rollups(app)
    async with app.state.sessionmaker() as session, session.begin():
        await rollups.rebuild(session)
    assert kept == await _rollups(app)
    since, until = date(2026, 12, 1), date(2027, 1, 31)
    for group_by in ([], ["programme", "channel", "reporting_centre"], ["vulnerability"],
                     ["programme", "sex", "age_group", "nationality"]):
        async with app.state.sessionmaker() as session:
            result = await summaries.attendance(session, since=since, until=until,
                                                group_by=group_by)
        counts = ("people", "expected", *rollups.OUTCOMES)
        ours = {tuple(r[d] for d in group_by): {c: r[c] for c in counts}
                for r in result["rows"]} if group_by else {(): {
                    c: result["total"][c] for c in counts}}
        raw = await _raw(app, group_by, since, until)
        assert ours == (raw or ({(): dict.fromkeys(counts, 0)} if not group_by else {}))


def test_the_migration_stamps_the_windows_there_were(tmp_path):
    """che0009 on a database with a case, a check-in and two windows: keys drawn, the
    windows stamped (local date in the case's zone, age group on it, sorted flags, the
    check-in's channel and centre) and the rollups built from them."""
    import sqlite3

    path = tmp_path / "checkin.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade("checkin", url, "che0008")
    case_id, checkin_id = uuid.uuid4().hex, uuid.uuid4().hex
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO case_copies (case_id, version, reference, keypad_reference, status, "
            "language, caseworker, delegations, programme, sex, nationality, date_of_birth, "
            "vulnerabilities, channels, rrule, window_opens, window_hours, grace_hours, "
            "timezone, starts_on, updated_at) VALUES (?, 1, 'ABCD1234', '1234567890', "
            "'active', 'en', 'alice', '[]', 'A', 'female', 'SD', '2009-01-08', '[\"b\",\"a\"]', "
            "'[\"sms\"]', 'FREQ=WEEKLY', '09:00:00.000000', 10, 24, 'Asia/Tokyo', '2026-12-01', "
            "'2026-12-01 00:00:00.000000')", (case_id,))
        db.execute("INSERT INTO checkins (id, case_id, channel, received_at, timing, "
                   "reporting_centre) VALUES (?, ?, 'in_person', '2027-01-07 01:00:00.000000', "
                   "'on_time', 'Croydon')", (checkin_id, case_id))
        for opens, status, checkin in (("2027-01-06 23:30:00.000000", "on_time", checkin_id),
                                       ("2027-01-13 23:30:00.000000", "missed", None)):
            db.execute("INSERT INTO expected_checkins (id, case_id, opens_at, closes_at, "
                       "grace_ends_at, status, checkin_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (uuid.uuid4().hex, case_id, opens, opens, opens, status, checkin))
    upgrade("checkin", url)
    with sqlite3.connect(path) as db:
        [(key, serial)] = db.execute("SELECT record_key, serial FROM case_copies").fetchall()
        assert 0 <= key < 256 and serial == 1
        windows = db.execute(
            "SELECT local_date, programme, sex, age_group, nationality, vulnerabilities, "
            "channel, reporting_centre, status FROM expected_checkins ORDER BY opens_at").fetchall()
        # Tokyo is 9 hours ahead; 18 on 8 January.
        assert windows == [
            ("2027-01-07", "A", "female", "0-17", "SD", "a|b", "in_person", "Croydon", "on_time"),
            ("2027-01-14", "A", "female", "18-24", "SD", "a|b", "none", "none", "missed")]
        assert all(0 <= k < 256 for (k,) in db.execute(
            "SELECT record_key FROM expected_checkins"))
        # Every cube holds both windows once per grain.
        assert db.execute("SELECT cube, sum(on_time), sum(missed) FROM attendance_rollups "
                          "GROUP BY cube").fetchall() == [
            (cube, 3, 3) for cube in range(len(rollups.CUBES))]
    # What the revisions built (che0009, che0011's people, che0013's cubes) is what the
    # service would build from those windows today.
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        migrated = {r.key: tuple(r) for r in conn.execute(sa.select(rollups.ROLLUP))}
        rollups.rebuild_on(conn)
        assert migrated == {r.key: tuple(r) for r in conn.execute(sa.select(rollups.ROLLUP))}
    engine.dispose()
