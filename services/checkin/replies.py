"""Webhook replies and keypad call state: what makes a Twilio retry record nothing twice
and hear the same answer."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.models import Reply, VoiceCall
from shared.db import dialect_insert, utcnow


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
        "created_at": utcnow()})
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


async def prune(session: AsyncSession, *, before: datetime) -> None:
    """Webhook replies and call state are only needed while Twilio might retry."""
    await session.execute(sa.delete(Reply).where(Reply.created_at < before))
    await session.execute(sa.delete(VoiceCall).where(VoiceCall.created_at < before))
