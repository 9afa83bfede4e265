"""The outbox dispatcher: claims due reminders, hands them to the provider at a pace the
rate limit allows, and records what happened.

The guarantee (also in the README): every reminder is handed to the provider at most
once, and one that is due is handed over unless its deadline passes first.
- Before the send, the claim commits ``sending`` with a lease: a row another
  dispatcher holds is skipped (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has
  one writer at a time and the claim is a conditional UPDATE).
- After the send, ``sent`` and the provider's id are committed, in small groups.
- A dispatcher that dies in between leaves ``sending`` rows whose lease runs out. The
  next dispatcher asks the provider whether each was handed over (the provider's own
  record of messages to that number since the claim, or the status callback, which
  carries our id): if so it is marked sent, if not it goes back in the queue. Nothing
  is sent twice on a guess.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifications.models import (
    ChangeEvent,
    Contact,
    ExpectedCheckin,
    FollowUpCopy,
    OptOut,
    Reminder,
    SendPace,
)
from notifications.providers import Outgoing, PermanentError, Provider, TransientError
from notifications.service import plan_reminders, publish_reminder_status, set_opt_out
from notifications.templates import templates
from shared.changefeed import publish_many
from shared.crypto import PhoneVault
from shared.db import dialect_insert, utcnow

log = logging.getLogger("waymark.notifications.dispatch")
REMINDERS = Reminder.__table__
UNREACHABLE = "contact_unreachable"  # the follow-up kind checkin opens for it
PACING_HEADROOM = 0.005


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
class Claimed:
    """A claimed reminder, with what it takes to send it."""

    id: uuid.UUID
    case_id: uuid.UUID
    expected_checkin_id: uuid.UUID
    kind: str
    channel: str
    attempts: int
    deadline: datetime
    phone_hash: str
    message: Outgoing
    slot: float = 0.0  # wall-clock time before which it must not be sent


@dataclass
class Outcome:
    claimed: Claimed
    provider_id: str | None = None
    error: Exception | None = None


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


@dataclass
class Dispatcher:
    sessionmaker: async_sessionmaker[AsyncSession]
    provider: Provider
    vault: PhoneVault
    status_callback: str
    policy: DispatchPolicy = field(default_factory=DispatchPolicy)
    checkin_number: str = ""
    policy_for: Any = None  # for re-planning after a carrier opt-out
    _recent: deque[asyncio.Future[float]] | None = field(default=None, init=False, repr=False)
    _pacing: asyncio.Lock | None = field(default=None, init=False, repr=False)
    _inflight: deque[asyncio.Future[Stats]] = field(default_factory=deque, init=False, repr=False)

    # --- the public steps ----------------------------------------------------------

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

    async def expire(self, now: datetime) -> int:
        """Fail what was never sent in time: a late reminder is worse than none."""
        async with self.sessionmaker() as session, session.begin():
            rows = (await session.execute(
                sa.update(REMINDERS)
                .where(REMINDERS.c.status == "planned", REMINDERS.c.deadline <= now)
                .values(status="failed", error="not sent before its deadline", updated_at=now)
                .returning(*_EVENT_COLUMNS))).all()
            await publish_reminder_status(session, rows, status="failed", reason="deadline")
        return len(rows)

    async def claim(self, now: datetime) -> tuple[list[Claimed], int]:
        """Claim a batch of due reminders (committed before any is sent); returns them,
        each with its send slot, and how many turned out to be no longer wanted."""
        limit = self.policy.batch
        if self.policy.rate:  # claim about a second's worth: the lease must outlast the pacing
            limit = max(1, min(limit, int(self.policy.rate)))
        async with self.sessionmaker() as session, session.begin():
            due = (sa.select(REMINDERS.c.id)
                   .where(REMINDERS.c.status == "planned", REMINDERS.c.next_attempt_at <= now)
                   .order_by(REMINDERS.c.next_attempt_at).limit(limit))
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            lease = now + self.policy.lease + timedelta(
                seconds=limit / self.policy.rate if self.policy.rate else 0)
            rows = (await session.execute(
                sa.update(REMINDERS)
                .where(REMINDERS.c.id.in_(due.scalar_subquery()), REMINDERS.c.status == "planned")
                .values(status="sending", attempts=REMINDERS.c.attempts + 1, claimed_at=now,
                        lease_until=lease, updated_at=now)
                .returning(*_CLAIM_COLUMNS))).all()
            if not rows:
                return [], 0
            claimed, unwanted = await self._prepare(session, rows)
            if unwanted:
                await session.execute(
                    sa.update(REMINDERS).where(REMINDERS.c.id == sa.bindparam("rid"))
                    .values(status="cancelled", error=sa.bindparam("reason"), lease_until=None,
                            updated_at=now),
                    [{"rid": rid, "reason": reason} for rid, reason in unwanted.items()])
            if self.policy.rate and claimed:
                await self._reserve_slots(session, claimed, now)
        return claimed, len(unwanted)

    async def deliver(self, claimed: Sequence[Claimed]) -> Stats:
        """Send each at its slot, at most ``concurrency`` at once, recording outcomes
        in small groups as they come in."""
        stats = Stats()
        if not claimed:
            return stats
        gate = asyncio.Semaphore(self.policy.concurrency)

        async def send(item: Claimed) -> Outcome:
            done = await self._pace(item.slot) if self.policy.rate else None
            async with gate:
                try:
                    sid = await self.provider.send(item.message, status_callback=self._callback(item))
                except (TransientError, PermanentError) as exc:
                    return Outcome(item, error=exc)
                except Exception as exc:  # a provider bug must not strand the batch
                    log.error("provider raised %s", type(exc).__name__)
                    return Outcome(item, error=TransientError(type(exc).__name__))
                finally:
                    if done is not None:
                        done.set_result(time.time())
                return Outcome(item, provider_id=sid)

        # Tasks made here start in slot order (as_completed would start them in any).
        tasks = [asyncio.ensure_future(send(item)) for item in claimed]
        pending: list[Outcome] = []
        for finished in asyncio.as_completed(tasks):
            pending.append(await finished)
            if len(pending) >= self.policy.record_every:
                stats.add(await self.record(pending))
                pending = []
        if pending:
            stats.add(await self.record(pending))
        return stats

    async def record(self, outcomes: Sequence[Outcome]) -> Stats:
        """Commit what the provider said: sent with its id, a retry later, or failed."""
        now = utcnow()
        stats = Stats()
        sent, retry, failed = [], [], []
        for outcome in outcomes:
            item = outcome.claimed
            if outcome.error is None:
                sent.append({"rid": item.id, "provider_id": outcome.provider_id})
            elif isinstance(outcome.error, TransientError):
                next_at = now + self._backoff(item.attempts)
                if next_at < item.deadline:
                    retry.append({"rid": item.id, "next_at": next_at,
                                  "reason": f"will retry: {outcome.error}"[:200]})
                else:
                    failed.append((item, f"gave up before its deadline: {outcome.error}"))
            else:
                failed.append((item, str(outcome.error)))
        async with self.sessionmaker() as session, session.begin():
            if sent:
                await session.execute(
                    sa.update(REMINDERS)
                    .where(REMINDERS.c.id == sa.bindparam("rid"), REMINDERS.c.status == "sending")
                    .values(status="sent", provider=self.provider.name,
                            provider_id=sa.bindparam("provider_id"), sent_at=now,
                            lease_until=None, error=None, updated_at=now), sent)
                await publish_reminder_status(
                    session, [o.claimed for o in outcomes if o.error is None], status="sent")
            if retry:
                await session.execute(
                    sa.update(REMINDERS)
                    .where(REMINDERS.c.id == sa.bindparam("rid"), REMINDERS.c.status == "sending")
                    .values(status="planned", next_attempt_at=sa.bindparam("next_at"),
                            error=sa.bindparam("reason"), lease_until=None, updated_at=now), retry)
            for item, reason in failed:
                await self._fail(session, item, reason, now)
            for outcome in outcomes:
                if isinstance(outcome.error, PermanentError):
                    await self._permanent(session, outcome.claimed, outcome.error)
        stats.sent, stats.retried, stats.failed = len(sent), len(retry), len(failed)
        return stats

    async def reconcile(self, now: datetime) -> Stats:
        """Settle reminders whose dispatcher died after claiming them: ask the provider
        whether each was handed over; mark it sent if so, queue it again if not."""
        stats = Stats()
        async with self.sessionmaker() as session, session.begin():
            stuck = (sa.select(REMINDERS.c.id)
                     .where(REMINDERS.c.status == "sending", REMINDERS.c.lease_until < now)
                     .limit(100))
            if session.get_bind().dialect.name == "postgresql":
                stuck = stuck.with_for_update(skip_locked=True)
            rows = (await session.execute(
                sa.update(REMINDERS)
                .where(REMINDERS.c.id.in_(stuck.scalar_subquery()), REMINDERS.c.status == "sending",
                       REMINDERS.c.lease_until < now)
                .values(lease_until=now + self.policy.lease)  # ours now, while we ask
                .returning(*_CLAIM_COLUMNS, REMINDERS.c.claimed_at))).all()
            if not rows:
                return stats
            claimed, _ = await self._prepare(session, rows, check=False)
        since = {row.id: row.claimed_at for row in rows}
        for item in claimed:
            try:
                sid = await self.provider.find(item.message, since=since[item.id] - timedelta(minutes=1))
            except (TransientError, PermanentError) as exc:
                log.warning("cannot ask the provider about a stuck reminder: %s", exc)
                continue  # the lease runs out again and the next dispatcher asks
            async with self.sessionmaker() as session, session.begin():
                if sid is not None:
                    await session.execute(
                        sa.update(REMINDERS).where(REMINDERS.c.id == item.id,
                                                   REMINDERS.c.status == "sending")
                        .values(status="sent", provider=self.provider.name, provider_id=sid,
                                sent_at=now, lease_until=None, updated_at=now))
                    await publish_reminder_status(session, [item], status="sent")
                elif item.deadline > now:
                    await session.execute(
                        sa.update(REMINDERS).where(REMINDERS.c.id == item.id,
                                                   REMINDERS.c.status == "sending")
                        .values(status="planned", next_attempt_at=now, lease_until=None,
                                updated_at=now))
                else:
                    await self._fail(session, item, "not sent before its deadline", now)
            stats.reconciled += 1
        return stats

    # --- the parts -------------------------------------------------------------------

    async def _pace(self, slot: float) -> asyncio.Future[float]:
        """Wait for the message's slot, and until the send ``rate`` places back has
        finished more than a second ago; returns the future the caller resolves with
        the time its own send finished. The provider receives a request before it
        answers it, so no one-second window at the provider ever holds more than
        ``rate`` requests, whatever the delays on the way."""
        if self._recent is None:
            self._recent, self._pacing = deque(maxlen=max(1, int(self.policy.rate))), asyncio.Lock()
        async with self._pacing:  # sends start one at a time, in slot order
            start = slot
            if len(self._recent) == self._recent.maxlen:
                start = max(start, await asyncio.shield(self._recent[0]) + 1.0)
            wait = start - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            self._recent.append(done)
        return done

    def _callback(self, item: Claimed) -> str:
        # Our id rides along, so a callback can settle a send we did not get to record.
        return f"{self.status_callback}?reminder={item.id}"

    def _backoff(self, attempts: int) -> timedelta:
        """Exponential backoff with full jitter: spreads retries after an outage."""
        ceiling = min(self.policy.retry_max.total_seconds(),
                      self.policy.retry_first.total_seconds() * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=random.uniform(ceiling / 2, ceiling))

    async def _prepare(self, session: AsyncSession, rows: Sequence[Any], *,
                       check: bool = True) -> tuple[list[Claimed], dict[uuid.UUID, str]]:
        """Turn claimed rows into messages, checking each is still wanted now: the case
        active, the check-in still pending, the number not opted out of SMS."""
        case_ids = {row.case_id for row in rows}
        contacts = {c.case_id: c for c in (await session.execute(
            sa.select(Contact).where(Contact.case_id.in_(case_ids)))).scalars()}
        pending = set((await session.execute(
            sa.select(ExpectedCheckin.id).where(
                ExpectedCheckin.id.in_({row.expected_checkin_id for row in rows}),
                ExpectedCheckin.status == "pending"))).scalars())
        opted_out = set((await session.execute(
            sa.select(OptOut.phone_hash).where(
                OptOut.phone_hash.in_({c.phone_hash for c in contacts.values()})))).scalars())
        claimed: list[Claimed] = []
        unwanted: dict[uuid.UUID, str] = {}
        for row in rows:
            contact = contacts.get(row.case_id)
            if check:
                reason = (
                    "case not active" if contact is None or contact.status != "active" else
                    "check-in no longer pending" if row.expected_checkin_id not in pending else
                    "opted out of SMS" if row.channel == "sms" and contact.phone_hash in opted_out
                    else None)
                if reason:
                    unwanted[row.id] = reason
                    continue
            if contact is None:
                continue
            texts = templates(row.language)
            claimed.append(Claimed(
                id=row.id, case_id=row.case_id, expected_checkin_id=row.expected_checkin_id,
                kind=row.kind, channel=row.channel, attempts=row.attempts, deadline=row.deadline,
                phone_hash=contact.phone_hash,
                message=Outgoing(reminder_id=row.id, channel=row.channel,
                                 to=self.vault.decrypt(contact.phone_encrypted), body=row.body,
                                 voice=texts.voice, voice_language=texts.voice_language,
                                 press_one=texts.press_one if "voice" in contact.channels else None)))
        return claimed, unwanted

    async def _reserve_slots(self, session: AsyncSession, claimed: list[Claimed],
                             now: datetime) -> None:
        """Give each message a send time 1/rate apart after the last one any dispatcher
        reserved; the row lock makes dispatchers take turns."""
        await session.execute(
            dialect_insert(session)(SendPace).values(name="outbound", next_free_at=now)
            .on_conflict_do_nothing(index_elements=["name"]))
        pace = (await session.execute(
            sa.select(SendPace).where(SendPace.name == "outbound").with_for_update())).scalar_one()
        # Evenly spaced slots 1/rate apart would put rate + 1 sends in a closed one-second
        # window; half a percent of headroom keeps every window at or under the limit
        # with a few milliseconds of network jitter to spare.
        interval = (1.0 + PACING_HEADROOM) / self.policy.rate
        start = max(pace.next_free_at.timestamp(), time.time())
        for index, item in enumerate(claimed):
            item.slot = start + index * interval
        pace.next_free_at = datetime.fromtimestamp(start + len(claimed) * interval, tz=now.tzinfo)

    async def _fail(self, session: AsyncSession, item: Claimed, reason: str, now: datetime) -> None:
        await session.execute(
            sa.update(REMINDERS).where(REMINDERS.c.id == item.id, REMINDERS.c.status == "sending")
            .values(status="failed", error=reason[:200], lease_until=None, updated_at=now))
        await publish_reminder_status(session, [item], status="failed", reason=reason[:100])

    async def _permanent(self, session: AsyncSession, item: Claimed, error: PermanentError) -> None:
        """A number that cannot be reached: the caseworker agrees another way with the
        person (through checkin's follow-ups); a carrier opt-out counts as STOP."""
        if error.opted_out:
            await set_opt_out(session, phone_hash=item.phone_hash, opted_out=True)
            if self.policy_for is not None:
                await plan_reminders(session, case_ids=[item.case_id], policy_for=self.policy_for,
                                     checkin_number=self.checkin_number, now=utcnow())
        if not (error.number or error.opted_out):
            log.error("provider rejected a reminder: %s", error)
            return
        already = await session.scalar(
            sa.select(FollowUpCopy.id).where(FollowUpCopy.case_id == item.case_id,
                                             FollowUpCopy.kind == UNREACHABLE,
                                             FollowUpCopy.status != "closed").limit(1))
        if already is None:
            await publish_many(session, ChangeEvent, [("reminder.undeliverable", item.id, {
                "reminder_id": str(item.id), "case_id": str(item.case_id),
                "expected_checkin_id": str(item.expected_checkin_id), "channel": item.channel,
                "reason": "opted_out" if error.opted_out else "invalid_number",
                "code": error.code})])


_CLAIM_COLUMNS = (REMINDERS.c.id, REMINDERS.c.case_id, REMINDERS.c.expected_checkin_id,
                  REMINDERS.c.kind, REMINDERS.c.channel, REMINDERS.c.language, REMINDERS.c.body,
                  REMINDERS.c.deadline, REMINDERS.c.attempts)
_EVENT_COLUMNS = (REMINDERS.c.id, REMINDERS.c.case_id, REMINDERS.c.expected_checkin_id,
                  REMINDERS.c.kind, REMINDERS.c.channel)
