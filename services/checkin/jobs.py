"""Scheduled jobs. APScheduler only ticks; the work lives in rows, claimed with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (replicas never take the same row) and one
writer at a time on SQLite, so a tick that overlaps, crashes or runs on two replicas
neither skips nor repeats anything."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin import outcomes, replies, schedule
from shared.db import utcnow

log = logging.getLogger("waymark.checkin.jobs")

# Twilio retries a webhook for minutes, not days: a week is generous for the answers.
# The keys stay 400 days, so a request captured and replayed later records nothing.
REPLY_RETENTION = timedelta(days=7)
KEY_RETENTION = timedelta(days=400)


async def extend_horizons(sessionmaker: async_sessionmaker[AsyncSession], *,
                          horizon: timedelta) -> int:
    """Keep every active case planned ``horizon`` ahead, a batch per transaction."""
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            done = await schedule.extend_horizons(session, now=utcnow(), horizon=horizon)
        total += done
        if done == 0:
            return total


async def decide_missed(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Settle every window whose grace period is over, a batch per transaction."""
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            done = await outcomes.decide_missed(session, now=utcnow())
        total += done
        if done == 0:
            return total


async def tick(sessionmaker: async_sessionmaker[AsyncSession], *, horizon: timedelta) -> None:
    """One run of every job; logs and never raises, so the next tick tries again."""
    try:
        planned = await extend_horizons(sessionmaker, horizon=horizon)
        decided = await decide_missed(sessionmaker)
        async with sessionmaker() as session, session.begin():
            now = utcnow()
            await replies.prune(session, bodies_before=now - REPLY_RETENTION,
                                keys_before=now - KEY_RETENTION)
    except Exception as exc:
        log.error("checkin jobs failed: %s", type(exc).__name__)
        return
    if planned or decided:
        log.info("checkin jobs: %d case(s) planned ahead, %d window(s) settled", planned, decided)
