"""The change feed: each service publishes an ordered log of its own events, and each
consumer polls it, keeping its cursor in its own database.

Ordering on PostgreSQL: identity values are handed out when a row is inserted, not
when its transaction commits, so reading ``id > cursor`` can skip a slow
transaction's event forever. Each event therefore records its transaction id and the
feed is ordered by ``(txid, id)``; a reader only sees events of transactions older
than every transaction still running (``pg_snapshot_xmin``), and no new event can
appear below that horizon. SQLite has one writer at a time, so ids commit in order
and ``txid`` is 0.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel

from shared.auth import Role, require_roles
from shared.db import (
    SessionDep,
    UTCDateTime,
    discard_after_commit,
    run_after_commit,
    utcnow,
)
from shared.errors import ValidationFailed, problem_responses
from shared.metrics import FEED_BEHIND_EVENTS, FEED_BEHIND_SECONDS, FEED_STALLED

log = logging.getLogger("waymark.changefeed")

START = "0-0"


class ChangeEventBase(SQLModel):
    """Columns of a service's ``change_events`` table (append-only). The concrete table
    adds ``EVENT_ORDER_INDEX`` to its ``__table_args__``."""

    # BIGINT on PostgreSQL; SQLite only autoincrements an INTEGER primary key.
    id: int | None = Field(
        default=None, primary_key=True, sa_type=sa.BigInteger().with_variant(sa.Integer, "sqlite")
    )
    txid: int = Field(default=0, sa_type=sa.BigInteger)
    type: str = Field(max_length=64)
    subject_id: str = Field(max_length=64, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def event_order_index() -> sa.Index:
    """The index the feed is read by: ``(txid, id)``."""
    return sa.Index("ix_change_events_txid_id", "txid", "id")


class FeedCursorBase(SQLModel):
    """Columns of a consumer's ``feed_cursor`` table: one row per feed it follows."""

    feed: str = Field(primary_key=True, max_length=64)
    cursor: str = Field(default=START, max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def parse_cursor(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return (0, 0)
    try:
        txid, _, event_id = cursor.partition("-")
        parsed = (int(txid), int(event_id))
    except ValueError:
        raise ValidationFailed.field("after", "not a cursor this feed handed out") from None
    if not all(0 <= part < 2**63 for part in parsed):
        raise ValidationFailed.field("after", "not a cursor this feed handed out")
    return parsed


def format_cursor(txid: int, event_id: int) -> str:
    return f"{txid}-{event_id}"


@functools.cache
def _insert(table: type[ChangeEventBase], dialect: str) -> sa.Insert:
    """The event insert for this table and dialect, built once: every check-in publishes,
    and building the statement costs more than the round trip."""
    txid: Any = 0
    if dialect == "postgresql":
        txid = sa.cast(sa.cast(sa.func.pg_current_xact_id(), sa.Text), sa.BigInteger)
    # Core on the table, not the ORM's bulk insert, which costs more than the work.
    return sa.insert(table.__table__).values(txid=txid)  # type: ignore[attr-defined]


async def publish(
    session: AsyncSession, table: type[ChangeEventBase], *, type: str, subject_id: str,
    data: dict[str, Any],
) -> None:
    """Append an event in the caller's transaction: it is visible exactly when the
    change it describes commits."""
    await publish_many(session, table, [(type, subject_id, data)])


async def publish_many(
    session: AsyncSession, table: type[ChangeEventBase],
    events: list[tuple[str, Any, dict[str, Any]]],
) -> None:
    """Append several ``(type, subject_id, data)`` events, in one round trip."""
    now = utcnow()
    await session.execute(
        _insert(table, session.get_bind().dialect.name),
        [{"type": type, "subject_id": str(subject_id), "data": data, "occurred_at": now}
         for type, subject_id, data in events])


class Change(BaseModel):
    cursor: str
    type: str
    subject_id: str
    occurred_at: datetime
    data: dict[str, Any]


class ChangePage(BaseModel):
    changes: list[Change]
    next_cursor: str
    has_more: bool


async def read_changes(
    session: AsyncSession, table: type[ChangeEventBase], *, after: str | None, limit: int
) -> ChangePage:
    txid, event_id = parse_cursor(after)
    query = (
        sa.select(table)
        .where(sa.tuple_(table.txid, table.id) > sa.tuple_(sa.literal(txid), sa.literal(event_id)))
        .order_by(table.txid, table.id)
        .limit(limit + 1)
    )
    if session.get_bind().dialect.name == "postgresql":
        horizon = sa.text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        query = query.where(table.txid < horizon)
    rows = (await session.execute(query)).scalars().all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    changes = [
        Change(cursor=format_cursor(r.txid, r.id), type=r.type, subject_id=r.subject_id,
               occurred_at=r.occurred_at, data=r.data)
        for r in rows
    ]
    next_cursor = changes[-1].cursor if changes else format_cursor(txid, event_id)
    return ChangePage(changes=changes, next_cursor=next_cursor, has_more=has_more)


def changes_router(table: type[ChangeEventBase]) -> APIRouter:
    """``GET /v1/changes?after=<cursor>&limit=``: the service's feed, for services only
    (events carry what consumers need, which can include personal data)."""
    router = APIRouter(tags=["change feed"])

    @router.get("/v1/changes", response_model=ChangePage,
                responses=problem_responses(401, 403, 422))
    async def list_changes(
        session: SessionDep,
        _caller: Annotated[Any, require_roles(Role.service)],
        after: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> ChangePage:
        return await read_changes(session, table, after=after, limit=limit)

    return router


class UnknownEvent(Exception):
    """Raised by a consumer's ``apply`` for an event type it does not know: the change
    is skipped and counted, by design, so a publisher can add event types before its
    consumers learn them. Any other exception means a known event could not be applied,
    and the feed stops at it."""


Apply = Callable[[AsyncSession, Change], Awaitable[None]]

# Backoff between attempts at a change that could not be applied: 1 s, 2 s, 4 s ... 5 min.
STALL_FIRST_RETRY = 1.0
STALL_MAX_RETRY = 300.0


@dataclass(frozen=True)
class Stall:
    """A feed stopped at a known change it could not apply. ``cursor`` is the last
    change applied (the consumer's stored cursor); ``event`` names the change it
    stopped at. ``reason`` holds the exception's type and, for a payload that did not
    parse, the fields at fault: never values, which can be personal data."""

    feed: str
    cursor: str
    event: str
    type: str
    reason: str
    since: datetime
    attempts: int
    retry_in_seconds: float


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        fields = sorted({".".join(str(p) for p in e["loc"]) or "data" for e in exc.errors()})
        return f"{type(exc).__name__} in {', '.join(fields)}"
    return type(exc).__name__


@dataclass
class FeedConsumer:
    """Follows one feed: fetches a page after the stored cursor, applies each change and
    stores the new cursor in the same transaction, so a crash or restart never applies
    a change twice and never skips one. ``apply`` must still be idempotent (it may be
    asked again for a change whose transaction did not commit).

    A change ``apply`` does not know (it raises ``UnknownEvent`` before touching the
    session) is skipped and counted in ``skipped``. A known change that cannot be
    applied stops the feed at that change: the changes before it are kept, the cursor
    stays just before it, ``stall`` says where and why (``/readyz`` shows it, the log
    says it once per attempt), and it is tried again after a backoff that doubles up to
    five minutes, never in a loop.

    Each ``tick`` reports the feed's lag to ``shared.metrics``: the changes seen at the
    source but not applied (``behind_events``, at most a page) and the age of the
    oldest of them, both 0 once caught up, and whether it is stalled."""

    feed: str
    client: httpx.AsyncClient
    sessionmaker: async_sessionmaker[AsyncSession]
    cursor_table: type[FeedCursorBase]
    apply: Apply
    page_size: int = 200
    cursor: str | None = None  # as of the last poll, for /readyz
    stall: Stall | None = None
    skipped: Counter[str] = field(default_factory=Counter)
    clock: Callable[[], float] = time.monotonic  # for the backoff; tests bring their own
    behind_events: int = 0  # as of the last poll
    behind_since: datetime | None = None  # when the oldest change not applied happened
    _retry_at: float = 0.0

    async def _stored_cursor(self) -> str:
        async with self.sessionmaker() as session:
            cursor = await session.scalar(
                sa.select(self.cursor_table.cursor).where(self.cursor_table.feed == self.feed))
        return cursor or START

    async def poll_once(self) -> int:
        """Apply one page, or its part before a change that cannot be applied; returns
        how many changes were applied or skipped."""
        # Fetch outside any transaction: no lock is held while the network is slow.
        cursor = self.cursor = await self._stored_cursor()
        response = await self.client.get(
            "/v1/changes", params={"after": cursor, "limit": self.page_size})
        response.raise_for_status()
        page = ChangePage.model_validate(response.json())
        self._behind(page.changes)
        if not page.changes:
            self._resumed()
            return 0
        try:
            done = await self._apply_page(cursor, page.changes, page.next_cursor)
        except _Unapplicable as failure:
            # The failed transaction is gone; keep what came before the bad change.
            before = page.changes[:failure.index]
            done = await self._apply_page(cursor, before, before[-1].cursor) if before else 0
            self._stalled(page.changes[failure.index], failure.error,
                          cursor=before[-1].cursor if before else cursor)
            self._behind(page.changes[failure.index:])
            return done
        self._resumed()
        self._behind([])
        return done

    def _behind(self, waiting: list[Change]) -> None:
        self.behind_events = len(waiting)
        self.behind_since = waiting[0].occurred_at if waiting else None

    def report(self) -> None:
        """Set this feed's gauges (``shared.metrics``) from the last poll."""
        FEED_BEHIND_EVENTS.labels(self.feed).set(self.behind_events)
        since = self.behind_since
        if since is not None and since.tzinfo is None:  # SQLite hands back naive UTC
            since = since.replace(tzinfo=UTC)
        FEED_BEHIND_SECONDS.labels(self.feed).set(
            max(0.0, (utcnow() - since).total_seconds()) if since else 0.0)
        FEED_STALLED.labels(self.feed).set(1 if self.stall is not None else 0)

    async def _apply_page(self, cursor: str, changes: list[Change], next_cursor: str) -> int:
        async with self.sessionmaker() as session:
            try:
                applied = await self._apply_in(session, cursor, changes, next_cursor)
            except BaseException:
                discard_after_commit(session)
                raise
            # Work an ``apply`` asked for once its changes are committed (``reclaim``).
            await run_after_commit(session)
        return applied

    async def _apply_in(self, session: AsyncSession, cursor: str, changes: list[Change],
                        next_cursor: str) -> int:
        async with session.begin():
            # FOR UPDATE: replicas of a consumer take turns; if another one moved the
            # cursor since we read it, its page won and ours is dropped.
            row = (await session.execute(
                sa.select(self.cursor_table).where(self.cursor_table.feed == self.feed)
                .with_for_update()
            )).scalar_one_or_none()
            if row is None:
                row = self.cursor_table(feed=self.feed)
                session.add(row)
            if row.cursor != cursor:
                return 0
            for index, change in enumerate(changes):
                try:
                    await self.apply(session, change)
                except UnknownEvent:
                    self._skip(change)
                except Exception as exc:
                    raise _Unapplicable(index, exc) from exc
            row.cursor = next_cursor
            row.updated_at = utcnow()
        self.cursor = next_cursor
        return len(changes)

    def _skip(self, change: Change) -> None:
        if not self.skipped[change.type]:
            log.info("feed %s: skipping events of unknown type %s (counted, by design)",
                     self.feed, change.type)
        self.skipped[change.type] += 1

    def _stalled(self, change: Change, error: Exception, *, cursor: str) -> None:
        attempts = self.stall.attempts + 1 if self.stall and self.stall.event == change.cursor else 1
        delay = min(STALL_MAX_RETRY, STALL_FIRST_RETRY * 2 ** (attempts - 1))
        self._retry_at = self.clock() + delay
        self.cursor = cursor
        self.stall = Stall(
            feed=self.feed, cursor=cursor, event=change.cursor, type=change.type,
            reason=_reason(error), since=self.stall.since if attempts > 1 and self.stall
            else utcnow(), attempts=attempts, retry_in_seconds=delay)
        log.error("feed %s stalled at event %s (%s): %s; attempt %d, next in %.0f s",
                  self.feed, change.cursor, change.type, self.stall.reason, attempts, delay)

    def _resumed(self) -> None:
        if self.stall is not None:
            log.warning("feed %s resumed after event %s", self.feed, self.stall.event)
            self.stall = None
            self._retry_at = 0.0

    def status(self) -> dict[str, Any]:
        """What ``/readyz`` shows of this feed."""
        return {"cursor": self.cursor, "skipped": dict(self.skipped),
                "stalled": asdict(self.stall) if self.stall else None}

    async def catch_up(self, max_pages: int = 10_000) -> int:
        """Poll until the feed has nothing new or is stalled; returns how many changes
        were applied or skipped."""
        total = 0
        for _ in range(max_pages):
            applied = await self.poll_once()
            total += applied
            if applied == 0 or self.stall is not None:
                break
        return total

    async def tick(self) -> None:
        """For a scheduler job: catch up, and log (never raise) when the source is down
        or the cursor race was lost; the next tick tries again from the same cursor. A
        stalled feed waits out its backoff first."""
        if self.stall is not None and self.clock() < self._retry_at:
            self.report()  # the stall ages while it waits
            return
        try:
            applied = await self.catch_up()
        except httpx.HTTPError as exc:
            log.warning("feed %s unavailable: %s", self.feed, type(exc).__name__)
        except Exception as exc:  # the database, or a lost race on the cursor row
            log.error("feed %s: could not apply a page: %s", self.feed, type(exc).__name__)
        else:
            if applied:
                log.info("feed %s: applied %d change(s)", self.feed, applied)
        self.report()


class _Unapplicable(Exception):
    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(index)
        self.index, self.error = index, error
