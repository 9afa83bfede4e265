"""Reading a change feed in a test on a PostgreSQL server others share."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa


async def settled(app) -> None:
    """Wait until every event ``app`` has published is below PostgreSQL's feed horizon
    (no transaction older than it still runs, on a server other test sessions share),
    so one read of the feed shows them all. SQLite shows a commit at once."""
    if app.state.engine.dialect.name != "postgresql":
        return
    query = sa.text("SELECT coalesce(max(txid), 0), "
                    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint FROM change_events")
    for _ in range(600):
        async with app.state.engine.connect() as conn:
            newest, horizon = (await conn.execute(query)).one()
        if horizon > newest:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the feed's horizon did not pass its newest event in 60 s")
