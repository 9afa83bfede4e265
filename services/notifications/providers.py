"""Where reminders go: ``log`` (development: prints with the number masked and keeps the
text) or ``twilio`` (the real twilio client, on its own aiohttp HTTP layer, extended at
the client's extension point, so ``TWILIO_API_BASE`` can name a compatible server).

A provider raises ``TransientError`` for what may work later (network, 5xx, 429) and
``PermanentError`` for what never will (an invalid or unreachable number, an opt-out
at the carrier); the dispatcher decides what to do with each.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from notifications.enums import Channel
from notifications.enums import Provider as ProviderName
from notifications.models import LoggedMessage
from shared.crypto import mask_phone

log = logging.getLogger("waymark.notifications.provider")

TWILIO_API = "https://api.twilio.com"
# Twilio error codes that mean this number will not take our messages.
NUMBER_ERRORS = frozenset({
    21211,  # invalid 'To' number
    21214,  # 'To' number cannot be reached
    21217,  # phone number does not appear to be valid
    21401,  # invalid phone number
    21407,  # this number is not supported
    21408,  # no permission to send to this region
    21612,  # cannot route to this number
    21614,  # not a mobile number
    30003, 30005, 30006,  # unreachable, unknown, landline or unreachable carrier
})
OPTED_OUT = 21610  # the number replied STOP to this sender at the carrier


@dataclass(frozen=True, slots=True)
class Outgoing:
    reminder_id: uuid.UUID
    channel: Channel
    to: str  # E.164; only ever in memory
    body: str
    voice: str = "Polly.Amy"
    voice_language: str = "en-GB"
    press_one: str | None = None  # voice: "press 1 to check in now", in the person's language


class TransientError(Exception):
    """Worth trying again later."""


class PermanentError(Exception):
    """Never worth trying again. ``number`` says the number itself is the problem."""

    def __init__(self, message: str, *, code: int | None = None, number: bool = False,
                 opted_out: bool = False) -> None:
        super().__init__(message)
        self.code, self.number, self.opted_out = code, number, opted_out


class Provider(Protocol):
    name: ProviderName

    async def send(self, message: Outgoing, *, status_callback: str) -> str:
        """Hand the message over; returns the provider's id for it."""

    async def find(self, message: Outgoing, *, since: datetime) -> str | None:
        """The id of this message if it was handed over after ``since`` (used after a
        crash between the hand-over and our record of it)."""

    async def aclose(self) -> None: ...


def voice_twiml(message: Outgoing, *, checkin_voice_url: str | None) -> str:
    """TwiML for a voice reminder: the text spoken, and, if offered, "press 1" handing
    over to the checkin telephone flow. Keypad only, nothing recorded."""
    response = VoiceResponse()
    if message.press_one and checkin_voice_url:
        gather = response.gather(input="dtmf", num_digits=1, timeout=6,
                                 action=checkin_voice_url, method="POST")
        gather.say(message.body, voice=message.voice, language=message.voice_language)
        gather.say(message.press_one, voice=message.voice, language=message.voice_language)
    else:
        response.say(message.body, voice=message.voice, language=message.voice_language)
    return str(response)


class LogProvider:
    """Sends nothing: logs the text with the number masked, and keeps it."""

    name = ProviderName.log

    def __init__(self, sessionmaker: Callable[[], async_sessionmaker[AsyncSession]]) -> None:
        self.sessionmaker = sessionmaker  # a getter: the app's current one

    async def send(self, message: Outgoing, *, status_callback: str) -> str:
        sid = f"LOG{uuid.uuid4().hex}"
        async with self.sessionmaker()() as session, session.begin():
            session.add(LoggedMessage(sid=sid, reminder_id=message.reminder_id,
                                      channel=message.channel, body=message.body))
        log.info("would send %s to %s: %s", message.channel, mask_phone(message.to),
                 message.body)
        return sid

    async def find(self, message: Outgoing, *, since: datetime) -> str | None:
        async with self.sessionmaker()() as session:
            return await session.scalar(
                sa.select(LoggedMessage.sid).where(LoggedMessage.reminder_id == message.reminder_id)
                .limit(1))

    async def aclose(self) -> None:
        return None


class TwilioHttp(AsyncTwilioHttpClient):
    """The twilio client's own async HTTP layer (aiohttp, one pooled session), extended
    at its documented point: ``api_base`` replaces ``https://api.twilio.com`` (a
    Twilio-compatible server in tests). Requests are not logged: their query strings
    can carry phone numbers."""

    def __init__(self, *, api_base: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout, logger=log)
        self.api_base = api_base.rstrip("/") if api_base else None

    async def request(self, method: str, url: str, params: dict | None = None,
                      data: dict | None = None, headers: dict | None = None,
                      auth: tuple[str, str] | None = None,
                      timeout: float | None = None,  # noqa: ASYNC109 (the twilio interface)
                      allow_redirects: bool = False) -> TwilioResponse:
        if self.api_base and url.startswith(TWILIO_API):
            url = self.api_base + url[len(TWILIO_API):]
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = aiohttp.encode_basic_auth(*auth)
        # Repeated keys (StatusCallbackEvent) as a list of pairs: a form aiohttp encodes.
        form = [(key, item) for key, value in (data or {}).items()
                for item in (value if isinstance(value, list) else [value])]
        async with self.session.request(
                method.upper(), url, params=params, data=form or None, headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
                allow_redirects=allow_redirects) as response:
            return TwilioResponse(response.status, await response.text(), response.headers)


class TwilioProvider:
    """``messages.create`` with a status callback; ``calls.create`` with TwiML."""

    name = ProviderName.twilio

    def __init__(self, *, account_sid: str, auth_token: str, from_number: str,
                 api_base: str | None, timeout: float, checkin_voice_url: str | None) -> None:
        self.http = TwilioHttp(api_base=api_base, timeout=timeout)
        self.client = Client(account_sid, auth_token, http_client=self.http)
        # The client imports its resources on first use; doing it now keeps that delay
        # out of the first send (where it would bunch paced sends together).
        _ = self.client.messages, self.client.calls
        self.from_number = from_number
        self.checkin_voice_url = checkin_voice_url

    async def send(self, message: Outgoing, *, status_callback: str) -> str:
        try:
            if message.channel == Channel.voice:
                call = await self.client.calls.create_async(
                    to=message.to, from_=self.from_number, status_callback=status_callback,
                    status_callback_event=["initiated", "ringing", "answered", "completed"],
                    twiml=voice_twiml(message, checkin_voice_url=self.checkin_voice_url))
                return call.sid
            sent = await self.client.messages.create_async(
                to=message.to, from_=self.from_number, body=message.body,
                status_callback=status_callback)
            return sent.sid
        except TwilioRestException as exc:
            raise classify(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(type(exc).__name__) from None

    async def find(self, message: Outgoing, *, since: datetime) -> str | None:
        try:
            if message.channel == Channel.voice:
                calls = await self.client.calls.list_async(
                    to=message.to, start_time_after=since, limit=20)
                return calls[0].sid if calls else None
            sent = await self.client.messages.list_async(
                to=message.to, date_sent_after=since, limit=50)
        except TwilioRestException as exc:
            raise classify(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(type(exc).__name__) from None
        return next((m.sid for m in sent if m.body == message.body), None)

    async def aclose(self) -> None:
        await self.http.close()


def classify(exc: TwilioRestException) -> TransientError | PermanentError:
    """What a Twilio API error means for the reminder."""
    if exc.status == 429 or exc.status >= 500:
        return TransientError(f"HTTP {exc.status}")
    code = int(exc.code) if exc.code else None
    if code == OPTED_OUT:
        return PermanentError("the number opted out at the carrier", code=code, opted_out=True)
    if code in NUMBER_ERRORS:
        return PermanentError(f"the number cannot receive it (Twilio {code})", code=code,
                              number=True)
    return PermanentError(f"rejected by Twilio (HTTP {exc.status}, code {code})", code=code)
