"""Bad input: a clear 422 naming the offending field, and nothing half-written."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import auth
from tests.registry.conftest import NOW
from tests.registry.factories import DELETE, case_body

CASEWORKER = auth("caseworker")
# The registry tests run at NOW (tests/registry/conftest.py).
TOMORROW = (NOW.date() + timedelta(days=1)).isoformat()
YESTERDAY = (NOW.date() - timedelta(days=1)).isoformat()

BAD = [
    ({"surprise": True}, "surprise"),
    ({"person__eye_colour": "brown"}, "person.eye_colour"),
    ({"person__fingerprint": "abc"}, "person.fingerprint"),
    ({"person__phone": "+44 12"}, "person.phone"),
    ({"person__phone": "07911123456"}, "person.phone"),
    ({"person__phone": "call me"}, "person.phone"),
    ({"person__date_of_birth": TOMORROW}, "person.date_of_birth"),
    ({"person__date_of_birth": "02/04/1990"}, "person.date_of_birth"),
    ({"person__nationality": "QQ"}, "person.nationality"),
    ({"person__nationality": "SDN"}, "person.nationality"),
    ({"person__preferred_language": "tlh"}, "person.preferred_language"),
    ({"person__sex": "f"}, "person.sex"),
    ({"person__given_name": ""}, "person.given_name"),
    ({"person__family_name": DELETE}, "person.family_name"),
    ({"programme": "Community Case Management!"}, "programme"),
    ({"vulnerabilities": ["unknown_flag"]}, "vulnerabilities.0"),
    ({"vulnerabilities": ["child", "child"]}, "vulnerabilities"),
    ({"reporting__channels": []}, "reporting.channels"),
    ({"reporting__channels": ["carrier_pigeon"]}, "reporting.channels.0"),
    ({"reporting__rrule": "EVERY MONDAY"}, "reporting.rrule"),
    ({"reporting__rrule": "FREQ=HOURLY"}, "reporting.rrule"),
    ({"reporting__rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "reporting.rrule"),
    ({"reporting__rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31"}, "reporting.rrule"),
    ({"reporting__rrule": "FREQ=WEEKLY;UNTIL=20200101T000000"}, "reporting.rrule"),
    ({"reporting__rrule": "FREQ=WEEKLY;BYHOUR=3"}, "reporting.rrule"),
    ({"reporting__timezone": "Europe/Londn"}, "reporting.timezone"),
    ({"reporting__timezone": "GMT+1"}, "reporting.timezone"),
    ({"reporting__window_opens": "25:00"}, "reporting.window_opens"),
    ({"reporting__window_hours": 0}, "reporting.window_hours"),
    ({"reporting__grace_hours": -1}, "reporting.grace_hours"),
    ({"reporting__starts_on": "soon"}, "reporting.starts_on"),
    ({"review_due": YESTERDAY}, "review_due"),
    ({"review_due": DELETE}, "review_due"),
    ({"person__date_of_birth": "1800-01-01"}, "person.date_of_birth"),
    ({"reporting__timezone": "localtime"}, "reporting.timezone"),
    ({"reporting__rrule": "FREQ=YEARLY;BYDAY=+60MO"}, "reporting.rrule"),
    ({"reporting__rrule": "FREQ=DAILY;BYSETPOS=2"}, "reporting.rrule"),
    ({"reporting__rrule": "FREQ=DAILY;BYMONTHDAY=-32"}, "reporting.rrule"),
    ({"reporting__rrule": "FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=-30"}, "reporting.rrule"),
]


async def stored_rows(app) -> tuple[int, ...]:
    """Rows in every registry table, read inside the test's own transaction."""
    async with app.state.sessionmaker() as session:
        counts = []
        for table in ("people", "cases", "reporting_requirements", "case_status_changes",
                      "change_events"):
            counts.append(await session.scalar(sa.text(f"SELECT count(*) FROM {table}")))
        return tuple(counts)


@pytest.mark.parametrize(("overrides", "field"), BAD, ids=[f for _, f in BAD])
async def test_bad_field_is_422_naming_it_and_writes_nothing(
    registry, registry_app, overrides, field
):
    before = await stored_rows(registry_app)
    response = await registry.post("/v1/cases", json=case_body(**overrides), headers=CASEWORKER)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in problem["errors"]], problem
    assert field in problem["detail"]
    assert await stored_rows(registry_app) == before


async def test_every_bad_field_is_reported_at_once(registry):
    body = case_body(person__phone="nope", person__nationality="ZZ", review_due=YESTERDAY)
    response = await registry.post("/v1/cases", json=body, headers=CASEWORKER)
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"person.phone", "person.nationality", "review_due"} <= fields


@pytest.mark.parametrize("good", [
    {"person__nationality": "xx"},
    {"person__nationality": "XK"},
    {"reporting__rrule": "RRULE:FREQ=MONTHLY;BYDAY=1TU"},
    {"reporting__rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH"},
    {"reporting__rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"},
    {"reporting__timezone": "America/New_York"},
    {"review_due": NOW.date().isoformat()},
    {"vulnerabilities": []},
])
async def test_valid_edge_values_are_accepted(registry, good):
    response = await registry.post("/v1/cases", json=case_body(**good), headers=CASEWORKER)
    assert response.status_code == 201, response.text


async def test_a_body_that_is_not_json_is_422(registry):
    response = await registry.post("/v1/cases", content=b"{not json", headers=CASEWORKER | {
        "Content-Type": "application/json"})
    assert response.status_code == 422


async def test_an_oversized_body_is_413(registry):
    body = case_body(person__given_name="A" * 70_000)
    response = await registry.post("/v1/cases", json=body, headers=CASEWORKER)
    assert response.status_code == 413
