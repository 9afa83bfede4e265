"""``/readyz``: each service names the change feeds it follows, so a stalled one is
seen where operators look (the stall itself: ``test_changefeed.py``)."""

from __future__ import annotations

import pytest
from asgi_lifespan import LifespanManager

from tests.conftest import checkin_settings, client_for, notifications_settings


def _app(service: str, url: str):
    if service == "checkin":
        from checkin.app import create_app
        return create_app(checkin_settings(url, WAYMARK_CHECKIN_FEED_POLL_SECONDS=0,
                                           WAYMARK_CHECKIN_JOBS_SECONDS=0))
    from notifications.app import create_app
    return create_app(notifications_settings(url))


@pytest.mark.parametrize(("service", "feeds"), [
    ("checkin", {"registry", "notifications"}), ("notifications", {"registry", "checkin"})])
async def test_readyz_names_every_feed_the_service_follows(database_urls, service, feeds):
    app = _app(service, database_urls[service])
    async with LifespanManager(app), client_for(app, service) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["feeds"]) == feeds
    assert all(feed["stalled"] is None for feed in body["feeds"].values())
