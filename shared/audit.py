"""The audit trail: who read or changed a person's data, kept where nobody can rewrite it.

Each service keeps its own trail, in its own database, as an ``audit_entries`` table
(columns from ``AuditEntryBase``) and a one-row ``audit_head`` (``AuditHeadBase``).
Guarantees:

- **Same transaction.** A route records its entries on the request's session, so they
  commit with the work (and a read's entry with its response: the session commits
  before the response leaves). A request that fails leaves no entry, and no work.
- **Append-only.** Triggers made by the service's migrations (``append_only``) refuse
  ``UPDATE`` and ``DELETE`` (and ``TRUNCATE`` on PostgreSQL) on ``audit_entries``.
- **Tamper-evident.** Entries are numbered 1, 2, 3 ... without gaps, and each carries
  ``prev_hash``, the SHA-256 of the entry before it as stored (the first carries
  ``GENESIS``); the head holds the last number and the hash of the last entry.
  ``verify`` recomputes the chain and names the first entry whose link does not hold:
  an entry changed by hand breaks the link of the entry *after* it; one removed breaks
  the numbering; the last one changed or removed disagrees with the head. Appending
  locks the head row (``SELECT ... FOR UPDATE``), so concurrent requests queue for the
  few microseconds of the append and the chain never forks. Someone who can disable
  the triggers *and* recompute every later hash and the head could still rewrite the
  tail: ``waymark audit verify`` prints the head's hash so it can be kept elsewhere.
- **No personal data.** An entry holds ids, the actor's ``sub`` and role, an action
  from the service's closed vocabulary, the client's address and the request id: never
  a name, number or free text about the person. Erasure leaves the trail untouched.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from shared.auth import CurrentUser, Principal, Role, require_roles
from shared.db import SessionDep, UTCDateTime, utcnow
from shared.errors import ValidationFailed, problem_responses
from shared.params import UTCInstant

GENESIS = "0" * 64
HEAD_ID = 1
# When a token holds several roles, the one an entry names: the widest.
ROLE_PRECEDENCE = (Role.supervisor, Role.caseworker, Role.officer, Role.service,
                   Role.authority)
DEFAULT_RANGE = timedelta(days=30)
_VERIFY_BATCH = 5000


class AuditEntryBase(SQLModel):
    """Columns of a service's ``audit_entries`` table. The concrete table constrains
    ``action`` to the service's vocabulary and ``role`` to ``Role``."""

    # Handed out from the head under its lock, not by a sequence: gaps would be
    # indistinguishable from a removed entry.
    seq: int = Field(primary_key=True, sa_type=sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                     sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=128)
    role: str = Field(max_length=16)
    action: str = Field(max_length=48)
    case_id: uuid.UUID | None = Field(default=None)
    client: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=128)
    prev_hash: str = Field(max_length=64)


class AuditHeadBase(SQLModel):
    """Columns of the one-row ``audit_head`` table: the chain's last entry."""

    id: int = Field(default=HEAD_ID, primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = Field(default=0, sa_type=sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    hash: str = Field(default=GENESIS, max_length=64)


def audit_indexes() -> tuple[sa.Index, ...]:
    """The indexes ``GET /v1/audit`` pages by: per case and per actor, newest first."""
    return (sa.Index("ix_audit_entries_case_id_seq", "case_id", "seq"),
            sa.Index("ix_audit_entries_actor_seq", "actor", "seq"))


def entry_hash(entry: AuditEntryBase) -> str:
    """SHA-256 of an entry's every column, in a fixed order and a fixed text form."""
    fields = [entry.seq, entry.at.isoformat(timespec="microseconds"), entry.actor,
              entry.role, entry.action, str(entry.case_id) if entry.case_id else None,
              entry.client, entry.request_id, entry.prev_hash]
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def acting_role(principal: Principal) -> Role:
    for role in ROLE_PRECEDENCE:
        if principal.has(role):
            return role
    raise ValueError("a principal without a role reached an audited route")


@dataclass(frozen=True, slots=True)
class AuditTables:
    """A service's two tables, kept on ``app.state.audit_tables``."""

    entry: type[AuditEntryBase]
    head: type[AuditHeadBase]


async def append(session: AsyncSession, tables: AuditTables, *, actor: str, role: str,
                 action: str, case_ids: Iterable[uuid.UUID | None],
                 client: str | None = None, request_id: str | None = None) -> None:
    """Append one entry per case (one with no case when ``case_ids`` holds ``None``),
    chained, in the session's transaction. Nothing is written for no case at all."""
    case_ids = list(case_ids)
    if not case_ids:
        return
    head = (await session.execute(
        sa.select(tables.head).where(tables.head.id == HEAD_ID)
        .with_for_update().execution_options(populate_existing=True))).scalar_one()
    at = utcnow()
    for case_id in case_ids:
        entry = tables.entry(seq=head.seq + 1, at=at, actor=actor, role=str(role),
                             action=str(action), case_id=case_id, client=client,
                             request_id=request_id, prev_hash=head.hash)
        session.add(entry)
        head.seq, head.hash = entry.seq, entry_hash(entry)
    await session.flush()


class Trail:
    """A request's way into the audit trail: the caller, their address and the request
    id are filled in; a route says what it did, to which cases."""

    def __init__(self, session: AsyncSession, tables: AuditTables, *, principal: Principal,
                 client: str | None, request_id: str | None) -> None:
        self._session, self._tables = session, tables
        self.actor, self.role = principal.sub, acting_role(principal)
        self.client, self.request_id = client, request_id

    async def record(self, action: str, *case_ids: uuid.UUID | None) -> None:
        await append(self._session, self._tables, actor=self.actor, role=self.role,
                     action=action, case_ids=case_ids, client=self.client,
                     request_id=self.request_id)


async def _trail(request: Request, session: SessionDep, principal: CurrentUser) -> Trail:
    client = request.client.host[:64] if request.client else None
    return Trail(session, request.app.state.audit_tables, principal=principal,
                 client=client, request_id=getattr(request.state, "request_id", None))


AuditDep = Annotated[Trail, Depends(_trail)]


# --- verification -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What ``verify`` found: how many entries hold, and the first that does not."""

    entries: int
    head_hash: str
    broken_at: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None and self.problem is None


async def verify(session: AsyncSession, tables: AuditTables) -> ChainReport:
    """Walk the chain from the first entry and stop at the first broken link."""
    entry_table = tables.entry
    expected_hash, expected_seq, checked = GENESIS, 1, 0
    while True:
        batch = (await session.execute(
            sa.select(entry_table).where(entry_table.seq >= expected_seq)
            .order_by(entry_table.seq).limit(_VERIFY_BATCH))).scalars().all()
        for entry in batch:
            if entry.seq != expected_seq:
                return ChainReport(checked, expected_hash, expected_seq,
                                   f"entry {expected_seq} is missing (the next is {entry.seq})")
            if entry.prev_hash != expected_hash:
                return ChainReport(checked, expected_hash, entry.seq, (
                    f"entry {entry.seq} does not link to entry {entry.seq - 1} as stored: "
                    f"entry {entry.seq - 1} was changed, or this one was"))
            expected_hash, expected_seq, checked = entry_hash(entry), entry.seq + 1, checked + 1
        session.expunge_all()
        if len(batch) < _VERIFY_BATCH:
            break
    head = await session.get(tables.head, HEAD_ID)
    if head is None:
        return ChainReport(checked, expected_hash, None, "the head row is missing")
    if head.seq != checked or head.hash != expected_hash:
        return ChainReport(checked, expected_hash, checked or None, (
            f"the head names entry {head.seq} with another hash: the last entry "
            f"({checked}) was changed or entries after it were removed"))
    return ChainReport(checked, expected_hash)


# --- the route ----------------------------------------------------------------------


class AuditEntryRead(BaseModel):
    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    case_id: uuid.UUID | None
    client: str | None
    request_id: str | None


class AuditPage(BaseModel):
    items: list[AuditEntryRead]
    # The ``cursor`` for the next (older) page; null on the last one.
    next_cursor: str | None


def audit_router(tables: AuditTables) -> APIRouter:
    """``GET /v1/audit``: the service's trail for supervisors (anyone else 403), newest
    first, keyset-paged by entry number, over at most a year; by case, actor and role
    (an unknown role is a 422 naming ``role``)."""
    router = APIRouter(tags=["audit"])
    entry = tables.entry

    @router.get("/v1/audit", response_model=AuditPage,
                responses=problem_responses(401, 403, 422))
    async def list_audit(
        session: SessionDep,
        _supervisor: Annotated[Any, require_roles(Role.supervisor)],
        case_id: uuid.UUID | None = None,
        actor: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
        role: Role | None = None,
        start: Annotated[UTCInstant | None, Query(alias="from", description=(
            "Earliest instant, with its offset; default: 30 days before `to`."))] = None,
        end: Annotated[UTCInstant | None, Query(alias="to", description=(
            "Latest instant (excluded); default: now. At most a year after `from`."))] = None,
        cursor: Annotated[str | None, Query(max_length=20)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> AuditPage:
        # Without ``to``, everything up to now, including what this instant wrote.
        until = end or utcnow()
        start = start or until - DEFAULT_RANGE
        if start > until:
            raise ValidationFailed.field("from", "must not be after `to`")
        if until > start + relativedelta(years=1):
            raise ValidationFailed.field("to", "at most a year after `from`")
        query = sa.select(entry).where(entry.at >= start)
        if end is not None:
            query = query.where(entry.at < end)
        if case_id is not None:
            query = query.where(entry.case_id == case_id)
        if actor is not None:
            query = query.where(entry.actor == actor)
        if role is not None:
            query = query.where(entry.role == role)
        if cursor is not None:
            if not (cursor.isascii() and cursor.isdigit()) or int(cursor) >= 2**63:
                raise ValidationFailed.field("cursor", "not a cursor this route handed out")
            query = query.where(entry.seq < int(cursor))
        rows = (await session.execute(
            query.order_by(entry.seq.desc()).limit(limit + 1))).scalars().all()
        items = [AuditEntryRead.model_validate(row, from_attributes=True)
                 for row in rows[:limit]]
        return AuditPage(items=items,
                         next_cursor=str(items[-1].seq) if len(rows) > limit else None)

    return router


def install_audit(app: Any, tables: AuditTables) -> None:
    """Give ``app`` its trail: ``AuditDep`` finds the tables here, and ``/v1/audit``."""
    app.state.audit_tables = tables
    app.include_router(audit_router(tables))
