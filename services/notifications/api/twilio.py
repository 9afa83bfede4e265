"""Twilio's delivery status callbacks, for messages and calls."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from notifications.delivery import record_delivery
from shared.db import SessionDep
from shared.errors import ValidationFailed, problem_responses
from shared.params import ascii_digits
from shared.twilio import TwilioForm

router = APIRouter(prefix="/v1/twilio", tags=["twilio"])


# Twilio's ids are letters and digits (``SM…``, ``CA…``); the log provider's too.
SID = re.compile(r"[A-Za-z0-9]{1,64}")


@router.post("/status", status_code=204, responses=problem_responses(403, 413, 422))
async def delivery_status(form: TwilioForm, session: SessionDep,
                          reminder: Annotated[uuid.UUID | None, Query()] = None) -> Response:
    """Idempotent and safe out of order: a status only ever moves forward, so a retried
    or late callback (``sent`` after ``delivered``) changes nothing. A status outside
    Twilio's vocabulary is acknowledged and changes nothing; an ``ErrorCode`` that is
    not a number is left out of the record rather than refusing the status it came with."""
    sid = form.get("MessageSid") or form.get("CallSid") or ""
    status = form.get("MessageStatus") or form.get("CallStatus") or ""
    if not SID.fullmatch(sid):
        raise ValidationFailed.field(
            "MessageSid", "a status callback needs the message or call id (letters and digits)")
    if not status:
        raise ValidationFailed.field("MessageStatus", "a status callback needs a status")
    code = form.get("ErrorCode") or ""
    await record_delivery(session, provider_id=sid, status=status, reminder_id=reminder,
                          error_code=code if ascii_digits(code, max_length=10) else None)
    return Response(status_code=204)
