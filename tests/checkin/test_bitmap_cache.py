"""The rollups' bitmaps kept between summaries: bounded, and never counted once their
row has changed."""

from __future__ import annotations

import httpx
import pytest
from checkin.bitmap_cache import OVERHEAD, BitmapCache
from pyroaring import BitMap

from tests.checkin.helpers import quiet_app
from tests.checkin.test_summaries import FROM, MONDAYS, TO, URL, add_case, standard_data
from tests.conftest import auth

SUPERVISOR = auth("supervisor", sub="lead")


@pytest.fixture
async def app(empty_database):
    async with quiet_app(empty_database) as app:
        yield app


def test_a_bitmap_is_given_back_only_for_the_version_it_was_read_at():
    cache = BitmapCache(10_000)
    cache.put("row", "100", BitMap([1, 2]), 40)
    assert cache.get("row", "100") == BitMap([1, 2])
    assert cache.get("row", "101") is None
    assert cache.get("other", "100") is None


def test_the_cache_keeps_to_its_budget_the_least_recently_used_leaving_first():
    cache = BitmapCache(3 * (100 + OVERHEAD))
    for key in "abc":
        cache.put(key, "1", BitMap([ord(key)]), 100)
    assert cache.get("a", "1") is not None  # a is now the most recently used
    cache.put("d", "1", BitMap([4]), 100)
    assert [cache.get(k, "1") is not None for k in "abcd"] == [True, False, True, True]
    assert cache.held <= cache.budget
    cache.put("huge", "1", BitMap(range(10)), 10_000)  # more than the whole budget
    assert cache.get("huge", "1") is None and len(cache) == 3


async def test_a_summary_counts_a_change_to_a_row_whose_bitmap_it_kept(app):
    """Programme A over two weeks unions the bitmaps of several rollup rows. A new case
    whose only window lands in one of those rows (already read once) is counted."""
    db = app.state.sessionmaker
    await standard_data(db)
    params = {"from": FROM.isoformat(), "to": TO.isoformat(), "group_by": "programme"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://checkin") as client:
        async def people() -> dict[str, int]:
            response = await client.get(URL, params=params, headers=SUPERVISOR)
            assert response.status_code == 200, response.text
            return {row["programme"]: row["people"] for row in response.json()["rows"]}

        assert await people() == {"A": 11, "B": 3}
        cached = len(app.state.bitmap_cache)
        # PostgreSQL keeps them; SQLite has no row version to trust, so keeps none.
        assert (cached > 0) == (app.state.engine.dialect.name == "postgresql")
        await add_case(db, sex="male", windows=[(MONDAYS[0], "missed")])
        assert await people() == {"A": 12, "B": 3}
