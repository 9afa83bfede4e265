"""The change feed: ordered, paged, resumable; a consumer that crashes or restarts
applies every change exactly once; a slow transaction's event is never skipped."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from registry.models import ChangeEvent
from sqlmodel import Field, SQLModel

from shared.changefeed import (
    FeedConsumer,
    FeedCursorBase,
    UnknownEvent,
    publish,
    read_changes,
)
from shared.db import make_engine, make_sessionmaker, new_metadata
from shared.migrations import upgrade
from tests.conftest import auth, requires_postgres
from tests.registry.factories import case_body
from tests.support.feeds import settled

CASEWORKER = auth("caseworker")
SERVICE = auth("service", sub="checkin")


class ConsumerModel(SQLModel):
    metadata = new_metadata()


class Cursor(FeedCursorBase, ConsumerModel, table=True):
    __tablename__ = "feed_cursors"


class Applied(ConsumerModel, table=True):
    """What the test consumer did: one row per application, so a double shows."""

    __tablename__ = "applied"
    id: int | None = Field(default=None, primary_key=True)
    cursor: str
    type: str
    subject_id: str


async def make_history(registry, app, cases: int = 3) -> list[tuple[str, str]]:
    """Create cases and move them; returns the expected (type, subject) sequence, once
    the feed shows all of it (``settled``: on PostgreSQL, another transaction anywhere
    on the server, autovacuum's among them, briefly holds new events back)."""
    expected = []
    for _ in range(cases):
        case = (await registry.post("/v1/cases", json=case_body(), headers=CASEWORKER)).json()
        expected.append(("case.created", case["id"]))
        await registry.patch(f"/v1/cases/{case['id']}", json={"programme": "family_support"},
                             headers=CASEWORKER)
        expected.append(("case.updated", case["id"]))
        await registry.post(f"/v1/cases/{case['id']}/transitions",
                            json={"to": "suspended", "reason": "in hospital"},
                            headers=CASEWORKER)
        expected.append(("case.status_changed", case["id"]))
    await settled(app)
    return expected


async def test_feed_is_in_write_order_and_pages_resume_from_a_cursor(fresh_registry,
                                                                     fresh_registry_app):
    expected = await make_history(fresh_registry, fresh_registry_app)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 4} | ({"after": cursor} if cursor else {})
        page = (await fresh_registry.get("/v1/changes", params=params, headers=SERVICE)).json()
        pages += 1
        seen += [(c["type"], c["subject_id"]) for c in page["changes"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == expected
    assert pages == 3
    # Resuming from the last cursor yields nothing new, and keeps the cursor.
    again = (await fresh_registry.get("/v1/changes", params={"after": cursor}, headers=SERVICE)).json()
    assert again == {"changes": [], "next_cursor": cursor, "has_more": False}
    # Resuming from the middle yields exactly the rest.
    first = (await fresh_registry.get("/v1/changes", params={"limit": 5}, headers=SERVICE)).json()
    rest = (await fresh_registry.get("/v1/changes", params={"after": first["next_cursor"],
                                                      "limit": 100}, headers=SERVICE)).json()
    assert [(c["type"], c["subject_id"]) for c in rest["changes"]] == expected[5:]


async def test_events_carry_the_case_state_but_never_names(fresh_registry, fresh_registry_app):
    await make_history(fresh_registry, fresh_registry_app, cases=1)
    page = (await fresh_registry.get("/v1/changes", headers=SERVICE)).json()
    last = page["changes"][-1]["data"]
    assert last["status"] == "suspended"
    assert last["version"] == 3
    assert last["person"]["phone_hash"]
    assert "Amina" not in str(page) and "given_name" not in str(page)
    # The number stays ciphertext on the wire and in the feed table.
    assert "7911123456" not in str(page)
    vault = fresh_registry_app.state.vault
    assert vault.decrypt(last["person"]["phone_encrypted"]) == "+447911123456"


@pytest.mark.parametrize("cursor", ["abc", "1", "-1--1", "x-2"])
async def test_a_cursor_the_feed_never_gave_is_422(fresh_registry, cursor):
    response = await fresh_registry.get("/v1/changes", params={"after": cursor}, headers=SERVICE)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "after"


@pytest.fixture
async def consumer_db(empty_database):
    engine = make_engine(empty_database("consumer"))
    async with engine.begin() as conn:
        await conn.run_sync(ConsumerModel.metadata.create_all)
    yield make_sessionmaker(engine)
    await engine.dispose()


def consumer(app, sessionmaker, apply) -> FeedConsumer:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                               base_url="http://registry", headers=SERVICE)
    return FeedConsumer(feed="registry", client=client, sessionmaker=sessionmaker,
                        cursor_table=Cursor, apply=apply, page_size=4)


class PowerCut(BaseException):
    """The process dies: nothing in the consumer may catch this."""


async def applied_rows(sessionmaker) -> list[Applied]:
    async with sessionmaker() as session:
        return list((await session.execute(sa.select(Applied).order_by(Applied.id))).scalars())


async def test_a_consumer_that_crashes_and_restarts_applies_each_change_once(
    fresh_registry, fresh_registry_app, consumer_db
):
    # 12 changes, 3 pages of 4
    expected = await make_history(fresh_registry, fresh_registry_app, cases=4)
    calls = 0

    async def apply_then_crash(session, change):
        nonlocal calls
        calls += 1
        session.add(Applied(cursor=change.cursor, type=change.type, subject_id=change.subject_id))
        if calls == 6:  # the middle of the second page
            raise PowerCut

    async def apply(session, change):
        session.add(Applied(cursor=change.cursor, type=change.type, subject_id=change.subject_id))

    first = consumer(fresh_registry_app, consumer_db, apply_then_crash)
    with pytest.raises(PowerCut):
        await first.catch_up()
    # Restart: a new consumer over the same database picks up after the last whole page.
    assert await consumer(fresh_registry_app, consumer_db, apply).catch_up() == 8
    # And a further restart has nothing to do.
    assert await consumer(fresh_registry_app, consumer_db, apply).catch_up() == 0

    rows = await applied_rows(consumer_db)
    assert [(r.type, r.subject_id) for r in rows] == expected
    assert len({r.cursor for r in rows}) == len(rows)


async def test_unknown_event_types_are_skipped_and_counted(
    fresh_registry, fresh_registry_app, consumer_db
):
    expected = await make_history(fresh_registry, fresh_registry_app, cases=2)  # 6 changes

    async def apply_only_created(session, change):
        if change.type != "case.created":
            raise UnknownEvent(change.type)
        session.add(Applied(cursor=change.cursor, type=change.type, subject_id=change.subject_id))

    feed = consumer(fresh_registry_app, consumer_db, apply_only_created)
    assert await feed.catch_up() == 6
    assert feed.stall is None
    assert feed.skipped == {"case.updated": 2, "case.status_changed": 2}
    assert [r.subject_id for r in await applied_rows(consumer_db)] == [
        subject for type, subject in expected if type == "case.created"]


async def test_a_change_that_cannot_be_applied_stops_the_feed_there_visibly_with_backoff(
    fresh_registry, fresh_registry_app, consumer_db, caplog
):
    expected = await make_history(fresh_registry, fresh_registry_app, cases=3)  # 9 changes, pages of 4
    bad = 5  # the second change of the second page
    broken = True

    async def apply(session, change):
        index = next(i for i, (t, s) in enumerate(expected) if (t, s) == (
            change.type, change.subject_id))
        if broken and index == bad:
            raise ValueError("a payload this consumer cannot apply")
        session.add(Applied(cursor=change.cursor, type=change.type, subject_id=change.subject_id))

    now = 1000.0
    feed = consumer(fresh_registry_app, consumer_db, apply)
    feed.clock = lambda: now
    assert await feed.catch_up() == 5  # the changes before the bad one are kept
    stall = feed.stall
    assert stall is not None and stall.type == expected[bad][0]
    assert stall.reason == "ValueError" and stall.attempts == 1
    assert stall.cursor == feed.cursor == (await applied_rows(consumer_db))[-1].cursor
    assert "stalled at event " + stall.event in caplog.text

    # Within the backoff, ticks do not try again.
    now += 0.9
    await feed.tick()
    assert feed.stall.attempts == 1

    # /readyz names the stalled feed, its cursor and the event, and stays 200.
    fresh_registry_app.state.registry_feed = feed
    health = await fresh_registry.get("/readyz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "feed stalled"
    assert body["feeds"]["registry"]["cursor"] == stall.cursor
    assert body["feeds"]["registry"]["stalled"]["event"] == stall.event
    assert body["feeds"]["registry"]["stalled"]["reason"] == "ValueError"

    # Each failed retry doubles the wait; once the change can be applied the feed resumes.
    now += 0.2
    await feed.tick()
    assert feed.stall.attempts == 2 and feed.stall.retry_in_seconds == 2.0
    now += 1.9
    await feed.tick()
    assert feed.stall.attempts == 2
    broken = False
    now += 0.2
    await feed.tick()
    assert feed.stall is None
    rows = await applied_rows(consumer_db)
    assert [(r.type, r.subject_id) for r in rows] == expected
    assert (await fresh_registry.get("/readyz")).json()["status"] == "ready"


async def test_a_consumer_survives_its_source_being_down(consumer_db):
    async def unreachable(request):
        raise httpx.ConnectError("registry is down")

    client = httpx.AsyncClient(transport=httpx.MockTransport(unreachable), base_url="http://r")
    applied = []

    async def apply(session, change):
        applied.append(change)

    feed = FeedConsumer(feed="registry", client=client, sessionmaker=consumer_db,
                        cursor_table=Cursor, apply=apply)
    await feed.tick()  # logs, never raises: the scheduler keeps polling
    assert applied == []


@requires_postgres
async def test_a_slow_transaction_is_never_skipped_on_postgres(empty_database):
    """Transaction A takes id 1 and commits after B (id 2). A reader between the two
    commits must not move its cursor past A's event."""
    url = empty_database("feed_order")
    upgrade("registry", url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as slow, sessions() as fast, sessions() as reader:
            await publish(slow, ChangeEvent, type="t", subject_id="slow", data={})
            await publish(fast, ChangeEvent, type="t", subject_id="fast", data={})
            await fast.commit()
            page = await read_changes(reader, ChangeEvent, after=None, limit=10)
            await reader.rollback()
            assert [c.subject_id for c in page.changes] == []  # held back, not skipped
            await slow.commit()
            page2 = await read_changes(reader, ChangeEvent, after=page.next_cursor, limit=10)
            assert [c.subject_id for c in page2.changes] == ["slow", "fast"]
    finally:
        await engine.dispose()


async def test_lag_and_stall_are_reported_as_gauges(fresh_registry, fresh_registry_app,
                                                    consumer_db):
    from prometheus_client import REGISTRY

    def gauge(name: str) -> float | None:
        return REGISTRY.get_sample_value(f"waymark_feed_{name}", {"feed": feed.feed})

    expected = await make_history(fresh_registry, fresh_registry_app, cases=2)  # 6 changes, pages of 4
    broken = True

    async def apply(session, change):
        if broken and (change.type, change.subject_id) == expected[1]:
            raise ValueError("cannot")

    now = 1000.0
    feed = consumer(fresh_registry_app, consumer_db, apply)
    feed.feed, feed.clock = "lagging", lambda: now
    await feed.tick()
    # Stopped at the second change: it and the rest of its page wait, and age.
    assert (gauge("stalled"), gauge("behind_events")) == (1, 3)
    assert gauge("behind_seconds") >= 0
    broken = False
    now += 5
    await feed.tick()
    assert (gauge("stalled"), gauge("behind_events"), gauge("behind_seconds")) == (0, 0, 0)
