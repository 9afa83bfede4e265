"""Twilio's delivery status callbacks, for messages and calls."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from notifications.delivery import record_delivery
from shared.db import SessionDep
from shared.errors import ValidationFailed
from shared.twilio import TwilioForm

router = APIRouter(prefix="/v1/twilio", tags=["twilio"])


@router.post("/status", status_code=204)
async def delivery_status(form: TwilioForm, session: SessionDep,
                          reminder: Annotated[uuid.UUID | None, Query()] = None) -> Response:
    """Idempotent and safe out of order: a status only ever moves forward, so a retried
    or late callback (``sent`` after ``delivered``) changes nothing."""
    sid = form.get("MessageSid") or form.get("CallSid") or ""
    status = form.get("MessageStatus") or form.get("CallStatus") or ""
    if not sid or len(sid) > 64:
        raise ValidationFailed.field("MessageSid", "a status callback needs the message or call id")
    if not status:
        raise ValidationFailed.field("MessageStatus", "a status callback needs a status")
    await record_delivery(session, provider_id=sid, status=status, reminder_id=reminder,
                                  error_code=form.get("ErrorCode") or None)
    return Response(status_code=204)
