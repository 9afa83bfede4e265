"""Attendance summaries: counts and rates per group against hand-computed fixtures,
read from the rollups; exact for a supervisor, cell-key perturbed for an authority
(``test_cell_key`` proves the perturbation against ONS's package); CSV on request;
only authorities and supervisors may ask. The data goes through the ORM into a
database built from the real migrations, so the rollups are kept as in production."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from checkin import cellkey, folding, rollups, summaries
from checkin.api.summaries import router
from checkin.app import create_app
from checkin.checkins import record_checkin
from checkin.enums import Channel
from checkin.models import AttendanceRollup, CaseCopy, Checkin, ExpectedCheckin, RollupMove

from shared.migrations import upgrade
from tests.conftest import auth, checkin_settings

AUTHORITY = auth("authority", sub="analyst")
URL = "/v1/summaries/attendance"
# Two Mondays: every case in the main data set has a window on each.
FROM, TO = date(2027, 1, 4), date(2027, 1, 17)
MONDAYS = (datetime(2027, 1, 4, 9, tzinfo=UTC), datetime(2027, 1, 11, 9, tzinfo=UTC))


@pytest.fixture(scope="module")
async def app(empty_database):
    url = empty_database(f"checkin_{uuid.uuid4().hex[:6]}")
    upgrade("checkin", url)
    app = create_app(checkin_settings(
        url, WAYMARK_CHECKIN_FEED_POLL_SECONDS=0, WAYMARK_CHECKIN_JOBS_SECONDS=0))
    # Until the app wires the router in itself.
    if not any(getattr(r, "path", "") == URL for r in app.routes):
        app.include_router(router)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def db(app):
    """The app's sessionmaker over empty tables (tests share the module's database)."""
    async with app.state.sessionmaker() as session, session.begin():
        for table in (AttendanceRollup, RollupMove, Checkin, ExpectedCheckin, CaseCopy):
            await session.execute(sa.delete(table))
    return app.state.sessionmaker


@pytest.fixture
async def client(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://checkin") as client:
        yield client


async def add_case(
    sessionmaker, *, programme: str = "A", sex: str = "female", nationality: str = "SD",
    born: date = date(1990, 4, 2), vulnerabilities: Sequence[str] = (),
    windows: Sequence[tuple[datetime, str]] = (),
) -> CaseCopy:
    """A case copy and its expected check-ins, ``windows`` as (opens_at, status)."""
    case = CaseCopy(
        case_id=uuid.uuid4(), version=1, reference=uuid.uuid4().hex[:8].upper(),
        keypad_reference=str(uuid.uuid4().int)[:10], status="active", phone_hash="0" * 64,
        language="en", caseworker="alice", programme=programme, sex=sex,
        nationality=nationality, date_of_birth=born, vulnerabilities=list(vulnerabilities),
        channels=["sms"], rrule="FREQ=WEEKLY;BYDAY=MO", window_opens=time(9), window_hours=10,
        grace_hours=24, timezone="Europe/London", starts_on=date(2026, 12, 7),
    )
    async with sessionmaker() as session, session.begin():
        session.add(case)
        for opens_at, status in windows:
            session.add(ExpectedCheckin(
                case_id=case.case_id, opens_at=opens_at, closes_at=opens_at + timedelta(hours=10),
                grace_ends_at=opens_at + timedelta(hours=34), status=status))
    return case


def weekly(*statuses: str) -> list[tuple[datetime, str]]:
    return list(zip(MONDAYS, statuses, strict=True))


async def standard_data(sessionmaker) -> list[CaseCopy]:
    """Programme A: 6 women (7 on time, 5 late) and 5 men (6 on time, 2 missed, 2 excused);
    programme B: 3 women, all on time."""
    women_a = [("on_time", "on_time")] * 3 + [("on_time", "late")] + [("late", "late")] * 2
    men_a = [("on_time", "on_time")] * 2 + [
        ("on_time", "missed"), ("on_time", "excused"), ("missed", "excused")]
    cases = []
    for outcomes in women_a:
        cases.append(await add_case(sessionmaker, sex="female", windows=weekly(*outcomes)))
    for outcomes in men_a:
        cases.append(await add_case(sessionmaker, sex="male", windows=weekly(*outcomes)))
    for _ in range(3):
        cases.append(await add_case(sessionmaker, programme="B", sex="female",
                                    windows=weekly("on_time", "on_time")))
    return cases


async def summary(sessionmaker, *, group_by: Sequence[str], since: date = FROM,
                  until: date = TO, period: summaries.Period | None = None,
                  audience: summaries.Audience = summaries.Audience.exact) -> dict:
    async with sessionmaker() as session:
        return await summaries.attendance(
            session, since=since, until=until, group_by=group_by, period=period,
            audience=audience, ptable=cellkey.load(), threshold=5)


async def attendance(sessionmaker, **kwargs) -> list[dict]:
    """A supervisor's rows: exact."""
    return (await summary(sessionmaker, **kwargs))["rows"]


COUNTS = ("people", "expected", "on_time", "late", "missed", "excused", "pending")


async def test_counts_and_rates_per_group(db):
    await standard_data(db)
    rows = await attendance(db, group_by=["programme", "sex"])
    assert rows[0] == {
        "programme": "A", "sex": "female", "people": 6, "expected": 12, "on_time": 7,
        "late": 5, "missed": 0, "excused": 0, "pending": 0, "attendance_rate": 1.0,
        "on_time_rate": 0.5833,
    }
    assert [(r["programme"], r["sex"]) for r in rows] == [("A", "female"), ("A", "male"),
                                                          ("B", "female")]
    # (on time + late) / (expected - excused - pending): 6 / (10 - 2 - 0).
    assert rows[1] == {
        "programme": "A", "sex": "male", "people": 5, "expected": 10, "on_time": 6, "late": 0,
        "missed": 2, "excused": 2, "pending": 0, "attendance_rate": 0.75,
        "on_time_rate": 0.75}
    # A supervisor sees small groups exactly.
    assert (rows[2]["people"], rows[2]["on_time"]) == (3, 6)
    by_sex = await attendance(db, group_by=["sex"])
    assert by_sex[0] == {
        "sex": "female", "people": 9, "expected": 18, "on_time": 13, "late": 5, "missed": 0,
        "excused": 0, "pending": 0, "attendance_rate": 1.0, "on_time_rate": 0.7222,
    }


async def test_pending_windows_are_left_out_of_the_rates(db):
    for _ in range(2):
        await add_case(db, windows=weekly("on_time", "pending"))
    await add_case(db, windows=weekly("missed", "excused"))
    [row] = await attendance(db, group_by=["programme"])
    assert (row["expected"], row["pending"], row["excused"]) == (6, 2, 1)
    assert (row["attendance_rate"], row["on_time_rate"]) == (0.6667, 0.6667)


async def test_the_total_and_the_period_bounds(db):
    # Local dates (London, GMT in January): the first and last moments of the range.
    inside = [(datetime(2027, 1, 4, 0, tzinfo=UTC), "on_time"),
              (datetime(2027, 1, 17, 23, 59, 59, tzinfo=UTC), "missed")]
    outside = [(datetime(2027, 1, 3, 23, 59, 59, tzinfo=UTC), "on_time"),
               (datetime(2027, 1, 18, 0, tzinfo=UTC), "on_time")]
    for _ in range(5):
        await add_case(db, windows=inside + outside)
    result = await summary(db, group_by=[])
    assert result["rows"] == []
    assert result["total"] == {
        "people": 5, "expected": 10, "on_time": 5, "late": 0, "missed": 5, "excused": 0,
        "pending": 0, "attendance_rate": 0.5, "on_time_rate": 0.5}
    # An empty range: a total of zeros, no rows.
    empty = await summary(db, group_by=["sex"], since=date(2030, 1, 1), until=date(2030, 1, 31))
    assert empty["rows"] == [] and empty["total"]["people"] == 0
    assert empty["total"]["attendance_rate"] is None


async def test_the_date_is_the_local_opening_date(db):
    # 23:30 UTC on 31 December is already 1 January in Nairobi (UTC+3).
    case = await add_case(db, windows=[(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "on_time")])
    async with db() as session, session.begin():
        await session.execute(sa.update(ExpectedCheckin).values(local_date=None))
        await session.execute(sa.delete(AttendanceRollup))
        copy = await session.get(CaseCopy, case.case_id)
        copy.timezone = "Africa/Nairobi"
        for window in (await session.execute(sa.select(ExpectedCheckin))).scalars():
            window.local_date = rollups.case_stamps(copy, window.opens_at)["local_date"]
        await session.flush()
        await rollups.rebuild(session)
    january = await summary(db, group_by=[], since=date(2027, 1, 1), until=date(2027, 1, 1))
    assert january["total"]["expected"] == 1
    december = await summary(db, group_by=[], since=date(2026, 12, 31), until=date(2026, 12, 31))
    assert december["total"]["expected"] == 0


async def test_age_groups_are_taken_on_the_window_date(db):
    # 18 on 8 January 2027: a child on the first Monday, an adult on the second.
    await add_case(db, born=date(2009, 1, 8), windows=weekly("on_time", "late"))
    # 65 on 5 January 2027.
    await add_case(db, born=date(1962, 1, 5), windows=weekly("on_time", "on_time"))
    await add_case(db, born=date(1990, 4, 2), windows=weekly("on_time", "on_time"))
    # Born on 29 February: 18 only on 1 March in a common year.
    await add_case(db, born=date(2008, 2, 29), windows=[
        (datetime(2026, 2, 28, 9, tzinfo=UTC), "on_time"),
        (datetime(2026, 3, 1, 9, tzinfo=UTC), "missed")])
    rows = await attendance(db, group_by=["age_group"], since=date(2026, 2, 1))
    assert [(r["age_group"], r["people"], r["expected"], r["on_time"], r["late"], r["missed"])
            for r in rows] == [
        ("0-17", 2, 2, 2, 0, 0),
        ("18-24", 2, 2, 0, 1, 1),
        ("35-49", 1, 2, 2, 0, 0),
        ("50-64", 1, 1, 1, 0, 0),
        ("65+", 1, 1, 1, 0, 0),
    ]
    assert rollups.age_group(date(2000, 1, 1), date(2025, 1, 1)) == "25-34"
    assert rollups.age_group(date(2000, 1, 2), date(2025, 1, 1)) == "18-24"


async def test_a_case_with_several_vulnerabilities_counts_in_each_row(db):
    await add_case(db, vulnerabilities=["survivor_of_trafficking", "disability"],
                   windows=weekly("on_time", "missed"))
    await add_case(db, vulnerabilities=["disability"], windows=weekly("late", "on_time"))
    await add_case(db, windows=weekly("excused", "pending"))
    rows = await attendance(db, group_by=["vulnerability"])
    assert [(r["vulnerability"], r["people"], r["expected"], r["on_time"], r["late"],
             r["missed"], r["excused"], r["pending"]) for r in rows] == [
        ("disability", 2, 4, 2, 1, 1, 0, 0),
        ("none", 1, 2, 0, 0, 0, 1, 1),
        ("survivor_of_trafficking", 1, 2, 1, 0, 1, 0, 0),
    ]
    # With another dimension the flags still split the case, never the check-ins twice a row.
    rows = await attendance(db, group_by=["sex", "vulnerability"])
    assert [(r["sex"], r["vulnerability"], r["expected"]) for r in rows] == [
        ("female", "disability", 4), ("female", "none", 2), ("female", "survivor_of_trafficking", 2)]
    # The total counts the case with two flags once.
    assert (await summary(db, group_by=["vulnerability"]))["total"]["expected"] == 6


async def test_weeks_and_months(db):
    # Mondays 28 December 2026 to 1 February 2027: weeks 53 of 2026 and 1-5 of 2027.
    mondays = [datetime(2026, 12, 28, 9, tzinfo=UTC) + timedelta(weeks=n) for n in range(6)]
    for _ in range(2):
        await add_case(db, windows=[(m, "on_time") for m in mondays])
    await add_case(db, windows=[(m, "missed") for m in mondays])
    since, until = date(2026, 12, 30), date(2027, 2, 1)  # the first Monday is outside
    months = await attendance(db, group_by=["period"], period=summaries.Period.month,
                              since=since, until=until)
    assert [(r["period"], r["people"], r["expected"], r["on_time"]) for r in months] == [
        ("2027-01", 3, 12, 8), ("2027-02", 3, 3, 2)]
    weeks = await attendance(db, group_by=["period"], period=summaries.Period.week,
                             since=since, until=until)
    assert [(r["period"], r["expected"]) for r in weeks] == [
        ("2027-W01", 3), ("2027-W02", 3), ("2027-W03", 3), ("2027-W04", 3), ("2027-W05", 3)]
    # People are distinct cases, not a sum over periods.
    assert (await summary(db, group_by=[], since=since, until=until))["total"]["people"] == 3


def test_a_range_is_covered_by_months_weeks_and_days():
    d = date
    assert summaries.cover(d(2026, 12, 30), d(2027, 3, 10), None) == [
        ("day", d(2026, 12, 30)), ("day", d(2026, 12, 31)), ("month", d(2027, 1, 1)),
        ("month", d(2027, 2, 1)), ("week", d(2027, 3, 1)), ("day", d(2027, 3, 8)),
        ("day", d(2027, 3, 9)), ("day", d(2027, 3, 10))]
    # Grouped by week: no month; grouped by month: no week across a month's end.
    assert summaries.cover(d(2027, 1, 1), d(2027, 1, 31), summaries.Period.week) == [
        *(("day", d(2027, 1, n)) for n in (1, 2, 3)),
        *(("week", d(2027, 1, n)) for n in (4, 11, 18, 25))]
    assert summaries.cover(d(2027, 3, 29), d(2027, 4, 4), summaries.Period.month) == [
        ("day", d(2027, 3, 29) + timedelta(n)) for n in range(7)]
    assert summaries.cover(d(2027, 3, 29), d(2027, 4, 4), None) == [("week", d(2027, 3, 29))]


async def test_channel_and_centre_come_from_the_check_in_and_the_past_stays(db):
    case = await add_case(db, windows=[(MONDAYS[0], "pending"), (MONDAYS[1], "pending")])
    async with db() as session, session.begin():
        copy = await session.get(CaseCopy, case.case_id, with_for_update=True)
        await record_checkin(session, case=copy, channel=Channel.in_person,
                             now=MONDAYS[0] + timedelta(hours=1), reporting_centre="Croydon")
    # The programme changes after the first window was decided: it stays under A.
    async with db() as session, session.begin():
        copy = await session.get(CaseCopy, case.case_id)
        copy.programme = "B"
    async with db() as session, session.begin():
        copy = await session.get(CaseCopy, case.case_id, with_for_update=True)
        await record_checkin(session, case=copy, channel=Channel.sms,
                             now=MONDAYS[1] + timedelta(hours=11))
    rows = await attendance(db, group_by=["programme", "channel", "reporting_centre"])
    assert [(r["programme"], r["channel"], r["reporting_centre"], r["on_time"], r["late"])
            for r in rows] == [("A", "in_person", "Croydon", 1, 0), ("B", "sms", "none", 0, 1)]
    async with db() as session:
        assert await rollup_matches_raw(session)


async def rollup_matches_raw(session) -> bool:
    """The rollups, once the logged moves are folded, equal a rebuild from the windows
    (the raw GROUP BY's equal)."""
    await folding.fold_all(session)
    kept = {r.key: tuple(r) for r in (await session.execute(
        sa.select(AttendanceRollup.__table__))).all()}
    await rollups.rebuild(session)
    rebuilt = {r.key: tuple(r) for r in (await session.execute(
        sa.select(AttendanceRollup.__table__))).all()}
    await session.rollback()
    return kept == rebuilt


async def test_the_service_refuses_an_unknown_dimension(db):
    with pytest.raises(ValueError, match="unknown dimension"):
        await attendance(db, group_by=["caseworker"])


def test_csv_writes_withheld_cells_empty_and_defuses_formulas():
    rows = [{"programme": "=cmd()", "people": None, "expected": None, "on_time": 0,
             "attendance_rate": 0.5}]
    parsed = list(csv.DictReader(io.StringIO(summaries.to_csv(rows, ["programme"]))))
    assert parsed[0]["programme"] == "'=cmd()"
    assert (parsed[0]["people"], parsed[0]["on_time"], parsed[0]["attendance_rate"]) == (
        "", "0", "0.5")


SUPERVISOR = auth("supervisor", sub="sam")


async def test_the_endpoint_answers_a_supervisor_exactly(db, client):
    await standard_data(db)
    response = await client.get(URL, params={"from": "2027-01-04", "to": "2027-01-17",
                                             "group_by": "programme,sex"}, headers=SUPERVISOR)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("from", "to", "group_by", "protection", "withheld_rows",
                                 "suppression_threshold")} == {
        "from": "2027-01-04", "to": "2027-01-17", "group_by": ["programme", "sex"],
        "protection": "exact", "withheld_rows": 0, "suppression_threshold": None}
    assert body["rows"] == await attendance(db, group_by=["programme", "sex"])
    assert body["total"]["people"] == 14 and body["total"]["programme"] == "(all)"


async def test_the_endpoint_perturbs_for_an_authority(db, client):
    await standard_data(db)
    params = {"from": "2027-01-04", "to": "2027-01-17", "group_by": "programme,sex"}
    response = await client.get(URL, params=params, headers=AUTHORITY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["protection"], body["suppression_threshold"]) == ("cell_key", 5)
    exact = {(r["programme"], r["sex"]): r for r in await attendance(
        db, group_by=["programme", "sex"])}
    assert len(body["rows"]) + body["withheld_rows"] == len(exact)
    for row in body["rows"]:
        true = exact[row["programme"], row["sex"]]
        for count in COUNTS:  # moved by 2 at most, and never shown under 5
            assert row[count] is None or (row[count] >= 5 and abs(row[count] - true[count]) <= 2)
    # The same question, the same answer.
    assert (await client.get(URL, params=params, headers=AUTHORITY)).json() == body


async def test_csv_by_accept_or_format(db, client):
    await standard_data(db)
    params = {"from": "2027-01-04", "to": "2027-01-17", "group_by": "programme,sex"}
    by_accept = await client.get(URL, params=params, headers={**SUPERVISOR, "Accept": "text/csv"})
    by_format = await client.get(URL, params={**params, "format": "csv"}, headers=SUPERVISOR)
    for response in (by_accept, by_format):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.text.endswith("\r\n")
    assert by_accept.text == by_format.text
    rows = list(csv.reader(io.StringIO(by_format.text)))
    assert rows[0] == ["programme", "sex", "people", "expected", "on_time", "late", "missed",
                       "excused", "pending", "attendance_rate", "on_time_rate"]
    assert rows[1] == ["A", "female", "6", "12", "7", "5", "0", "0", "0", "1.0", "0.5833"]
    assert rows[2] == ["A", "male", "5", "10", "6", "0", "2", "2", "0", "0.75", "0.75"]
    assert rows[3] == ["B", "female", "3", "6", "6", "0", "0", "0", "0", "1.0", "1.0"]
    assert rows[4][:4] == ["(all)", "(all)", "14", "28"]
    # An authority's CSV: withheld counts are empty cells.
    authority = await client.get(URL, params={**params, "format": "csv"}, headers=AUTHORITY)
    parsed = list(csv.DictReader(io.StringIO(authority.text)))
    assert all(v == "" or int(v) >= 5 for row in parsed for k, v in row.items() if k in COUNTS)


@pytest.mark.parametrize("role", ["caseworker", "officer", "service"])
async def test_only_authorities_and_supervisors_may_ask(db, client, role):
    params = {"from": "2027-01-04", "to": "2027-01-17"}
    assert (await client.get(URL, params=params, headers=auth(role))).status_code == 403
    assert (await client.get(URL, params=params)).status_code == 401
    for allowed in ("authority", "supervisor"):
        assert (await client.get(URL, params=params, headers=auth(allowed))).status_code == 200


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2027-01-17", "to": "2027-01-04"}, "from"),
    ({"from": "2027-01-04", "to": "2027-01-17", "group_by": "programme,caseworker"}, "group_by"),
    ({"from": "2020-01-01", "to": "2025-01-02"}, "to"),  # 1,829 days: over five years
    ({"from": "9999-12-01", "to": "9999-12-31"}, "to"),
    ({"to": "2027-01-17"}, "from"),
    ({"from": "2027-01-04", "to": "17/01/2027"}, "to"),
    ({"from": "2027-01-04", "to": "2027-01-17", "period": "day"}, "period"),
    ({"from": "2027-01-04", "to": "2027-01-17", "format": "xlsx"}, "format"),
])
async def test_a_bad_request_names_the_field(db, client, params, field):
    response = await client.get(URL, params=params, headers=AUTHORITY)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_five_years_is_not_too_long(db, client):
    for since, until in (("2028-01-01", "2028-12-31"), ("2022-01-01", "2026-12-31")):
        response = await client.get(URL, params={"from": since, "to": until}, headers=AUTHORITY)
        assert response.status_code == 200, (since, until)


async def test_the_authority_sees_no_ids_references_or_dates_of_birth(db, client):
    cases = await standard_data(db)
    secrets = {str(c.case_id) for c in cases} | {c.case_id.hex for c in cases}
    secrets |= {c.reference for c in cases} | {c.keypad_reference for c in cases}
    secrets |= {c.date_of_birth.isoformat() for c in cases} | {"alice", "0" * 64}
    params = {"from": "2027-01-04", "to": "2027-01-17",
              "group_by": "programme,sex,age_group,nationality,vulnerability"}
    for accept in ("application/json", "text/csv"):
        response = await client.get(URL, params=params, headers={**AUTHORITY, "Accept": accept})
        assert response.status_code == 200
        assert not [s for s in secrets if s in response.text]
    body = json.loads((await client.get(URL, params=params, headers=AUTHORITY)).text)
    keys = {k for row in [*body["rows"], body["total"]] for k in row}
    assert keys == {"programme", "sex", "age_group", "nationality", "vulnerability", "people",
                    "expected", "on_time", "late", "missed", "excused", "pending",
                    "attendance_rate", "on_time_rate"}


async def test_summaries_answer_exactly_as_before_the_cases_are_erased(db):
    """Erasure drops the date of birth; each window keeps the age group it counted in,
    so every grouping answers as before, birthdays inside the period included."""
    from checkin.erasure import erase_case

    cases = await standard_data(db)
    # Turns 35 between the two Mondays: one window in 25-34, the other in 35-49.
    cases.append(await add_case(db, born=date(1992, 1, 6), windows=weekly("on_time", "late")))
    groupings = [[], *[[dim] for dim in summaries.DIMENSIONS if dim != "period"],
                 ["programme", "sex", "age_group"], ["age_group", "vulnerability"]]
    before = [await summary(db, group_by=g) for g in groupings]
    assert {"25-34", "35-49"} <= {r["age_group"] for r in before[3]["rows"]}
    async with db() as session, session.begin():
        for case in cases:
            await erase_case(session, case_id=case.case_id, version=2, status="closed")
    async with db() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(CaseCopy).where(
            CaseCopy.date_of_birth.is_not(None))) == 0
    after = [await summary(db, group_by=g) for g in groupings]
    assert after == before
