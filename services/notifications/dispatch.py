"""The outbox dispatcher: the loop that expires, reconciles, claims, paces, sends and
records, each step in its own module (``claims``, ``pacing``, ``sending``,
``outcomes``, ``recovery``).

The guarantee (also in the README): every reminder is handed to the provider at most
once, and one that is due is handed over unless its deadline passes first.
- Before the send, the claim commits ``sending`` with a lease (``claims``).
- After the send, ``sent`` and the provider's id are committed, in small groups
  (``outcomes``).
- A dispatcher that dies in between leaves ``sending`` rows whose lease runs out; the
  next one asks the provider before it sends anything again (``recovery``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifications import outcomes, recovery
from notifications.claims import REMINDERS as REMINDERS_TABLE
from notifications.claims import Claimed, claim_due
from notifications.enums import ReminderStatus
from notifications.metrics import REMINDERS
from notifications.outcomes import Backoff, Stats
from notifications.pacing import Pacer, reserve_slots
from notifications.planner import Planner
from notifications.providers import Provider
from notifications.sending import Outcome, send_all
from shared.crypto import PhoneVault
from shared.db import utcnow

log = logging.getLogger("waymark.notifications.dispatch")
__all__ = ["Claimed", "DispatchPolicy", "Dispatcher", "Outcome", "Stats"]


@dataclass(frozen=True)
class DispatchPolicy:
    rate: float = 0.0  # messages per second across all dispatchers; 0: no limit
    batch: int = 500
    concurrency: int = 64
    lease: timedelta = timedelta(seconds=60)
    retry_first: timedelta = timedelta(seconds=30)
    retry_max: timedelta = timedelta(minutes=15)
    record_every: int = 100


@dataclass
class Dispatcher:
    sessionmaker: async_sessionmaker[AsyncSession]
    provider: Provider
    vault: PhoneVault
    status_callback: str
    policy: DispatchPolicy = field(default_factory=DispatchPolicy)
    planner: Planner | None = None  # re-plans after a carrier opt-out
    _pacer: Pacer | None = field(default=None, init=False, repr=False)
    _inflight: deque[asyncio.Future[Stats]] = field(default_factory=deque, init=False, repr=False)

    # --- the loop ----------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> Stats:
        """Expire, reconcile, then claim one batch and send it; returns when it is sent."""
        stats = await self.step(now)
        stats.add(await self.settle())
        return stats

    async def step(self, now: datetime | None = None) -> Stats:
        """One round of a running dispatcher: expire, reconcile, claim a batch and start
        sending it, then wait for the batch before it. One batch is always claimed
        ahead, so sending never pauses for a claim and paced send slots stay back to
        back. Call ``settle`` when done."""
        now = now or utcnow()
        stats = Stats()
        stats.failed += await self.expire(now)
        stats.add(await self.reconcile(now))
        claimed, cancelled = await self.claim(now)
        stats.claimed, stats.cancelled = len(claimed), cancelled
        if claimed:
            self._inflight.append(asyncio.ensure_future(self.deliver(claimed)))
        while len(self._inflight) > 1 or (self._inflight and not claimed):
            stats.add(await self._inflight.popleft())
        return stats

    async def settle(self) -> Stats:
        """Wait for every batch still being sent."""
        stats = Stats()
        while self._inflight:
            stats.add(await self._inflight.popleft())
        return stats

    async def drain(self, *, max_rounds: int = 10_000) -> Stats:
        """Run until nothing due is left (tests, the benchmark, `waymark dispatch`)."""
        total = Stats()
        try:
            for _ in range(max_rounds):
                stats = await self.step()
                total.add(stats)
                if stats.claimed == 0 and stats.reconciled == 0:
                    break
        finally:
            total.add(await self.settle())
        return total

    async def tick(self, *, max_seconds: float = 30.0) -> None:
        """For the scheduler: batches while there are due ones (up to ``max_seconds``),
        logging (never raising) on trouble; the work and its progress live in the
        database, so the next tick carries on."""
        total = Stats()
        until = time.monotonic() + max_seconds
        try:
            try:
                while time.monotonic() < until:
                    stats = await self.step()
                    total.add(stats)
                    if stats.claimed == 0 and stats.reconciled == 0:
                        break
            finally:
                total.add(await self.settle())
        except Exception as exc:  # the database or provider is down: next tick retries
            log.error("dispatch failed: %s", type(exc).__name__)
        if total.sent or total.failed or total.retried:
            log.info("dispatched: %d sent, %d retried, %d failed, %d cancelled",
                     total.sent, total.retried, total.failed, total.cancelled)

    # --- the steps ---------------------------------------------------------------------

    async def expire(self, now: datetime) -> int:
        async with self.sessionmaker() as session, session.begin():
            expired = await outcomes.expire(session, now=now)
        REMINDERS.labels("failed").inc(expired)  # committed
        return expired

    async def claim(self, now: datetime) -> tuple[list[Claimed], int]:
        """Claim a batch of due reminders (committed before any is sent); returns them,
        each with its send slot, and how many turned out to be no longer wanted."""
        limit = self.policy.batch
        if self.policy.rate:  # claim about a second's worth: the lease must outlast the pacing
            limit = max(1, min(limit, int(self.policy.rate)))
        lease_until = now + self.policy.lease + timedelta(
            seconds=limit / self.policy.rate if self.policy.rate else 0)
        async with self.sessionmaker() as session, session.begin():
            claimed, cancelled = await claim_due(session, now=now, limit=limit,
                                                 lease_until=lease_until, vault=self.vault)
            if self.policy.rate and claimed:
                await reserve_slots(session, claimed, rate=self.policy.rate, now=now)
                # The slots follow every slot any dispatcher reserved before, so the
                # last may be later than this batch's own pacing: the lease runs from
                # it, or it could run out while a reminder still waits for its slot and
                # another dispatcher's reconciliation would queue it again (sent twice).
                last = datetime.fromtimestamp(max(item.slot for item in claimed), tz=UTC)
                if last + self.policy.lease > lease_until:
                    await session.execute(
                        sa.update(REMINDERS_TABLE)
                        .where(REMINDERS_TABLE.c.id.in_([item.id for item in claimed]),
                               REMINDERS_TABLE.c.status == ReminderStatus.sending)
                        .values(lease_until=last + self.policy.lease))
        REMINDERS.labels("cancelled").inc(cancelled)  # committed
        return claimed, cancelled

    async def deliver(self, claimed: Sequence[Claimed]) -> Stats:
        """Send each at its slot, at most ``concurrency`` at once, recording outcomes
        in small groups as they come in."""
        stats = Stats()
        if not claimed:
            return stats
        if self.policy.rate and self._pacer is None:
            self._pacer = Pacer(self.policy.rate)
        async for group in send_all(claimed, provider=self.provider,
                                    status_callback=self.status_callback,
                                    concurrency=self.policy.concurrency,
                                    pacer=self._pacer if self.policy.rate else None,
                                    group=self.policy.record_every):
            stats.add(await self.record(group))
        return stats

    async def record(self, results: Sequence[Outcome]) -> Stats:
        """Commit what the provider said (see ``outcomes.record``)."""
        now = utcnow()
        async with self.sessionmaker() as session, session.begin():
            stats = await outcomes.record(
                session, results, provider_name=self.provider.name, planner=self.planner,
                backoff=Backoff(self.policy.retry_first, self.policy.retry_max), now=now)
        for status in ("sent", "retried", "failed"):  # committed
            REMINDERS.labels(status).inc(getattr(stats, status))
        return stats

    async def reconcile(self, now: datetime) -> Stats:
        """Settle reminders whose dispatcher died after claiming them (``recovery``)."""
        return Stats(reconciled=await recovery.reconcile(
            sessionmaker=self.sessionmaker, provider=self.provider, vault=self.vault,
            lease=self.policy.lease, now=now))
