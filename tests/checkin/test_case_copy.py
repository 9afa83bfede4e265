"""The checkin service's copy of each case follows the registry's change feed: every
create, change, suspension, resolution and closure arrives, and after the service was
down it catches up with nothing lost and nothing applied twice."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from checkin.app import create_app
from checkin.models import CaseCopy

from shared.config import DEV_PHONE_HASH_KEY, DEV_PHONE_KEY
from shared.crypto import PhoneVault
from shared.migrations import upgrade
from tests.conftest import auth, checkin_settings
from tests.registry.factories import case_body

CASEWORKER = auth("caseworker")


@pytest.fixture
async def live_checkin_app(empty_database, fresh_registry_app):
    url = empty_database(f"checkin_{uuid.uuid4().hex[:6]}")
    upgrade("checkin", url)
    app = create_app(checkin_settings(url, WAYMARK_CHECKIN_FEED_POLL_SECONDS=0.1))
    async with LifespanManager(app):
        # Point the consumer at the in-process registry before its first tick.
        app.state.registry_feed.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=fresh_registry_app), base_url="http://registry",
            headers=auth("service", sub="checkin"))
        yield app


async def copies(app) -> dict[str, CaseCopy]:
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(sa.select(CaseCopy))).scalars().all()
    return {str(r.case_id): r for r in rows}


async def wait_for(predicate, seconds: float = 5.0):
    async with asyncio.timeout(seconds):
        while not await predicate():  # noqa: ASYNC110 (polling another component)
            await asyncio.sleep(0.05)


async def test_a_new_case_reaches_checkin_within_seconds(fresh_registry, live_checkin_app):
    case = (await fresh_registry.post("/v1/cases", json=case_body(), headers=CASEWORKER)).json()

    async def arrived():
        return case["id"] in await copies(live_checkin_app)

    await wait_for(arrived)  # the scheduler's own poll, not a manual catch-up
    copy = (await copies(live_checkin_app))[case["id"]]
    assert copy.status == "active"
    assert copy.language == "ar"
    assert copy.reference == case["reference"]
    assert copy.rrule == "FREQ=WEEKLY;BYDAY=MO"
    assert copy.vulnerabilities == ["survivor_of_trafficking"]
    vault = PhoneVault(keys=DEV_PHONE_KEY, hash_key=DEV_PHONE_HASH_KEY)
    assert copy.phone_hash == vault.lookup_hash("+447911123456")


async def test_catching_up_after_downtime_loses_nothing_and_doubles_nothing(
    fresh_registry, live_checkin_app
):
    # The service is down: its poller stops while changes pile up on the registry.
    live_checkin_app.state.scheduler.pause()
    ids = []
    for _ in range(7):
        case = (await fresh_registry.post("/v1/cases", json=case_body(), headers=CASEWORKER)).json()
        ids.append(case["id"])
    url = "/v1/cases/{}/transitions"
    await fresh_registry.post(url.format(ids[0]), json={"to": "suspended", "reason": "hospital"},
                              headers=CASEWORKER)
    await fresh_registry.post(url.format(ids[1]), json={"to": "resolved", "reason": "granted",
                                                        "outcome": "regularised"},
                              headers=CASEWORKER)
    await fresh_registry.post(url.format(ids[2]), json={"to": "closed", "reason": "duplicate"},
                              headers=CASEWORKER)
    await fresh_registry.patch(f"/v1/cases/{ids[3]}",
                               json={"person": {"preferred_language": "fr"},
                                     "reporting": {"timezone": "America/New_York"}},
                               headers=CASEWORKER)

    await asyncio.sleep(0.3)
    assert await copies(live_checkin_app) == {}
    live_checkin_app.state.scheduler.resume()

    async def caught_up():
        current = await copies(live_checkin_app)
        return len(current) == 7 and current[ids[3]].language == "fr"

    await wait_for(caught_up)
    current = await copies(live_checkin_app)
    assert [current[i].status for i in ids[:4]] == ["suspended", "resolved", "closed", "active"]
    assert current[ids[3]].timezone == "America/New_York"
    assert {c.version for c in current.values()} == {1, 2}
    # Replaying the whole feed from the start changes nothing: versions guard the copy.
    async with live_checkin_app.state.sessionmaker() as session, session.begin():
        await session.execute(sa.text("UPDATE feed_cursors SET cursor = '0-0'"))
    await live_checkin_app.state.registry_feed.catch_up()
    replayed = await copies(live_checkin_app)
    assert {k: (v.version, v.status, v.language) for k, v in replayed.items()} == {
        k: (v.version, v.status, v.language) for k, v in current.items()}
