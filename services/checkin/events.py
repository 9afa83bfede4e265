"""What checkin publishes on its change feed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from checkin.models import ChangeEvent, ExpectedCheckin, FollowUp
from shared.changefeed import publish


async def publish_event(session: AsyncSession, type: str, subject_id: uuid.UUID,
                        data: dict[str, Any]) -> None:
    await publish(session, ChangeEvent, type=type, subject_id=str(subject_id), data=data)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def expected_event(row: ExpectedCheckin) -> dict[str, Any]:
    return {"id": str(row.id), "case_id": str(row.case_id), "opens_at": iso(row.opens_at),
            "closes_at": iso(row.closes_at), "grace_ends_at": iso(row.grace_ends_at),
            "status": row.status}


def outcome_event(expected: ExpectedCheckin) -> dict[str, Any]:
    return {**expected_event(expected), "excusal_reason": expected.excusal_reason}


async def publish_outcome(session: AsyncSession, expected: ExpectedCheckin) -> None:
    await publish_event(session, "expected_checkin.outcome", expected.id, outcome_event(expected))


def follow_up_event(follow_up: FollowUp) -> dict[str, Any]:
    return {"id": str(follow_up.id), "case_id": str(follow_up.case_id), "kind": follow_up.kind,
            "status": follow_up.status, "assigned_to": follow_up.assigned_to,
            "expected_checkin_id": str(follow_up.expected_checkin_id)
            if follow_up.expected_checkin_id else None}
