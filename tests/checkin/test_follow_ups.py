"""Follow-ups: a missed check-in or a PIN lock opens one for the case's caseworker, who
lists them (mine, open, by case), acknowledges and closes them with a note. Each step
goes on the checkin change feed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.checkin.helpers import (
    CASEWORKER,
    FIRST_OPENS,
    OFFICER,
    add_case,
    auth,
    events,
    follow_ups,
    run_jobs,
    sms,
)

GRACE_ENDS = FIRST_OPENS + timedelta(hours=34)  # Tuesday 8 December, 19:00Z
BOB = auth("caseworker", sub="bob")
LEAD = auth("supervisor", sub="lead")
AUTHORITY = auth("authority", sub="home-office")
NOTIFICATIONS = auth("service", sub="notifications")


async def listed(client, headers=CASEWORKER, **params) -> list[dict]:
    response = await client.get("/v1/follow-ups", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def ids(items: list[dict]) -> set[str]:
    return {item["id"] for item in items}


async def acknowledge(client, follow_up_id, headers=CASEWORKER):
    return await client.post(f"/v1/follow-ups/{follow_up_id}/acknowledge", headers=headers)


async def close(client, follow_up_id, note: str | None = "Called her: the bus was cancelled.",
                headers=CASEWORKER):
    body = {} if note is None else {"note": note}
    return await client.post(f"/v1/follow-ups/{follow_up_id}/close", json=body, headers=headers)


@pytest.fixture
async def missed(checkin_app, clock) -> dict[str, str]:
    """Three cases, two of them alice's and one bob's, each with a missed check-in;
    returns each one's follow-up id by a label."""
    cases = {
        "alice-1": await add_case(checkin_app, caseworker="alice"),
        "alice-2": await add_case(checkin_app, caseworker="alice", vulnerabilities=["child"]),
        "bob": await add_case(checkin_app, caseworker="bob", vulnerabilities=[]),
    }
    clock.move_to(GRACE_ENDS + timedelta(hours=1))
    await run_jobs(checkin_app)
    found = {}
    for label, case_id in cases.items():
        [follow_up] = await follow_ups(checkin_app, case_id)
        found[label] = str(follow_up.id)
        found[f"{label}:case"] = str(case_id)
    return found


async def test_a_caseworker_lists_their_own(checkin, missed):
    assert ids(await listed(checkin, headers=BOB, mine="true")) == {missed["bob"]}
    assert ids(await listed(checkin, mine="true")) == {missed["alice-1"], missed["alice-2"]}
    # Without ``mine`` a caseworker still sees only their caseload; a supervisor all.
    assert ids(await listed(checkin)) == {missed["alice-1"], missed["alice-2"]}
    assert ids(await listed(checkin, headers=LEAD)) == {
        missed["alice-1"], missed["alice-2"], missed["bob"]}
    [item] = await listed(checkin, headers=BOB, mine="true")
    assert (item["kind"], item["status"], item["assigned_to"]) == ("missed_checkin", "open", "bob")
    assert item["case_id"] == missed["bob:case"]
    assert item["expected_checkin_id"]


async def test_the_list_filters_by_case_and_by_status(checkin, missed):
    [item] = await listed(checkin, case_id=missed["alice-2:case"])
    assert item["id"] == missed["alice-2"]
    assert item["vulnerabilities"] == ["child"]
    assert (await listed(checkin, case_id=str(uuid.uuid4()))) == []

    assert (await acknowledge(checkin, missed["alice-1"])).status_code == 200
    assert (await close(checkin, missed["alice-2"])).status_code == 200
    # Open means not yet closed: an acknowledged one is still open work.
    assert ids(await listed(checkin, status="open")) == {missed["alice-1"]}
    assert ids(await listed(checkin, headers=LEAD, status="open")) == {
        missed["alice-1"], missed["bob"]}
    assert ids(await listed(checkin, status="acknowledged")) == {missed["alice-1"]}
    assert ids(await listed(checkin, status="closed")) == {missed["alice-2"]}
    assert ids(await listed(checkin, mine="true", status="open")) == {missed["alice-1"]}
    bad = await checkin.get("/v1/follow-ups", params={"status": "done"}, headers=CASEWORKER)
    assert bad.status_code == 422


async def test_acknowledging_is_idempotent(checkin_app, checkin, missed, clock):
    first = await acknowledge(checkin, missed["alice-1"])
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["status"], body["acknowledged_by"]) == ("acknowledged", "alice")
    assert body["acknowledged_at"]
    clock.shift(timedelta(minutes=5))
    again = await acknowledge(checkin, missed["alice-1"], headers=LEAD)
    assert again.status_code == 200
    assert again.json() == body
    acknowledged = await events(checkin_app, "follow_up.acknowledged")
    assert [e.subject_id for e in acknowledged] == [missed["alice-1"]]


async def test_closing_with_a_note(checkin_app, checkin, missed):
    response = await close(checkin, missed["bob"], headers=BOB)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["closed_by"]) == ("closed", "bob")
    assert body["note"] == "Called her: the bus was cancelled."
    assert body["closed_at"]

    again = await close(checkin, missed["bob"], note="Another note", headers=BOB)
    assert again.status_code == 409
    assert (await acknowledge(checkin, missed["bob"], headers=BOB)).status_code == 409
    [stored] = await listed(checkin, headers=BOB, case_id=missed["bob:case"])
    assert (stored["status"], stored["note"]) == ("closed", "Called her: the bus was cancelled.")
    closed = await events(checkin_app, "follow_up.closed")
    assert [e.subject_id for e in closed] == [missed["bob"]]


async def test_an_acknowledged_one_can_be_closed(checkin, missed):
    await acknowledge(checkin, missed["alice-1"])
    body = (await close(checkin, missed["alice-1"])).json()
    assert (body["status"], body["acknowledged_by"], body["closed_by"]) == (
        "closed", "alice", "alice")


async def test_an_unknown_follow_up_is_404(checkin):
    unknown = uuid.uuid4()
    assert (await acknowledge(checkin, unknown)).status_code == 404
    assert (await close(checkin, unknown)).status_code == 404


@pytest.mark.parametrize("note", [None, "", "   "], ids=["missing", "empty", "blank"])
async def test_closing_needs_a_note(checkin, missed, note):
    response = await close(checkin, missed["alice-1"], note=note)
    assert response.status_code == 422
    assert "note" in [e["field"] for e in response.json()["errors"]]
    [item] = await listed(checkin, case_id=missed["alice-1:case"])
    assert item["status"] == "open"


@pytest.mark.parametrize("headers", [AUTHORITY, OFFICER], ids=["authority", "officer"])
async def test_follow_ups_are_for_caseworkers(checkin, missed, headers):
    assert (await checkin.get("/v1/follow-ups", headers=headers)).status_code == 403
    assert (await acknowledge(checkin, missed["alice-1"], headers=headers)).status_code == 403
    assert (await close(checkin, missed["alice-1"], headers=headers)).status_code == 403
    [item] = await listed(checkin, case_id=missed["alice-1:case"])
    assert item["status"] == "open"


async def test_a_supervisor_may_work_follow_ups(checkin, missed):
    supervisor = auth("supervisor", sub="sam")
    assert ids(await listed(checkin, headers=supervisor)) >= {missed["bob"]}
    assert (await close(checkin, missed["bob"], headers=supervisor)).json()["closed_by"] == "sam"


async def test_five_wrong_pins_open_a_pin_lock_follow_up(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, caseworker="bob", language="en",
                             vulnerabilities=["disability"])
    issued = await checkin.post(f"/v1/cases/{case_id}/pin", headers=BOB)
    assert issued.status_code == 201, issued.text
    pin = issued.json()["pin"]
    wrong = "000000" if pin != "000000" else "999999"
    for _ in range(4):
        await sms(checkin, wrong)
    assert await follow_ups(checkin_app, case_id) == []
    await sms(checkin, wrong)
    [item] = await listed(checkin, headers=BOB, mine="true", status="open")
    assert (item["kind"], item["case_id"], item["assigned_to"]) == (
        "pin_locked", str(case_id), "bob")
    assert item["vulnerabilities"] == ["disability"]
    assert item["expected_checkin_id"] is None
    assert "new PIN" in item["detail"]
    assert pin not in item["detail"] and wrong not in item["detail"]


async def feed(client, headers=NOTIFICATIONS) -> list[dict]:
    changes, cursor = [], None
    while True:
        params = {"limit": 1000} if cursor is None else {"after": cursor, "limit": 1000}
        response = await client.get("/v1/changes", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        changes += page["changes"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return changes


async def test_follow_up_events_are_on_the_change_feed(fresh_checkin_app, fresh_checkin):
    with time_machine.travel(datetime(2026, 12, 1, 12, 0, tzinfo=UTC), tick=False) as clock:
        case_id = await add_case(fresh_checkin_app, caseworker="bob")
        clock.move_to(GRACE_ENDS + timedelta(hours=1))
        await run_jobs(fresh_checkin_app)
        [follow_up] = await follow_ups(fresh_checkin_app, case_id)
        assert (await acknowledge(fresh_checkin, follow_up.id, headers=BOB)).status_code == 200
        assert (await close(fresh_checkin, follow_up.id, headers=BOB)).status_code == 200

        wanted = ["follow_up.opened", "follow_up.acknowledged", "follow_up.closed"]
        # On PostgreSQL the feed only shows transactions older than every one still
        # running on the server, so wait out any other test's open transaction.
        async with asyncio.timeout(20):
            while True:
                ours = [c for c in await feed(fresh_checkin)
                        if c["type"].startswith("follow_up.")]
                if len(ours) >= len(wanted):
                    break
                await asyncio.sleep(0.1)
        assert [c["type"] for c in ours] == wanted
        assert {c["subject_id"] for c in ours} == {str(follow_up.id)}
        assert [c["data"]["status"] for c in ours] == ["open", "acknowledged", "closed"]
        opened = ours[0]["data"]
        assert (opened["kind"], opened["case_id"], opened["assigned_to"]) == (
            "missed_checkin", str(case_id), "bob")
        assert opened["expected_checkin_id"] == str(follow_up.expected_checkin_id)
        # The missed outcome travels on the same feed, before its follow-up.
        types = [c["type"] for c in await feed(fresh_checkin)]
        assert "expected_checkin.outcome" in types
        assert types.index("follow_up.opened") < types.index("follow_up.closed")
        assert (await fresh_checkin.get("/v1/changes", headers=CASEWORKER)).status_code == 403
