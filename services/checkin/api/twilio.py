"""Twilio webhooks: SMS and keypad calls. Each answer is stored by ``MessageSid`` or by
``CallSid`` and step, so a retry records nothing twice and hears the same thing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from checkin import conversations, replies
from checkin.api.deps import PolicyDep, VaultDep
from shared.db import SessionDep, utcnow
from shared.errors import Forbidden, problem_responses
from shared.twilio import TwilioForm

router = APIRouter(prefix="/v1/twilio", tags=["twilio"])
Attempt = Annotated[int, Query(ge=1, le=20)]


def _sid(form: dict[str, str], name: str) -> str:
    """Twilio's sids are two letters and 32 hex digits; anything not plainly ASCII
    letters and digits is no sid (and never reaches a key or a column)."""
    sid = form.get(name, "")
    if not (0 < len(sid) <= 64 and sid.isascii() and sid.isalnum()):
        raise Forbidden(f"The webhook has no valid {name}.")
    return sid


def _phone_hash(form: dict[str, str], vault: VaultDep) -> str | None:
    # A voice reminder's "press 1 to check in now" arrives on our outbound call: the
    # person is the one called, not the caller.
    outbound = form.get("Direction", "").startswith("outbound")
    number = form.get("To" if outbound else "From", "")
    return vault.lookup_hash(number) if number.startswith("+") else None


async def _once(session: AsyncSession, key: str, answer: Callable[[], Awaitable[str]]) -> Response:
    """Answer once per key: a retry rolls back its own work and gets the first answer."""
    body = await answer()
    earlier = await replies.store_reply(session, key=key[:200], body=body)
    if earlier is not None:
        return Response(earlier.body, media_type=earlier.media_type)
    return Response(body, media_type="application/xml")


# A bad or missing signature, or no sid: 403; a body over the limit: 413.
SIGNED = problem_responses(403, 413)
STEP = problem_responses(403, 413, 422)  # and a step query it did not send


@router.post("/sms", responses=SIGNED)
async def sms(form: TwilioForm, session: SessionDep, vault: VaultDep,
              policy: PolicyDep) -> Response:
    sid, phone_hash = _sid(form, "MessageSid"), _phone_hash(form, vault)
    if phone_hash is None:
        raise Forbidden("The webhook has no sender.")
    return await _once(session, f"sms:{sid}", lambda: conversations.sms_reply(
        session, phone_hash=phone_hash, body=form.get("Body", ""), policy=policy, now=utcnow()))


def _step_key(request: Request, call_sid: str) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"voice:{call_sid}:{request.url.path.removeprefix('/v1/twilio/voice')}{query}"


@router.post("/voice", responses=SIGNED)
async def voice(request: Request, form: TwilioForm, session: SessionDep,
                vault: VaultDep) -> Response:
    sid = _sid(form, "CallSid")
    return await _once(session, _step_key(request, sid), lambda: conversations.voice_start(
        session, call_sid=sid, phone_hash=_phone_hash(form, vault)))


@router.post("/voice/prompt", responses=STEP)
async def voice_prompt(request: Request, form: TwilioForm, session: SessionDep,
                       step: Annotated[str, Query(max_length=16)], attempt: Attempt = 1,
                       repeat: Annotated[int, Query(ge=1, le=10)] = 1) -> Response:
    sid = _sid(form, "CallSid")
    return await _once(session, _step_key(request, sid), lambda: conversations.voice_timeout(
        session, call_sid=sid, step=step, attempt=attempt, repeat=repeat))


@router.post("/voice/language", responses=STEP)
async def voice_language(request: Request, form: TwilioForm, session: SessionDep,
                         attempt: Attempt = 1) -> Response:
    sid = _sid(form, "CallSid")
    return await _once(session, _step_key(request, sid), lambda: conversations.voice_language(
        session, call_sid=sid, digits=form.get("Digits", ""), attempt=attempt))


@router.post("/voice/reference", responses=STEP)
async def voice_reference(request: Request, form: TwilioForm, session: SessionDep,
                          attempt: Attempt = 1) -> Response:
    sid = _sid(form, "CallSid")
    return await _once(session, _step_key(request, sid), lambda: conversations.voice_reference(
        session, call_sid=sid, digits=form.get("Digits", ""), attempt=attempt))


@router.post("/voice/pin", responses=STEP)
async def voice_pin(request: Request, form: TwilioForm, session: SessionDep, vault: VaultDep,
                    policy: PolicyDep, attempt: Attempt = 1) -> Response:
    sid = _sid(form, "CallSid")
    return await _once(session, _step_key(request, sid), lambda: conversations.voice_pin(
        session, call_sid=sid, phone_hash=_phone_hash(form, vault),
        digits=form.get("Digits", ""), attempt=attempt, policy=policy, now=utcnow()))
