"""Crash recovery: a dispatcher that dies between its claim and its record leaves
``sending`` rows whose lease runs out. The next dispatcher asks the provider whether
each was handed over (the provider's own record of messages to that number since the
claim): if so it is marked sent, if not it goes back in the queue, or fails once its
deadline has passed. Nothing is sent twice on a guess."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifications import outcomes
from notifications.claims import CLAIM_COLUMNS, REMINDERS, prepare
from notifications.enums import ReminderStatus
from notifications.outcomes import STILL_SENDING
from notifications.providers import PermanentError, Provider, TransientError
from shared.crypto import PhoneVault

log = logging.getLogger("waymark.notifications.dispatch")


async def reconcile(*, sessionmaker: async_sessionmaker[AsyncSession], provider: Provider,
                    vault: PhoneVault, lease: timedelta, now: datetime) -> int:
    """Settle up to 100 reminders whose lease ran out; returns how many were settled.
    One the provider cannot be asked about now keeps its new lease and is asked about
    again when that runs out."""
    async with sessionmaker() as session, session.begin():
        stuck = (sa.select(REMINDERS.c.id)
                 .where(REMINDERS.c.status == ReminderStatus.sending, REMINDERS.c.lease_until < now)
                 .limit(100))
        if session.get_bind().dialect.name == "postgresql":
            stuck = stuck.with_for_update(skip_locked=True)
        rows = (await session.execute(
            sa.update(REMINDERS)
            .where(REMINDERS.c.id.in_(stuck.scalar_subquery()), STILL_SENDING,
                   REMINDERS.c.lease_until < now)
            .values(lease_until=now + lease)  # ours now, while we ask
            .returning(*CLAIM_COLUMNS, REMINDERS.c.claimed_at))).all()
        if not rows:
            return 0
        claimed, _ = await prepare(session, rows, vault=vault, check=False)
    since = {row.id: row.claimed_at for row in rows}
    settled = 0
    for item in claimed:
        try:
            sid = await provider.find(item.message, since=since[item.id] - timedelta(minutes=1))
        except (TransientError, PermanentError) as exc:
            log.warning("cannot ask the provider about a stuck reminder: %s", exc)
            continue  # the lease runs out again and the next dispatcher asks
        async with sessionmaker() as session, session.begin():
            if sid is not None:
                await outcomes.mark_sent(session, item, provider_name=provider.name,
                                         provider_id=sid, now=now)
            elif item.deadline > now:
                await outcomes.requeue(session, item, now=now)
            else:
                await outcomes.fail(session, item, "not sent before its deadline", now=now)
        settled += 1
    return settled
