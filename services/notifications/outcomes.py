"""Recording what happened to claimed reminders: sent with the provider's id, queued
again with backoff, failed (a permanent error, or the deadline), and what a permanent
error means for the person (an unreachable number asks the caseworker; a carrier
opt-out counts as STOP and the planner re-plans)."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.claims import Claimed
from notifications.enums import (
    FollowUpKind,
    FollowUpStatus,
    Provider,
    ReminderStatus,
    ReportedStatus,
    UndeliverableReason,
)
from notifications.events import publish_reminder_status, publish_undeliverable
from notifications.models import FollowUpCopy, Reminder
from notifications.planner import Planner, set_opt_out
from notifications.providers import PermanentError, TransientError
from notifications.sending import Outcome

log = logging.getLogger("waymark.notifications.dispatch")
REMINDERS = Reminder.__table__
EVENT_COLUMNS = (REMINDERS.c.id, REMINDERS.c.case_id, REMINDERS.c.expected_checkin_id,
                 REMINDERS.c.kind, REMINDERS.c.channel)
# Only a row still ``sending`` changes: a status callback that got there first wins.
STILL_SENDING = REMINDERS.c.status == ReminderStatus.sending


@dataclass
class Stats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    reconciled: int = 0

    def add(self, other: Stats) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, from ``first`` up to ``cap``: spreads
    retries after an outage."""

    first: timedelta
    cap: timedelta

    def after(self, attempts: int) -> timedelta:
        ceiling = min(self.cap.total_seconds(),
                      self.first.total_seconds() * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


async def expire(session: AsyncSession, *, now: datetime) -> int:
    """Fail what was never sent in time: a late reminder is worse than none."""
    rows = (await session.execute(
        sa.update(REMINDERS)
        .where(REMINDERS.c.status == ReminderStatus.planned, REMINDERS.c.deadline <= now)
        .values(status=ReminderStatus.failed, error="not sent before its deadline", updated_at=now)
        .returning(*EVENT_COLUMNS))).all()
    await publish_reminder_status(session, rows, status=ReportedStatus.failed, reason="deadline")
    return len(rows)


async def record(session: AsyncSession, outcomes: Sequence[Outcome], *, provider_name: Provider,
                 backoff: Backoff, planner: Planner | None, now: datetime) -> Stats:
    """Commit what the provider said: sent with its id, a retry later, or failed. Only
    rows still ``sending`` change, so a status callback that got there first wins."""
    sent, retry, failed = [], [], []
    for outcome in outcomes:
        item = outcome.claimed
        if outcome.error is None:
            sent.append({"rid": item.id, "provider_id": outcome.provider_id})
        elif isinstance(outcome.error, TransientError):
            next_at = now + backoff.after(item.attempts)
            if next_at < item.deadline:
                retry.append({"rid": item.id, "next_at": next_at,
                              "reason": f"will retry: {outcome.error}"[:200]})
            else:
                failed.append((item, f"gave up before its deadline: {outcome.error}"))
        else:
            failed.append((item, str(outcome.error)))
    if sent:
        await session.execute(
            sa.update(REMINDERS)
            .where(REMINDERS.c.id == sa.bindparam("rid"), STILL_SENDING)
            .values(status=ReminderStatus.sent, provider=provider_name,
                    provider_id=sa.bindparam("provider_id"), sent_at=now,
                    lease_until=None, error=None, updated_at=now), sent)
        await publish_reminder_status(
            session, [o.claimed for o in outcomes if o.error is None], status=ReportedStatus.sent)
    if retry:
        await session.execute(
            sa.update(REMINDERS)
            .where(REMINDERS.c.id == sa.bindparam("rid"), STILL_SENDING)
            .values(status=ReminderStatus.planned, next_attempt_at=sa.bindparam("next_at"),
                    error=sa.bindparam("reason"), lease_until=None, updated_at=now), retry)
    for item, reason in failed:
        await fail(session, item, reason, now=now)
    for outcome in outcomes:
        if isinstance(outcome.error, PermanentError):
            await permanent(session, outcome.claimed, outcome.error, planner=planner)
    return Stats(sent=len(sent), retried=len(retry), failed=len(failed))


async def mark_sent(session: AsyncSession, item: Claimed, *, provider_name: Provider,
                    provider_id: str, now: datetime) -> None:
    """A send found at the provider after its dispatcher died: sent, once."""
    await session.execute(
        sa.update(REMINDERS).where(REMINDERS.c.id == item.id, STILL_SENDING)
        .values(status=ReminderStatus.sent, provider=provider_name, provider_id=provider_id,
                sent_at=now, lease_until=None, updated_at=now))
    await publish_reminder_status(session, [item], status=ReportedStatus.sent)


async def requeue(session: AsyncSession, item: Claimed, *, now: datetime) -> None:
    """Back in the queue, due now: the provider never got it."""
    await session.execute(
        sa.update(REMINDERS).where(REMINDERS.c.id == item.id, STILL_SENDING)
        .values(status=ReminderStatus.planned, next_attempt_at=now, lease_until=None, updated_at=now))


async def fail(session: AsyncSession, item: Claimed, reason: str, *, now: datetime) -> None:
    await session.execute(
        sa.update(REMINDERS).where(REMINDERS.c.id == item.id, STILL_SENDING)
        .values(status=ReminderStatus.failed, error=reason[:200], lease_until=None, updated_at=now))
    await publish_reminder_status(session, [item], status=ReportedStatus.failed, reason=reason[:100])


async def permanent(session: AsyncSession, item: Claimed, error: PermanentError, *,
                    planner: Planner | None) -> None:
    """A number that cannot be reached: the caseworker agrees another way with the
    person (through checkin's follow-ups), asked once while a follow-up is open; a
    carrier opt-out counts as STOP."""
    if error.opted_out:
        if planner is not None:
            await planner.opt_out(session, phone_hash=item.phone_hash, opted_out=True,
                                  case_ids=[item.case_id])
        else:
            await set_opt_out(session, phone_hash=item.phone_hash, opted_out=True)
    if not (error.number or error.opted_out):
        log.error("provider rejected a reminder: %s", error)
        return
    already = await session.scalar(
        sa.select(FollowUpCopy.id).where(FollowUpCopy.case_id == item.case_id,
                                         FollowUpCopy.kind == FollowUpKind.contact_unreachable,
                                         FollowUpCopy.status != FollowUpStatus.closed).limit(1))
    if already is None:
        await publish_undeliverable(
            session, item, reason=UndeliverableReason.opted_out if error.opted_out
            else UndeliverableReason.invalid_number,
            code=error.code)
