"""Building blocks for notifications tests: cases and expected check-ins as the registry's
and checkin's feeds deliver them, and Twilio's signed status callbacks."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from notifications.app import dispatcher, planner
from notifications.copies import apply_checkin_change, apply_registry_change
from notifications.feeds import ExpectedCheckinChange
from notifications.models import ChangeEvent, Reminder

from shared.changefeed import Change
from shared.config import DEV_TWILIO_TOKEN
from tests.checkin.helpers import BEFORE_START, CASEWORKER, FIRST_OPENS, PHONE, case_change, signature

BASE_URL = "http://127.0.0.1:8003"  # the default public URL of notifications in tests
__all__ = ["CASEWORKER", "FIRST_OPENS", "PHONE", "case_change"]


def _common(app) -> dict[str, Any]:
    return {"planner": planner(app.state.settings)}


async def from_registry(app, change: Change) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await apply_registry_change(session, change, **_common(app))


async def from_checkin(app, type: str, data: dict[str, Any]) -> None:
    change = Change(cursor="0-0", type=type, subject_id=str(data.get("id", "")),
                    occurred_at=BEFORE_START, data=data)
    async with app.state.sessionmaker() as session, session.begin():
        await apply_checkin_change(session, change, **_common(app))


def window(case_id: uuid.UUID, opens: datetime = FIRST_OPENS, *, hours: int = 10, grace: int = 24,
           status: str = "pending", id: uuid.UUID | None = None) -> dict[str, Any]:
    """An ``expected_checkin.*`` event's data, shaped like checkin's
    (``checkin.events.ExpectedCheckinPlanned``), checked against notifications' read
    model so a shape the service no longer reads fails here, not in a test's middle."""
    closes = opens + timedelta(hours=hours)
    data = {"schema_version": 1, "id": str(id or uuid.uuid4()), "case_id": str(case_id),
            "opens_at": opens.isoformat(), "closes_at": closes.isoformat(),
            "grace_ends_at": (closes + timedelta(hours=grace)).isoformat(), "status": status}
    ExpectedCheckinChange.model_validate(data)
    return data


async def add_person(app, *, opens: datetime = FIRST_OPENS, **case: Any) -> tuple[uuid.UUID, str]:
    """A case from the registry with one expected check-in from checkin:
    ``(case_id, expected_checkin_id)``."""
    change = case_change(**case)
    await from_registry(app, change)
    case_id = uuid.UUID(change.data["id"])
    expected = window(case_id, opens)
    await from_checkin(app, "expected_checkin.planned", expected)
    return case_id, expected["id"]


async def reminders(app, case_id: uuid.UUID) -> dict[str, Reminder]:
    """The case's reminders by kind."""
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(sa.select(Reminder).where(Reminder.case_id == case_id)
                                      )).scalars().all()
    return {row.kind: row for row in rows}


async def events(app, type: str) -> list[ChangeEvent]:
    async with app.state.sessionmaker() as session:
        return list((await session.execute(
            sa.select(ChangeEvent).where(ChangeEvent.type == type).order_by(ChangeEvent.id)
        )).scalars())


async def dispatch(app, **policy: Any):
    """One dispatcher run over the app, with ``policy`` overrides (e.g. concurrency=1)."""
    worker = dispatcher(app)
    worker.policy = replace(worker.policy, **policy)
    return await worker.run_once()


async def status_callback(client: httpx.AsyncClient, params: dict[str, str], *,
                          reminder: uuid.UUID | None = None,
                          token: str = DEV_TWILIO_TOKEN) -> httpx.Response:
    path = "/v1/twilio/status" + (f"?reminder={reminder}" if reminder else "")
    headers = {"X-Twilio-Signature": signature(BASE_URL + path, params, token)}
    return await client.post(path, data=params, headers=headers)
