"""Every member of every vocabulary the caseworker's list shows comes back listed (a
member added later is covered by the parametrization), and the database refuses a
value outside one."""

from __future__ import annotations

import uuid
from datetime import timedelta
from enum import StrEnum

import pytest
import sqlalchemy as sa
from notifications.enums import Channel, DeliveryStatus, ReminderKind, ReminderStatus
from notifications.models import Reminder

from tests.notifications.helpers import CASEWORKER, FIRST_OPENS, add_person

FIELDS: dict[type[StrEnum], str] = {ReminderKind: "kind", ReminderStatus: "status",
                                    Channel: "channel", DeliveryStatus: "delivery_status"}
MEMBERS = [pytest.param(field, member, id=f"{field}={member}")
           for vocabulary, field in FIELDS.items() for member in vocabulary]


def reminder(case_id: uuid.UUID, **values) -> Reminder:
    row = {"case_id": case_id, "expected_checkin_id": uuid.uuid4(), "kind": ReminderKind.nudge,
           "channel": Channel.sms, "language": "en", "status": ReminderStatus.planned,
           "due_at": FIRST_OPENS, "next_attempt_at": FIRST_OPENS,
           "deadline": FIRST_OPENS + timedelta(hours=1), "body": "A gentle reminder", **values}
    return Reminder(**row)


@pytest.mark.parametrize(("field", "member"), MEMBERS)
async def test_the_list_shows_every_member(notifications_app, notifications, clock, field, member):
    case_id, _ = await add_person(notifications_app, channels=["in_person"])  # no reminders
    async with notifications_app.state.sessionmaker() as session, session.begin():
        session.add(reminder(case_id, **{field: member}))
    listed = await notifications.get(f"/v1/cases/{case_id}/notifications", headers=CASEWORKER)
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert item[field] == member.value


@pytest.mark.parametrize("field", list(FIELDS.values()))
async def test_the_database_refuses_a_value_outside_the_vocabulary(notifications_app, clock,
                                                                     field):
    case_id, _ = await add_person(notifications_app, channels=["in_person"])
    with pytest.raises(sa.exc.IntegrityError):
        async with notifications_app.state.sessionmaker() as session, session.begin():
            session.add(reminder(case_id, **{field: "made-up"}))
