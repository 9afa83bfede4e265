"""What notifications reads from the registry's and checkin's feeds, and what it
publishes: read models parse what it knows, ``UnknownEvent`` for what it does not, an
error (the feed stops there) for a known event it cannot read."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pydantic
import pytest
from notifications.enums import CheckinEventType, RegistryEventType
from notifications.feeds import (
    CaseChange,
    CaseErased,
    ExpectedCheckinChange,
    NotNeeded,
    OptedIn,
    parse_checkin_change,
    parse_registry_change,
)

from shared.changefeed import Change, UnknownEvent
from tests.checkin.helpers import BEFORE_START
from tests.notifications.helpers import (
    FIRST_OPENS,
    add_person,
    case_change,
    dispatch,
    events,
    from_checkin,
    window,
)


def change(type: str, data: dict) -> Change:
    return Change(cursor="0-0", type=type, subject_id="x", occurred_at=BEFORE_START,
                  data=data)


@pytest.mark.parametrize("type", [t for t in RegistryEventType if t != "case.erased"])
def test_every_case_event_parses(type):
    parsed = parse_registry_change(change(type, case_change().data))
    assert isinstance(parsed, CaseChange) and parsed.schema_version == 1


def test_case_erased_parses_without_a_snapshot():
    case_id = uuid.uuid4()
    parsed = parse_registry_change(change("case.erased", {
        "schema_version": 1, "id": str(case_id), "version": 4, "status": "closed",
        "outcome": None, "erased_at": "2027-12-02T00:00:00+00:00"}))
    assert isinstance(parsed, CaseErased) and (parsed.id, parsed.version) == (case_id, 4)


def test_a_checkin_window_parses_and_start_is_an_opt_in():
    case_id = uuid.uuid4()
    parsed = parse_checkin_change(change("expected_checkin.outcome", window(case_id)))
    assert isinstance(parsed, ExpectedCheckinChange) and parsed.case_id == case_id
    opted_in = parse_checkin_change(change("contact.opted_in", {"phone_hash": "h"}))
    assert isinstance(opted_in, OptedIn) and not opted_in.opted_out
    assert isinstance(parse_checkin_change(change("pin.issued", {"case_id": str(case_id)})),
                      NotNeeded)


@pytest.mark.parametrize("parse", [parse_registry_change, parse_checkin_change])
@pytest.mark.parametrize("type", ["case.erased_by_a_later_registry", "reminder.status", ""])
def test_an_unknown_type_is_unknown_not_ignored(parse, type):
    with pytest.raises(UnknownEvent):
        parse(change(type, {}))


@pytest.mark.parametrize("data", [
    {},  # keys missing
    {"schema_version": 2},  # a version notifications does not know
])
@pytest.mark.parametrize("type", list(CheckinEventType)[:5])
def test_a_known_event_that_cannot_be_read_is_an_error(type, data):
    base = {**window(uuid.uuid4()), "phone_hash": "h"}
    payload = data if not data else {**base, **data}
    with pytest.raises(pydantic.ValidationError):
        parse_checkin_change(change(type, payload))


def test_a_naive_window_is_an_error():
    naive = {**window(uuid.uuid4()), "opens_at": "2026-12-07T09:00:00"}
    with pytest.raises(pydantic.ValidationError):
        parse_checkin_change(change("expected_checkin.planned", naive))


async def test_unknown_checkin_events_change_nothing_and_raise(notifications_app, clock):
    with pytest.raises(UnknownEvent):
        await from_checkin(notifications_app, "checkin.something_new", {"id": str(uuid.uuid4())})


async def test_published_events_keep_their_keys_and_carry_a_version(notifications_app, clock):
    await add_person(notifications_app)
    clock.move_to(FIRST_OPENS - timedelta(hours=15))
    await dispatch(notifications_app, concurrency=1)
    [event] = await events(notifications_app, "reminder.status")
    assert set(event.data) == {"schema_version", "reminder_id", "case_id", "expected_checkin_id",
                               "kind", "channel", "status"}
    assert event.data["schema_version"] == 1 and str(event.subject_id) == event.data["reminder_id"]
    clock.move_to(FIRST_OPENS + timedelta(days=3))  # every later reminder misses its deadline
    await dispatch(notifications_app, concurrency=1)
    failed = (await events(notifications_app, "reminder.status"))[-1]
    assert failed.data["status"] == "failed" and failed.data["reason"] == "deadline"
