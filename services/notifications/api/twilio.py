"""Twilio's delivery status callbacks, for messages and calls."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from notifications.delivery import record_delivery
from shared.db import SessionDep
from shared.errors import Forbidden, ValidationFailed, problem_responses
from shared.params import ascii_digits
from shared.twilio import TwilioForm

router = APIRouter(prefix="/v1/twilio", tags=["twilio"])


# Twilio's ids, exactly: two letters and 32 lower-case hex digits.
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")
CALL_SID = re.compile(r"CA[0-9a-f]{32}")


def _sid(request: Request, form: dict[str, str]) -> str:
    """The message's or call's sid, of Twilio's exact shape, from our account. Twilio
    signs the sorted ``key + value`` pairs run together, so text can move between
    neighbouring fields and keep the signature; exact shapes leave it no room."""
    if form.get("AccountSid") != request.app.state.settings.twilio_account_sid:
        raise Forbidden("The callback is not for this account.")
    if "MessageSid" in form:
        sid, shape = form["MessageSid"], MESSAGE_SID
    else:
        sid, shape = form.get("CallSid", ""), CALL_SID
    if not shape.fullmatch(sid) or ("SmsSid" in form and not MESSAGE_SID.fullmatch(form["SmsSid"])):
        raise Forbidden("The callback has no valid MessageSid or CallSid.")
    return sid


@router.post("/status", status_code=204, responses=problem_responses(403, 413, 422))
async def delivery_status(request: Request, form: TwilioForm, session: SessionDep,
                          reminder: Annotated[uuid.UUID | None, Query()] = None) -> Response:
    """Idempotent and safe out of order: a status only ever moves forward, so a retried
    or late callback (``sent`` after ``delivered``) changes nothing. A status outside
    Twilio's vocabulary is acknowledged and changes nothing; an ``ErrorCode`` that is
    not a number is left out of the record rather than refusing the status it came with.
    A sid not of Twilio's shape, or another account's callback, is refused (403)."""
    sid = _sid(request, form)
    status = form.get("MessageStatus") or form.get("CallStatus") or ""
    if not status:
        raise ValidationFailed.field("MessageStatus", "a status callback needs a status")
    code = form.get("ErrorCode") or ""
    await record_delivery(session, provider_id=sid, status=status, reminder_id=reminder,
                          error_code=code if ascii_digits(code, max_length=10) else None)
    return Response(status_code=204)
