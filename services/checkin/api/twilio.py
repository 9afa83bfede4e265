"""Twilio webhooks: SMS and keypad calls. Each answer is stored by ``MessageSid`` or by
``CallSid`` and step, so a retry records nothing twice and hears the same thing.

Twilio signs the URL and the sorted ``key + value`` pairs run together, so text can move
between neighbouring fields without breaking the signature (``MessageSid = <sid> +
"NumMedia0"`` with ``NumMedia`` dropped signs the same). Every sid must therefore have
exactly Twilio's shape and ``AccountSid`` must be our account, or the request is refused
(403) before anything is looked up: a captured request can only ever be replayed under
its own key."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from checkin import conversations, replies
from checkin.api.deps import PolicyDep, VaultDep
from shared.db import SessionDep, utcnow
from shared.errors import Forbidden, problem_responses
from shared.twilio import TwilioForm

router = APIRouter(prefix="/v1/twilio", tags=["twilio"])
Attempt = Annotated[int, Query(ge=1, le=20)]


MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")
CALL_SID = re.compile(r"CA[0-9a-f]{32}")


def _check_account(request: Request, form: dict[str, str]) -> None:
    if form.get("AccountSid") != request.app.state.settings.twilio_account_sid:
        raise Forbidden("The webhook is not for this account.")


async def _sms_form(request: Request, form: TwilioForm) -> dict[str, str]:
    """A signed SMS webhook whose ``MessageSid`` (and ``SmsSid``, when sent) has Twilio's
    exact shape, for our account; 403 otherwise."""
    _check_account(request, form)
    if not MESSAGE_SID.fullmatch(form.get("MessageSid", "")) or not MESSAGE_SID.fullmatch(
            form.get("SmsSid", form.get("MessageSid", ""))):
        raise Forbidden("The webhook has no valid MessageSid.")
    return form


async def _call_form(request: Request, form: TwilioForm) -> dict[str, str]:
    """A signed voice webhook whose ``CallSid`` has Twilio's exact shape, for our
    account; 403 otherwise."""
    _check_account(request, form)
    if not CALL_SID.fullmatch(form.get("CallSid", "")):
        raise Forbidden("The webhook has no valid CallSid.")
    return form


SmsForm = Annotated[dict[str, str], Depends(_sms_form)]
CallForm = Annotated[dict[str, str], Depends(_call_form)]


def _phone_hash(form: dict[str, str], vault: VaultDep) -> str | None:
    # A voice reminder's "press 1 to check in now" arrives on our outbound call: the
    # person is the one called, not the caller.
    outbound = form.get("Direction", "").startswith("outbound")
    number = form.get("To" if outbound else "From", "")
    return vault.lookup_hash(number) if number.startswith("+") else None


async def _once(session: AsyncSession, key: str, answer: Callable[[], Awaitable[str]], *,
                neutral: str = conversations.HANG_UP) -> Response:
    """Answer once per key: a retry rolls back its own work and gets the first answer, or
    ``neutral`` (which says nothing) once that answer is no longer kept."""
    body = await answer()
    earlier = await replies.store_reply(session, key=key[:200], body=body)
    if earlier is not None:
        return Response(neutral if earlier.body is None else earlier.body,
                        media_type=earlier.media_type)
    return Response(body, media_type="application/xml")


# A bad or missing signature, or no sid: 403; a body over the limit: 413.
SIGNED = problem_responses(403, 413)
STEP = problem_responses(403, 413, 422)  # and a step query it did not send


@router.post("/sms", responses=SIGNED)
async def sms(form: SmsForm, session: SessionDep, vault: VaultDep,
              policy: PolicyDep) -> Response:
    sid, phone_hash = form["MessageSid"], _phone_hash(form, vault)
    if phone_hash is None:
        raise Forbidden("The webhook has no sender.")
    return await _once(session, f"sms:{sid}", lambda: conversations.sms_reply(
        session, phone_hash=phone_hash, body=form.get("Body", ""), policy=policy, now=utcnow()),
        neutral=conversations.SILENT_SMS)


def _step_key(request: Request, call_sid: str) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"voice:{call_sid}:{request.url.path.removeprefix('/v1/twilio/voice')}{query}"


@router.post("/voice", responses=SIGNED)
async def voice(request: Request, form: CallForm, session: SessionDep,
                vault: VaultDep) -> Response:
    sid = form["CallSid"]
    return await _once(session, _step_key(request, sid), lambda: conversations.voice_start(
        session, call_sid=sid, phone_hash=_phone_hash(form, vault)))


@router.post("/voice/prompt", responses=STEP)
async def voice_prompt(request: Request, form: CallForm, session: SessionDep,
                       step: Annotated[str, Query(max_length=16)], attempt: Attempt = 1,
                       repeat: Annotated[int, Query(ge=1, le=10)] = 1) -> Response:
    sid = form["CallSid"]
    return await _once(session, _step_key(request, sid), lambda: conversations.voice_timeout(
        session, call_sid=sid, step=step, attempt=attempt, repeat=repeat))


@router.post("/voice/language", responses=STEP)
async def voice_language(request: Request, form: CallForm, session: SessionDep,
                         attempt: Attempt = 1) -> Response:
    sid = form["CallSid"]
    return await _once(session, _step_key(request, sid), lambda: conversations.voice_language(
        session, call_sid=sid, digits=form.get("Digits", ""), attempt=attempt))


@router.post("/voice/reference", responses=STEP)
async def voice_reference(request: Request, form: CallForm, session: SessionDep,
                          attempt: Attempt = 1) -> Response:
    sid = form["CallSid"]
    return await _once(session, _step_key(request, sid), lambda: conversations.voice_reference(
        session, call_sid=sid, digits=form.get("Digits", ""), attempt=attempt))


@router.post("/voice/pin", responses=STEP)
async def voice_pin(request: Request, form: CallForm, session: SessionDep, vault: VaultDep,
                    policy: PolicyDep, attempt: Attempt = 1) -> Response:
    sid = form["CallSid"]
    return await _once(session, _step_key(request, sid), lambda: conversations.voice_pin(
        session, call_sid=sid, phone_hash=_phone_hash(form, vault),
        digits=form.get("Digits", ""), attempt=attempt, policy=policy, now=utcnow()))
