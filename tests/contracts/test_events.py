"""Each publisher's real events through each consumer's parser.

The three services are driven through their APIs and jobs (nothing hand-built): the
registry opens, changes and moves cases; checkin applies the registry's events, issues
a PIN, takes an SMS check-in, a STOP and a START, an outage, a missed window and its
follow-up; notifications applies both feeds and sends reminders through the real
twilio client to the Twilio-compatible server, one to a number that does not exist.
Every event each one published is then parsed by every consumer of its feed. Each
stage also checks it produced *every* event type its publisher declares, so a new
type cannot slip past this test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import time_machine
from asgi_lifespan import LifespanManager
from checkin import feeds as checkin_feeds
from checkin.enums import EventType as CheckinEvent
from notifications import feeds as notifications_feeds
from notifications.app import dispatcher, planner
from notifications.copies import apply_checkin_change as notifications_apply_checkin
from notifications.copies import apply_registry_change as notifications_apply_registry
from notifications.enums import EventType as NotificationsEvent
from pydantic import ValidationError
from registry.enums import EventType as RegistryEvent
from twilio.request_validator import RequestValidator

from shared.changefeed import Change, UnknownEvent
from shared.config import DEV_TWILIO_TOKEN
from shared.migrations import upgrade
from tests.conftest import (
    auth,
    checkin_settings,
    client_for,
    notifications_settings,
    registry_settings,
)
from tests.registry.factories import case_body
from tests.support.feeds import settled
from tests.support.twilio_server import TwilioServer

CASEWORKER = auth("caseworker", sub="alice")
SUPERVISOR = auth("supervisor", sub="sam")
SERVICE = auth("service", sub="contracts")
PHONE = "+447911123456"
OTHER_PHONE = "+447911123458"
# Tuesday 1 December 2026; the cases report on Mondays from 7 December, 09:00-19:00
# London, with 24 hours' grace.
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FIRST_WINDOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
AFTER_SECOND_GRACE = datetime(2026, 12, 15, 20, 0, tzinfo=UTC)
EVENING_BEFORE_THIRD = datetime(2026, 12, 20, 18, 1, tzinfo=UTC)
THIRD_WINDOW_OPENS = datetime(2026, 12, 21, 9, 1, tzinfo=UTC)

PARSERS = {
    "registry": (checkin_feeds.parse_registry_change, notifications_feeds.parse_registry_change),
    "checkin": (notifications_feeds.parse_checkin_change,),
    "notifications": (checkin_feeds.parse_notifications_change,),
}


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture(scope="module")
def twilio() -> Iterator[TwilioServer]:
    with TwilioServer() as server:
        yield server


@pytest.fixture
def started(empty_database):
    """Starts a service on a new database of its own, committing for real: a feed only
    shows what has committed."""

    @asynccontextmanager
    async def start(service: str, **extra) -> AsyncIterator:
        url = empty_database(f"contract_{service}_{uuid.uuid4().hex[:6]}")
        upgrade(service, url)
        if service == "registry":
            from registry.app import create_app
            app = create_app(registry_settings(url))
        elif service == "checkin":
            from checkin.app import create_app
            app = create_app(checkin_settings(url, WAYMARK_CHECKIN_FEED_POLL_SECONDS=0,
                                              WAYMARK_CHECKIN_JOBS_SECONDS=0))
        else:
            from notifications.app import create_app
            app = create_app(notifications_settings(url, **extra))
        async with LifespanManager(app), client_for(app, service) as client:
            yield app, client

    return start


async def feed(client: httpx.AsyncClient, *, after: str | None = None,
               wanting: int = 1) -> list[Change]:
    """The service's feed after ``after``, as a consumer reads it. On a PostgreSQL server
    other sessions share, the feed's horizon can trail a commit briefly: wait for it."""
    changes: list[Change] = []
    for _ in range(300):
        params = {"limit": 1000} | ({"after": after} if after else {})
        page = (await client.get("/v1/changes", params=params, headers=SERVICE)).json()
        changes += [Change.model_validate(c) for c in page["changes"]]
        after = page["next_cursor"]
        if len(changes) >= wanting and not page["has_more"]:
            return changes
        await asyncio.sleep(0.1)
    raise AssertionError(f"the feed showed {len(changes)} changes, wanted {wanting}")


def parse_all(publisher: str, changes: list[Change]) -> None:
    for change in changes:
        for parse in PARSERS[publisher]:
            parse(change)  # raises on an event type or payload the consumer cannot read


async def apply(app, function, changes: list[Change], **kwargs) -> None:
    for change in changes:
        async with app.state.sessionmaker() as session, session.begin():
            await function(session, change, **kwargs)


def signed(path: str, params: dict[str, str]) -> dict[str, str]:
    url = "http://127.0.0.1:8002" + path
    return {"X-Twilio-Signature": RequestValidator(DEV_TWILIO_TOKEN).compute_signature(url, params)}


async def sms(checkin: httpx.AsyncClient, body: str, phone: str = PHONE) -> None:
    params = {"MessageSid": f"SM{uuid.uuid4().hex}", "AccountSid": "AC" + "0" * 32,
              "From": phone, "To": "+447700900000", "Body": body, "NumMedia": "0"}
    response = await checkin.post("/v1/twilio/sms", data=params,
                                  headers=signed("/v1/twilio/sms", params))
    assert response.status_code == 200, response.text


async def drive_registry(registry: httpx.AsyncClient) -> tuple[str, str]:
    """Two cases: one that keeps reporting, one taken through every transition."""
    reporting = (await registry.post("/v1/cases", json=case_body(), headers=CASEWORKER)).json()
    moved = (await registry.post("/v1/cases", json=case_body(person__phone=OTHER_PHONE),
                                 headers=CASEWORKER)).json()
    response = await registry.patch(f"/v1/cases/{moved['id']}",
                                    json={"programme": "family_support"}, headers=CASEWORKER)
    assert response.status_code == 200, response.text
    for to in ({"to": "suspended"}, {"to": "active"},
               {"to": "resolved", "outcome": "regularised"}, {"to": "closed"}):
        response = await registry.post(f"/v1/cases/{moved['id']}/transitions",
                                       json=to | {"reason": "contract test"}, headers=CASEWORKER)
        assert response.status_code == 200, response.text
    return reporting["id"], moved["id"]


async def drive_checkin(app, checkin: httpx.AsyncClient, case_id: str, clock) -> None:
    response = await checkin.post(f"/v1/cases/{case_id}/pin", headers=CASEWORKER)
    assert response.status_code == 201, response.text
    pin = response.json()["pin"]
    clock.move_to(FIRST_WINDOW)
    await sms(checkin, f"CHECKIN {pin}")
    await sms(checkin, "STOP")
    await sms(checkin, "START")
    response = await checkin.post("/v1/outages", headers=SUPERVISOR, json={
        "channel": "sms", "starts_at": "2026-12-07T11:00:00Z", "ends_at": "2026-12-07T11:30:00Z",
        "reason": "provider incident"})
    assert response.status_code == 201, response.text
    clock.move_to(AFTER_SECOND_GRACE)
    await app.state.run_jobs()  # the second Monday is missed: an outcome and a follow-up
    listed = (await checkin.get("/v1/follow-ups", headers=CASEWORKER)).json()["items"]
    first, second = listed[0]["id"], listed[1]["id"]
    for path in (f"/v1/follow-ups/{first}/acknowledge", f"/v1/follow-ups/{second}/close"):
        response = await checkin.post(path, json={"note": "spoke to them"}, headers=CASEWORKER)
        assert response.status_code == 200, response.text


async def test_every_event_published_is_read_by_every_consumer(started, twilio, clock):
    async with started("registry") as (_, registry):
        case_id, moved_id = await drive_registry(registry)
        from_registry = await feed(registry, wanting=7)  # 2 created, 1 updated, 4 moves
        # The closed case is erased: its earlier events leave the feed, so a consumer
        # that read them applies case.erased after them (as one would, polling).
        response = await registry.post(f"/v1/cases/{moved_id}/erasure",
                                       json={"reason": "contract test"}, headers=SUPERVISOR)
        assert response.status_code == 200, response.text
        from_registry += await feed(registry, after=from_registry[-1].cursor, wanting=1)
    assert {c.type for c in from_registry} == set(RegistryEvent)
    parse_all("registry", from_registry)

    async with started("checkin") as (checkin_app, checkin):
        await apply(checkin_app, checkin_feeds.apply_registry_change, from_registry)
        await drive_checkin(checkin_app, checkin, case_id, clock)
        await settled(checkin_app)
        from_checkin = await feed(checkin, wanting=len(CheckinEvent))
        assert {c.type for c in from_checkin} == set(CheckinEvent)
        parse_all("checkin", from_checkin)

        twilio.reset()
        async with started(
                "notifications", WAYMARK_NOTIFY_PROVIDER="twilio", TWILIO_API_BASE=twilio.url,
                TWILIO_ACCOUNT_SID=twilio.account_sid, WAYMARK_NOTIFY_RATE=0) as (app, notify):
            common = {"planner": planner(app.state.settings)}
            await apply(app, notifications_apply_registry, from_registry, **common)
            await apply(app, notifications_apply_checkin, from_checkin, **common)
            twilio.fail(status=400, code=21211, times=1)  # the number does not exist
            clock.move_to(EVENING_BEFORE_THIRD)
            await dispatcher(app).run_once()
            clock.move_to(THIRD_WINDOW_OPENS)
            assert (await dispatcher(app).run_once()).sent >= 1
            await settled(app)
            from_notifications = await feed(notify, wanting=2)
        assert {c.type for c in from_notifications} == set(NotificationsEvent)
        parse_all("notifications", from_notifications)
        # And checkin applies them, as its feed consumer would.
        await apply(checkin_app, checkin_feeds.apply_notifications_change, from_notifications)


@pytest.mark.parametrize("parse", [p for parsers in PARSERS.values() for p in parsers],
                         ids=lambda p: f"{p.__module__}.{p.__name__}")
def test_an_unknown_event_type_is_skipped_not_an_error(parse):
    change = Change(cursor="1-1", type="case.merged", subject_id="x",
                    occurred_at=START, data={"schema_version": 1})
    with pytest.raises(UnknownEvent):
        parse(change)


@pytest.mark.parametrize(("publisher", "type"), [
    ("registry", RegistryEvent.case_created), ("checkin", CheckinEvent.expected_checkin_planned),
    ("notifications", NotificationsEvent.reminder_status)])
def test_a_schema_version_the_consumer_does_not_know_cannot_be_applied(publisher, type):
    change = Change(cursor="1-1", type=type, subject_id="x", occurred_at=START,
                    data={"schema_version": 2})
    for parse in PARSERS[publisher]:
        with pytest.raises(ValidationError):
            parse(change)


def test_every_parser_is_exercised():
    assert {p for parsers in PARSERS.values() for p in parsers} == {
        checkin_feeds.parse_registry_change, checkin_feeds.parse_notifications_change,
        notifications_feeds.parse_registry_change, notifications_feeds.parse_checkin_change}
    assert timedelta(0) < FIRST_WINDOW - START
