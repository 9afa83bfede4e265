"""Notifications' audit trail: reading a case's reminders (their texts and delivery)
leaves an entry; a refused read leaves none."""

from __future__ import annotations

from tests.conftest import auth
from tests.notifications.helpers import CASEWORKER, add_person

SUPERVISOR = auth("supervisor", sub="sam")
BOB = auth("caseworker", sub="bob")


async def test_reading_a_case_s_reminders_is_in_the_trail(notifications_app, notifications,
                                                         clock):
    case_id, _ = await add_person(notifications_app)  # alice's
    path = f"/v1/cases/{case_id}/notifications"
    assert (await notifications.get(path, headers=CASEWORKER)).status_code == 200
    assert (await notifications.get(path, headers=BOB)).status_code == 404
    response = await notifications.get("/v1/audit", headers=SUPERVISOR, params={
        "case_id": str(case_id), "from": "2026-11-01T00:00:00Z"})
    assert response.status_code == 200, response.text
    assert [(e["action"], e["actor"], e["role"]) for e in response.json()["items"]] == [
        ("notifications.read", "alice", "caseworker")]
