"""What checkin publishes is its event models, key for key, and what it reads from the
registry and notifications goes through its own read models: an event type it does
not know is ``UnknownEvent`` (skipped and counted by the feed), a payload or version
it cannot read is an error that stops the feed at that event."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pydantic
import pytest
from checkin import feeds
from checkin.enums import CaseStatus, Channel, EventType, RegistryEvent
from checkin.events import EVENTS

from shared.changefeed import Change, UnknownEvent
from tests.checkin.helpers import (
    BEFORE_START,
    CASEWORKER,
    FIRST_OPENS,
    SUPERVISOR,
    apply,
    case_change,
    events,
    run_jobs,
    sms,
)


def change(type: str, data: dict) -> Change:
    return Change(cursor="0-1", type=type, subject_id=str(uuid.uuid4()),
                  occurred_at=BEFORE_START, data=data)


def test_every_event_type_has_its_model():
    assert set(EVENTS) == set(EventType)
    assert all(model.type == type for type, model in EVENTS.items())


async def test_every_published_event_is_its_model_key_for_key(checkin_app, checkin, case, clock):
    case_id, pin = case
    await sms(checkin, "STOP")
    await sms(checkin, "START")
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    assert (await sms(checkin, pin)).status_code == 200
    clock.move_to(FIRST_OPENS + timedelta(days=8, hours=11))  # the second window is missed
    await run_jobs(checkin_app)
    follow_ups = (await checkin.get("/v1/follow-ups", headers=CASEWORKER)).json()["items"]
    missed = next(f for f in follow_ups if f["kind"] == "missed_checkin")
    await checkin.post(f"/v1/follow-ups/{missed['id']}/acknowledge", headers=CASEWORKER)
    await checkin.post(f"/v1/follow-ups/{missed['id']}/close", headers=CASEWORKER,
                       json={"note": "Spoke to her."})
    response = await checkin.post("/v1/outages", headers=SUPERVISOR, json={
        "channel": "sms", "starts_at": "2026-12-14T00:00:00Z", "ends_at": "2026-12-16T00:00:00Z",
        "reason": "carrier incident"})
    assert response.status_code == 201, response.text
    await apply(checkin_app, case_change(case_id=case_id, version=2, rrule="FREQ=WEEKLY;BYDAY=TU"))

    published = await events(checkin_app)
    assert {e.type for e in published} == set(EventType)
    for event in published:
        model = EVENTS[EventType(event.type)].model_validate(event.data)
        assert event.data == model.model_dump(mode="json")
        assert event.data["schema_version"] == 1
        assert event.subject_id == str(model.subject_id)


async def test_instants_keep_their_offset_form(checkin_app, case):
    [planned, *_] = await events(checkin_app, "expected_checkin.planned")
    assert planned.data["opens_at"] == "2026-12-07T09:00:00+00:00"


@pytest.mark.parametrize("parse", [feeds.parse_registry_change, feeds.parse_notifications_change])
def test_an_event_type_checkin_does_not_know_is_unknown(parse):
    with pytest.raises(UnknownEvent):
        parse(change("case.merged", {"id": str(uuid.uuid4())}))


async def test_applying_an_unknown_event_changes_nothing_and_says_so(checkin_app):
    async with checkin_app.state.sessionmaker() as session, session.begin():
        with pytest.raises(UnknownEvent):
            await feeds.apply_registry_change(session, change("case.merged", {}))
        with pytest.raises(UnknownEvent):
            await feeds.apply_notifications_change(session, change("reminder.planned", {}))


def test_a_case_event_parses_into_checkins_read_model():
    parsed = feeds.parse_registry_change(case_change(status="suspended"))
    assert parsed.status == "suspended" and parsed.schema_version == 1
    assert parsed.reporting.window_opens.isoformat("minutes") == "09:00"


def test_an_event_stored_before_versions_is_version_1():
    data = case_change().data
    del data["schema_version"]
    assert feeds.parse_registry_change(change("case.created", data)).schema_version == 1


@pytest.mark.parametrize("broken", [
    {"schema_version": 2},
    {"status": "archived"},  # a status checkin has not learnt
    {"reference": "X" * 40},
    {"person": None},
])
def test_a_case_event_checkin_cannot_read_is_an_error(broken):
    data = {**case_change().data, **broken}
    with pytest.raises(pydantic.ValidationError):
        feeds.parse_registry_change(change("case.updated", data))


@pytest.mark.parametrize(("type", "data"), [
    ("reminder.status", {"expected_checkin_id": str(uuid.uuid4()), "status": "lost"}),
    ("reminder.status", {"expected_checkin_id": "E1", "status": "sent"}),
    ("reminder.undeliverable", {"channel": "sms"}),
    ("reminder.undeliverable", {"case_id": str(uuid.uuid4()), "schema_version": 3}),
])
def test_a_notifications_event_checkin_cannot_read_is_an_error(type, data):
    with pytest.raises(pydantic.ValidationError):
        feeds.parse_notifications_change(change(type, data))


def test_checkin_reads_every_case_status_and_event_the_registry_publishes():
    # Checkin cannot import the registry; its tests can, to catch a vocabulary drifting.
    from registry import enums as registry

    assert set(CaseStatus) == set(registry.CaseStatus)
    assert set(RegistryEvent) == set(registry.EventType)
    assert set(Channel) == set(registry.Channel)
