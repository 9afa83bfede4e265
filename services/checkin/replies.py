"""Webhook replies and keypad call state: what makes a Twilio retry record nothing twice
and hear the same answer."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.models import CaseCopy, Reply, VoiceCall
from shared.db import dialect_insert, utcnow
from shared.errors import Conflict, ValidationFailed

_CASES_READ = "checkin.cases_read"


@event.listens_for(CaseCopy, "load")
@event.listens_for(VoiceCall, "load")
def _note_case_read(target: CaseCopy | VoiceCall, context: Any) -> None:
    # Every case a request's session loads (or the keypad call it continues) is noted,
    # so the stored answer can name it: the identity map alone holds unchanged rows
    # only weakly, and they are gone by the time the answer is stored.
    if target.case_id is not None:
        context.session.info.setdefault(_CASES_READ, set()).add(target.case_id)


def _subjects(session: AsyncSession) -> str | None:
    """The cases this request read (every case copy it loaded, and the keypad call's
    case), as ``Reply.subjects``: the answer's body goes when one is erased."""
    ids = set(session.info.get(_CASES_READ, ()))
    ids |= {row.case_id for row in session.identity_map.values()
            if isinstance(row, CaseCopy | VoiceCall) and row.case_id is not None}
    return " ".join(sorted(str(case_id) for case_id in ids)) or None


@functools.cache
def _store_reply_statement(insert: Callable[..., Any]) -> Any:
    """Built once per dialect's ``insert``: every webhook answer goes through it."""
    table = Reply.__table__  # type: ignore[attr-defined]
    return (insert(table).on_conflict_do_nothing(index_elements=["key"])
            .returning(table.c.key))


async def store_reply(session: AsyncSession, *, key: str, body: str, status_code: int = 200,
                      media_type: str = "application/xml") -> Reply | None:
    """Store the answer to the request ``key`` in the request's own transaction. If an
    earlier request with the same key (a retry's original) got there first, its answer
    is returned and the caller must roll back everything this one did. On PostgreSQL
    a concurrent insert of the same key waits for the first to commit; SQLite takes
    writers one at a time. Retries are rare, so the work is done first and the key
    checked once, at the end: one statement on the common path."""
    inserted = await session.scalar(_store_reply_statement(dialect_insert(session)), {
        "key": key, "body": body, "status_code": status_code, "media_type": media_type,
        "subjects": _subjects(session), "created_at": utcnow()})
    if inserted is not None:
        return None
    await session.rollback()
    return await session.get(Reply, key, populate_existing=True)


async def voice_call(session: AsyncSession, *, call_sid: str) -> VoiceCall:
    call = await session.get(VoiceCall, call_sid, with_for_update=True)
    if call is None:
        call = VoiceCall(call_sid=call_sid)
        session.add(call)
    return call


async def prune(session: AsyncSession, *, bodies_before: datetime, keys_before: datetime) -> None:
    """Stored answers and call state are only needed while Twilio might retry, so they
    go after a week; the keys stay far longer (400 days), so a request captured and
    replayed months later still finds its key taken and records nothing."""
    await session.execute(sa.update(Reply).where(
        Reply.created_at < bodies_before, Reply.body.is_not(None)).values(body=None))
    await session.execute(sa.delete(VoiceCall).where(VoiceCall.created_at < bodies_before))
    await session.execute(sa.delete(Reply).where(Reply.created_at < keys_before))


def request_key(*, endpoint: str, actor: str, idempotency_key: str) -> str:
    """An ``Idempotency-Key`` is the client's name for one request of one actor to one
    endpoint: another actor's or endpoint's same key is another request. Hashed, so any
    subject and key fit the column."""
    scope = "\0".join((endpoint, actor, idempotency_key)).encode()
    return f"idem:{hashlib.sha256(scope).hexdigest()}"


async def earlier_request(session: AsyncSession, *, key: str, request_hash: str) -> Reply | None:
    """The stored answer to an earlier request under ``key``, if there was one. The same
    key with another request is refused (422): it must never be answered with the
    first one's answer, which could be another case's. An answer no longer kept
    (after 7 days) is a 409: the key was used, and nothing is recorded again."""
    earlier = await session.get(Reply, key)
    if earlier is None:
        return None
    if earlier.request_hash != request_hash:
        raise ValidationFailed.field(
            "Idempotency-Key", "this key was already used for a different request")
    if earlier.body is None:
        raise Conflict("This Idempotency-Key was already used; its answer is no longer kept.")
    return earlier


async def store_request(session: AsyncSession, *, key: str, request_hash: str, body: str,
                        status_code: int) -> None:
    """Store the answer to an idempotent request in its own transaction. A concurrent
    request with the same key that got there first makes this one a 409, its work
    rolled back: the client retries and gets the first answer (or a 422)."""
    inserted = await session.scalar(_store_reply_statement(dialect_insert(session)), {
        "key": key, "body": body, "status_code": status_code,
        "media_type": "application/json", "request_hash": request_hash,
        "subjects": _subjects(session), "created_at": utcnow()})
    if inserted is None:
        await session.rollback()
        raise Conflict("A request with this Idempotency-Key is being processed; try again.")
