"""Checkin's audit trail: a PIN issued, a case's check-ins read, an in-person check-in
recorded, a window excused, follow-ups listed or handled: each leaves an entry naming
who, as which role, which case and which request. The person's own check-ins by phone
leave none (no one else looked at anything)."""

from __future__ import annotations

from datetime import timedelta

from checkin.enums import FollowUpKind
from checkin.follow_ups import open_follow_up

from tests.checkin.helpers import (
    CASEWORKER,
    FIRST_OPENS,
    OFFICER,
    SUPERVISOR,
    add_case,
    expected,
    issue_pin,
    sms,
)


async def trail(checkin, case_id) -> list[tuple[str, str, str]]:
    response = await checkin.get("/v1/audit", headers=SUPERVISOR,
                                 params={"case_id": str(case_id),
                                         "from": "2026-11-01T00:00:00Z"})
    assert response.status_code == 200, response.text
    return [(e["action"], e["actor"], e["role"]) for e in reversed(response.json()["items"])]


async def test_what_staff_do_with_a_case_is_in_its_trail(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app)
    pin = await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    await sms(checkin, f"CHECKIN {pin}")  # the person: not audited
    await checkin.get(f"/v1/cases/{case_id}/checkins", headers=CASEWORKER)
    recorded = await checkin.post("/v1/checkins", headers=OFFICER | {"X-Request-ID": "r-1"},
                                  json={"case_id": str(case_id), "reporting_centre": "Croydon",
                                        "identity_confirmed_by": "document"})
    assert recorded.status_code in (200, 201), recorded.text
    second = (await expected(checkin_app, case_id))[1]
    excused = await checkin.post(f"/v1/expected-checkins/{second.id}/excusal",
                                 json={"reason": "in hospital"}, headers=CASEWORKER)
    assert excused.status_code == 200, excused.text

    assert await trail(checkin, case_id) == [
        ("pin.issued", "alice", "caseworker"),
        ("checkins.read", "alice", "caseworker"),
        ("checkin.recorded", "olu", "officer"),
        ("expected_checkin.excused", "alice", "caseworker"),
    ]
    latest = (await checkin.get("/v1/audit", headers=SUPERVISOR,
                                params={"actor": "olu"})).json()["items"][0]
    assert latest["request_id"] == "r-1"


async def test_follow_ups_listed_and_handled_are_in_the_trail(checkin_app, checkin, clock):
    from checkin.cases import get_case

    case_id = await add_case(checkin_app)
    async with checkin_app.state.sessionmaker() as session, session.begin():
        follow_up = await open_follow_up(session, case=await get_case(session, case_id=case_id),
                                         kind=FollowUpKind.pin_locked, detail="audit")
    listed = await checkin.get("/v1/follow-ups", headers=CASEWORKER)
    assert [f["id"] for f in listed.json()["items"]] == [str(follow_up.id)]
    await checkin.post(f"/v1/follow-ups/{follow_up.id}/acknowledge", headers=CASEWORKER)
    await checkin.post(f"/v1/follow-ups/{follow_up.id}/close", json={"note": "spoke to them"},
                       headers=SUPERVISOR)
    assert await trail(checkin, case_id) == [
        ("follow_ups.listed", "alice", "caseworker"),
        ("follow_up.acknowledged", "alice", "caseworker"),
        ("follow_up.closed", "sam", "supervisor"),
    ]


async def test_a_caseworker_cannot_read_checkin_s_trail(checkin):
    response = await checkin.get("/v1/audit", headers=CASEWORKER)
    assert response.status_code == 403
