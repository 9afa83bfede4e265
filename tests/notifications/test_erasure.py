"""Erasure in notifications: on ``case.erased`` the contact's number and hash, the
texts of its reminders and logged messages and the number's opt-out go; the reminders'
rows stay without text. Again, late, or for a case never seen: nothing more."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from notifications.enums import ReminderStatus
from notifications.models import Contact, LoggedMessage, OptOut

from shared.changefeed import Change
from tests.checkin.helpers import BEFORE_START, VAULT
from tests.conftest import auth, client_for
from tests.notifications.helpers import (
    FIRST_OPENS,
    PHONE,
    add_person,
    case_change,
    dispatch,
    from_checkin,
    from_registry,
    reminders,
)

EVENING_BEFORE = FIRST_OPENS - timedelta(hours=15)


def erased(case_id: uuid.UUID, version: int = 3) -> Change:
    return Change(cursor="0-0", type="case.erased", subject_id=str(case_id),
                  occurred_at=BEFORE_START, data={
                      "schema_version": 1, "id": str(case_id), "version": version,
                      "status": "closed", "outcome": None,
                      "erased_at": "2026-12-07T12:00:00+00:00"})


async def rows(app, model, *where) -> list:
    async with app.state.sessionmaker() as session:
        return list((await session.execute(sa.select(model).where(*where))).scalars())


async def test_case_erased_erases_the_contact_texts_and_opt_out(notifications_app, clock):
    case_id, _ = await add_person(notifications_app, language="en")
    clock.move_to(EVENING_BEFORE)
    assert (await dispatch(notifications_app, concurrency=1)).sent == 1
    opted = {"phone_hash": VAULT.lookup_hash(PHONE), "case_ids": [str(case_id)]}
    await from_checkin(notifications_app, "contact.opted_out", opted)
    sent = (await reminders(notifications_app, case_id))["evening_before"]
    assert (await rows(notifications_app, LoggedMessage))[0].body == sent.body

    await from_registry(notifications_app, erased(case_id))

    [contact] = await rows(notifications_app, Contact, Contact.case_id == case_id)
    assert (contact.phone_encrypted, contact.phone_hash, contact.status, contact.version) == (
        None, None, "closed", 3)
    assert contact.erased_at is not None
    kept = await reminders(notifications_app, case_id)
    assert {kind: (r.status, r.body, r.error) for kind, r in kept.items()} == {
        "evening_before": (ReminderStatus.sent, None, None),
        **{kind: (ReminderStatus.cancelled, None, None) for kind in kept
           if kind != "evening_before"}}
    assert kept["evening_before"].provider_id == sent.provider_id  # the record stays true
    assert [m.body for m in await rows(notifications_app, LoggedMessage)] == [None]
    assert await rows(notifications_app, OptOut) == []
    # Nothing goes to an erased contact, and the API still answers for the case.
    clock.move_to(FIRST_OPENS)
    assert (await dispatch(notifications_app, concurrency=1)).claimed == 0
    async with client_for(notifications_app, "notifications") as client:
        response = await client.get(f"/v1/cases/{case_id}/notifications",
                                    headers=auth("supervisor", sub="sam"))
    assert response.status_code == 200, response.text
    assert {item["body"] for item in response.json()["items"]} == {None}


async def test_case_erased_again_late_or_for_an_unknown_case_changes_nothing_more(
        notifications_app, clock):
    case_id, _ = await add_person(notifications_app, language="en")
    await from_registry(notifications_app, erased(case_id))
    [first] = await rows(notifications_app, Contact, Contact.case_id == case_id)
    await from_registry(notifications_app, erased(case_id))
    await from_registry(notifications_app, case_change(case_id=case_id, version=2))
    [contact] = await rows(notifications_app, Contact, Contact.case_id == case_id)
    assert (contact.version, contact.phone_hash, contact.erased_at) == (3, None, first.erased_at)
    unknown = uuid.uuid4()
    await from_registry(notifications_app, erased(unknown))
    assert await rows(notifications_app, Contact, Contact.case_id == unknown) == []


async def test_an_opt_out_another_live_contact_shares_stays(notifications_app, clock):
    erased_id, _ = await add_person(notifications_app, language="en")
    sibling_id, _ = await add_person(notifications_app, language="en")  # the same phone
    number = VAULT.lookup_hash(PHONE)
    await from_checkin(notifications_app, "contact.opted_out",
                       {"phone_hash": number, "case_ids": [str(erased_id), str(sibling_id)]})
    await from_registry(notifications_app, erased(erased_id))
    assert [o.phone_hash for o in await rows(notifications_app, OptOut)] == [number]
    await from_registry(notifications_app, erased(sibling_id))
    assert await rows(notifications_app, OptOut) == []
