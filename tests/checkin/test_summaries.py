"""Attendance summaries: counts and rates per group, small numbers withheld (not zeroed)
so nobody can be singled out, CSV on request, and only authorities and supervisors
may ask. The data goes straight into a database built from the real migrations."""

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
from checkin import summaries
from checkin.api.summaries import router
from checkin.app import create_app
from checkin.models import CaseCopy, ExpectedCheckin

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
        await session.execute(sa.delete(ExpectedCheckin))
        await session.execute(sa.delete(CaseCopy))
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


async def attendance(sessionmaker, *, group_by: Sequence[str], threshold: int = 5,
                     since: date = FROM, until: date = TO) -> list[dict]:
    async with sessionmaker() as session:
        return await summaries.attendance(
            session, since=since, until=until, group_by=group_by, threshold=threshold)


WITHHELD = dict.fromkeys(
    ("people", "expected", "on_time", "late", "missed", "excused", "pending",
     "attendance_rate", "on_time_rate"))


async def test_counts_and_rates_per_group(db):
    await standard_data(db)
    rows = await attendance(db, group_by=["programme", "sex"])
    assert rows[0] == {
        "programme": "A", "sex": "female", "people": 6, "expected": 12, "on_time": 7,
        "late": 5, "missed": 0, "excused": 0, "pending": 0, "attendance_rate": 1.0,
        "on_time_rate": 0.5833, "suppressed": False,
    }
    assert [(r["programme"], r["sex"]) for r in rows] == [("A", "female"), ("A", "male"),
                                                          ("B", "female")]
    by_sex = await attendance(db, group_by=["sex"])
    assert by_sex[0] == {
        "sex": "female", "people": 9, "expected": 18, "on_time": 13, "late": 5, "missed": 0,
        "excused": 0, "pending": 0, "attendance_rate": 1.0, "on_time_rate": 0.7222,
        "suppressed": False,
    }


async def test_a_group_of_fewer_than_five_people_is_withheld_not_zeroed(db):
    await standard_data(db)
    rows = await attendance(db, group_by=["programme", "sex"])
    assert rows[2] == {"programme": "B", "sex": "female", **WITHHELD, "suppressed": True}
    # The same three people are shown at a lower threshold: the data was there.
    shown = (await attendance(db, group_by=["programme", "sex"], threshold=3))[2]
    assert shown["people"] == 3 and shown["on_time"] == 6 and not shown["suppressed"]


async def test_a_small_count_in_a_large_group_is_withheld_with_the_rates_it_feeds(db):
    await standard_data(db)
    male = (await attendance(db, group_by=["programme", "sex"]))[1]
    assert male == {
        "programme": "A", "sex": "male", "people": 5, "expected": 10, "on_time": 6, "late": 0,
        "missed": None, "excused": None, "pending": 0, "attendance_rate": None,
        "on_time_rate": None, "suppressed": False,
    }
    # Two missed are still withheld once the men are pooled with the women.
    programme_a = (await attendance(db, group_by=["programme"]))[0]
    assert (programme_a["people"], programme_a["missed"], programme_a["excused"],
            programme_a["attendance_rate"]) == (11, None, None, None)


async def test_the_total_row_and_the_period_bounds(db):
    inside = [(datetime(2027, 1, 4, 0, tzinfo=UTC), "on_time"),
              (datetime(2027, 1, 17, 23, 59, 59, tzinfo=UTC), "missed")]
    outside = [(datetime(2027, 1, 3, 23, 59, 59, tzinfo=UTC), "on_time"),
               (datetime(2027, 1, 18, 0, tzinfo=UTC), "on_time")]
    for _ in range(5):
        await add_case(db, windows=inside + outside)
    assert await attendance(db, group_by=[]) == [{
        "people": 5, "expected": 10, "on_time": 5, "late": 0, "missed": 5, "excused": 0,
        "pending": 0, "attendance_rate": 0.5, "on_time_rate": 0.5, "suppressed": False,
    }]
    # No grouping still answers one row over an empty period: zeros, nothing withheld.
    empty = await attendance(db, group_by=[], since=date(2030, 1, 1), until=date(2030, 1, 31))
    assert empty == [{"people": 0, "expected": 0, "on_time": 0, "late": 0, "missed": 0,
                      "excused": 0, "pending": 0, "attendance_rate": None, "on_time_rate": None,
                      "suppressed": False}]
    assert await attendance(db, group_by=["sex"], since=date(2030, 1, 1),
                            until=date(2030, 1, 31)) == []


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
    rows = await attendance(db, group_by=["age_group"], threshold=1, since=date(2026, 2, 1))
    assert [(r["age_group"], r["people"], r["expected"], r["on_time"], r["late"], r["missed"])
            for r in rows] == [
        ("0-17", 2, 2, 2, 0, 0),
        ("18-24", 2, 2, 0, 1, 1),
        ("35-49", 1, 2, 2, 0, 0),
        ("50-64", 1, 1, 1, 0, 0),
        ("65+", 1, 1, 1, 0, 0),
    ]
    assert summaries.age_group(date(2000, 1, 1), date(2025, 1, 1)) == "25-34"
    assert summaries.age_group(date(2000, 1, 2), date(2025, 1, 1)) == "18-24"


async def test_a_case_with_several_vulnerabilities_counts_in_each_row(db):
    await add_case(db, vulnerabilities=["survivor_of_trafficking", "disability"],
                   windows=weekly("on_time", "missed"))
    await add_case(db, vulnerabilities=["disability"], windows=weekly("late", "on_time"))
    await add_case(db, windows=weekly("excused", "pending"))
    rows = await attendance(db, group_by=["vulnerability"], threshold=1)
    assert [(r["vulnerability"], r["people"], r["expected"], r["on_time"], r["late"],
             r["missed"], r["excused"], r["pending"]) for r in rows] == [
        ("disability", 2, 4, 2, 1, 1, 0, 0),
        ("none", 1, 2, 0, 0, 0, 1, 1),
        ("survivor_of_trafficking", 1, 2, 1, 0, 1, 0, 0),
    ]
    # With another dimension the flags still split the case, never the check-ins twice a row.
    rows = await attendance(db, group_by=["sex", "vulnerability"], threshold=1)
    assert [(r["sex"], r["vulnerability"], r["expected"]) for r in rows] == [
        ("female", "disability", 4), ("female", "none", 2), ("female", "survivor_of_trafficking", 2)]


async def test_the_service_refuses_an_unknown_dimension(db):
    with pytest.raises(ValueError, match="unknown dimension"):
        await attendance(db, group_by=["caseworker"])


def test_csv_writes_withheld_cells_empty_and_defuses_formulas():
    rows = [{"programme": "=cmd()", "people": None, "expected": None, "on_time": 0,
             "attendance_rate": 0.5, "suppressed": True}]
    parsed = list(csv.DictReader(io.StringIO(summaries.to_csv(rows, ["programme"]))))
    assert parsed[0]["programme"] == "'=cmd()"
    assert (parsed[0]["people"], parsed[0]["on_time"], parsed[0]["attendance_rate"],
            parsed[0]["suppressed"]) == ("", "0", "0.5", "true")


async def test_the_endpoint_answers_json_for_an_authority(db, client):
    await standard_data(db)
    response = await client.get(URL, params={"from": "2027-01-04", "to": "2027-01-17",
                                             "group_by": "programme,sex"}, headers=AUTHORITY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("from", "to", "group_by", "suppression_threshold")} == {
        "from": "2027-01-04", "to": "2027-01-17", "group_by": ["programme", "sex"],
        "suppression_threshold": 5}
    assert body["rows"][0]["on_time_rate"] == 0.5833
    assert body["rows"][1]["missed"] is None
    assert body["rows"][2]["people"] is None and body["rows"][2]["suppressed"] is True
    # No grouping: one total row.
    total = await client.get(URL, params={"from": "2027-01-04", "to": "2027-01-17"},
                             headers=AUTHORITY)
    assert total.json()["group_by"] == [] and len(total.json()["rows"]) == 1
    assert total.json()["rows"][0]["people"] == 14


async def test_csv_through_the_accept_header(db, client):
    await standard_data(db)
    response = await client.get(
        URL, params={"from": "2027-01-04", "to": "2027-01-17", "group_by": "programme,sex"},
        headers={**AUTHORITY, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["programme", "sex", "people", "expected", "on_time", "late", "missed",
                       "excused", "pending", "attendance_rate", "on_time_rate", "suppressed"]
    assert rows[1] == ["A", "female", "6", "12", "7", "5", "0", "0", "0", "1.0", "0.5833",
                       "false"]
    assert rows[2] == ["A", "male", "5", "10", "6", "0", "", "", "0", "", "", "false"]
    assert rows[3] == ["B", "female", "", "", "", "", "", "", "", "", "", "true"]


@pytest.mark.parametrize("role", ["caseworker", "officer", "service"])
async def test_only_authorities_and_supervisors_may_ask(db, client, role):
    params = {"from": "2027-01-04", "to": "2027-01-17"}
    assert (await client.get(URL, params=params, headers=auth(role))).status_code == 403
    assert (await client.get(URL, params=params)).status_code == 401
    for allowed in ("authority", "supervisor"):
        assert (await client.get(URL, params=params, headers=auth(allowed))).status_code == 200


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2027-01-17", "to": "2027-01-04"}, "to"),
    ({"from": "2027-01-04", "to": "2027-01-17", "group_by": "programme,caseworker"}, "group_by"),
    ({"from": "2026-01-01", "to": "2027-01-02"}, "to"),  # 367 days
    ({"from": "9999-12-01", "to": "9999-12-31"}, "to"),
    ({"to": "2027-01-17"}, "from"),
    ({"from": "2027-01-04", "to": "17/01/2027"}, "to"),
])
async def test_a_bad_request_names_the_field(db, client, params, field):
    response = await client.get(URL, params=params, headers=AUTHORITY)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_a_year_is_not_too_long(db, client):
    for since, until in (("2028-01-01", "2028-12-31"), ("2026-01-01", "2027-01-01")):
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
    keys = {k for row in json.loads((await client.get(URL, params=params, headers=AUTHORITY)).text)[
        "rows"] for k in row}
    assert keys == {"programme", "sex", "age_group", "nationality", "vulnerability", "people",
                    "expected", "on_time", "late", "missed", "excused", "pending",
                    "attendance_rate", "on_time_rate", "suppressed"}


async def test_summaries_answer_exactly_as_before_the_cases_are_erased(db):
    """Erasure drops the date of birth; each window keeps the age group it counted in,
    so every grouping answers as before, birthdays inside the period included."""
    from checkin.erasure import erase_case

    cases = await standard_data(db)
    # Turns 35 between the two Mondays: one window in 25-34, the other in 35-49.
    cases.append(await add_case(db, born=date(1992, 1, 6), windows=weekly("on_time", "late")))
    groupings = [[], *[[dim] for dim in summaries.DIMENSIONS],
                 ["programme", "sex", "age_group"], ["age_group", "vulnerability"]]
    before = [await attendance(db, group_by=g, threshold=1) for g in groupings]
    assert {"25-34", "35-49"} <= {r["age_group"] for r in before[3]}
    async with db() as session, session.begin():
        for case in cases:
            await erase_case(session, case_id=case.case_id, version=2, status="closed")
    async with db() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(CaseCopy).where(
            CaseCopy.date_of_birth.is_not(None))) == 0
    after = [await attendance(db, group_by=g, threshold=1) for g in groupings]
    assert after == before
