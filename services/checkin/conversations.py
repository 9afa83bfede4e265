"""What a person texting or phoning in is told, step by step, as TwiML.

Identity on the phone is the registered number and the PIN (or, from another phone,
the keypad case number and the PIN). Voice is keypad only: ``<Gather input="dtmf">``,
never speech, never a recording. Every text comes from ``checkin.texts`` in the
person's language.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, Hangup, VoiceResponse

from checkin import checkins, follow_ups, pins, replies, schedule
from checkin.cases import KEYPAD_REFERENCE_DIGITS, case_by_reference, cases_by_phone, get_case
from checkin.enums import CaseStatus, Channel, SmsCommand, VoiceStep
from checkin.models import CaseCopy, ExpectedCheckin, Pin
from checkin.pins import PinPolicy
from checkin.texts import Language, language, languages
from shared.params import ascii_digits

# Arabic-Indic and Persian (Extended Arabic-Indic) digits, as phones in those scripts send them.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
# Twilio's own opt-out and opt-in keywords (it also acts on them itself).
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO", "AIDE", "AYUDA", "مساعدة"})
STATUS = frozenset({"NEXT", "STATUS", "PROCHAIN", "SIGUIENTE", "التالي"})
# An optional word (CHECKIN, PIN, any script), then the digits, spaces allowed.
_PIN = re.compile(r"(?:([^\W\d_]+)[\s:#.,-]*)?([0-9][0-9\s.-]*)")

# What a replay hears once the first answer is no longer kept: nothing at all.
SILENT_SMS = str(MessagingResponse())
HANG_UP = str(VoiceResponse().append(Hangup()))

PIN_DIGITS = 6
GATHER_TIMEOUT = 8  # seconds of silence before Twilio moves on
MAX_REPEATS = 2  # re-prompts after a timeout, then a goodbye
MAX_REFERENCE_TRIES = 3


def parse_sms(body: str) -> tuple[SmsCommand, str | None]:
    """``(command, pin)``: a pin with ``SmsCommand.pin``, and with ``SmsCommand.status``
    when one follows the word (``NEXT 123456``)."""
    text = unicodedata.normalize("NFKC", body).translate(_DIGITS).strip()
    word = text.upper().strip(" .!?")
    word = "ARRET" if word == "ARRÊT" else word
    if word in OPT_OUT:
        return SmsCommand.stop, None
    if word in OPT_IN:
        return SmsCommand.start, None
    if word in HELP:
        return SmsCommand.help, None
    if word in STATUS:
        return SmsCommand.status, None
    match = _PIN.fullmatch(text)
    if match:
        digits = re.sub(r"[^0-9]", "", match.group(2))
        if len(digits) == PIN_DIGITS:
            asked = (match.group(1) or "").upper() in STATUS
            return (SmsCommand.status if asked else SmsCommand.pin), digits
    return SmsCommand.unknown, None


def _local(case: CaseCopy, moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(case.timezone))


def _window_text(case: CaseCopy, lang: Language, upcoming: ExpectedCheckin | None) -> str:
    if upcoming is None:
        return lang.say("next_none")
    return lang.window(_local(case, upcoming.opens_at), _local(case, upcoming.closes_at))


async def _next_text(session: AsyncSession, case: CaseCopy, lang: Language, now: datetime,
                     *, include_open: bool = False) -> str:
    upcoming = await schedule.next_expected(session, case_id=case.case_id, now=now,
                                           include_open=include_open)
    return _window_text(case, lang, upcoming)


async def _checked_in(session: AsyncSession, case: CaseCopy, lang: Language, channel: Channel,
                      now: datetime) -> str:
    """Record the check-in; the key of the text to answer with and its values."""
    recorded = await checkins.record_checkin(session, case=case, channel=channel, now=now)
    if recorded.expected is not None:
        key = recorded.checkin.timing  # on_time or late
    else:
        key = "already" if recorded.already else "nothing_due"
    return lang.say(f"{'sms' if channel == Channel.sms else 'voice'}_{key}",
                    next=_window_text(case, lang, recorded.next))


# --- SMS ----------------------------------------------------------------------------


def _message(text: str | None) -> str:
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)


async def sms_reply(session: AsyncSession, *, phone_hash: str, body: str, policy: PinPolicy,
                    now: datetime) -> str:
    """Handle one inbound SMS and return the TwiML answer. Until a PIN is verified the
    answer never depends on the case's status, windows or check-ins: a sender id can be
    spoofed (see the README, "What a spoofed number can learn")."""
    command, pin = parse_sms(body)
    if pin is not None:
        # The common message: one read finds the cases on the number and their PINs.
        candidates = await pins.pin_candidates(session, phone_hash=phone_hash)
        if candidates:
            return _message(await _pin_reply(session, candidates, pin, command, policy, now))
    cases = await cases_by_phone(session, phone_hash=phone_hash)
    if command in (SmsCommand.stop, SmsCommand.start):
        # Twilio answers STOP and START itself; we only record them.
        await follow_ups.record_opt_out(session, phone_hash=phone_hash, cases=cases,
                                     opted_out=command == SmsCommand.stop)
        return _message(None)
    if not cases:
        return _message(language(None).say("sms_unknown"))
    lang = language(_first(cases).language)
    if command == SmsCommand.help:
        return _message(lang.say("sms_help"))
    if command == SmsCommand.status and pin is None:
        return _message(lang.say("sms_next_how"))
    if pin is None:
        return _message(lang.say("sms_not_understood"))
    return _message(lang.say("sms_no_pin"))  # whatever the case's status


def _first(cases: Sequence[CaseCopy]) -> CaseCopy:
    """The case whose language answers before a PIN says which case it is: the first by
    id, whatever the statuses (preferring an active one would tell them apart)."""
    return min(cases, key=lambda c: c.case_id)


async def _pin_reply(session: AsyncSession, candidates: list[tuple[CaseCopy, Pin]], pin: str,
                     command: SmsCommand, policy: PinPolicy, now: datetime) -> str:
    result = await pins.check_pin(session, candidates=candidates, pin=pin, channel=Channel.sms,
                                     policy=policy, now=now)
    if result.case is not None:
        case, case_lang = result.case, language(result.case.language)
        if case.status != CaseStatus.active:
            return case_lang.say("sms_inactive")
        if command == SmsCommand.status:
            return await _status_text(session, case, case_lang, now)
        return await _checked_in(session, case, case_lang, Channel.sms, now)
    lang = language(candidates[0][0].language)
    if result.locked:
        return lang.say("sms_locked", minutes=int(policy.lock.total_seconds() // 60))
    return lang.say("sms_wrong_pin", tries=result.tries_left)


async def _status_text(session: AsyncSession, case: CaseCopy, lang: Language,
                       now: datetime) -> str:
    last = await checkins.last_checkin(session, case_id=case.case_id)
    return lang.say(
        "sms_status", next=await _next_text(session, case, lang, now, include_open=True),
        last=lang.when(_local(case, last.received_at)) if last else lang.say("last_none"))


# --- voice --------------------------------------------------------------------------

VOICE = "/v1/twilio/voice"
_VOICE_STEPS = frozenset(VoiceStep)


def _say(node: VoiceResponse | Gather, lang: Language, text: str) -> None:
    node.say(text, voice=lang.voice, language=lang.voice_language)


def _gather(response: VoiceResponse, *, action: str, digits: int, finish_on_key: str = "#",
            ) -> Gather:
    return response.gather(input="dtmf", num_digits=digits, action=action, method="POST",
                           timeout=GATHER_TIMEOUT, finish_on_key=finish_on_key,
                           action_on_empty_result=False)


def _goodbye(lang: Language, text: str) -> str:
    response = VoiceResponse()
    _say(response, lang, text)
    response.hangup()
    return str(response)


def prompt(step: VoiceStep, lang: Language | None, *, attempt: int = 1, repeat: int = 0,
           preface: str | None = None) -> str:
    """Ask for the step's keys; silence leads to ``/prompt``, which asks again."""
    response = VoiceResponse()
    if step == VoiceStep.language:
        # The attempt keeps each menu's action distinct: a retry is recognised by CallSid
        # and URL, so a second choice posted to the same URL would replay the first answer.
        gather = _gather(response, action=f"{VOICE}/language?attempt={attempt}", digits=1,
                         finish_on_key="")
        for digit, choice in enumerate(languages().values(), start=1):
            _say(gather, choice, choice.say("voice_choose_language", digit=digit))
    else:
        assert lang is not None
        if step == VoiceStep.reference:
            gather = _gather(response, action=f"{VOICE}/reference?attempt={attempt}",
                             digits=KEYPAD_REFERENCE_DIGITS)
            texts = [preface, lang.say("voice_enter_reference")]
        else:
            gather = _gather(response, action=f"{VOICE}/pin?attempt={attempt}", digits=PIN_DIGITS)
            texts = [preface, lang.say("voice_enter_pin")]
        for text in texts:
            if text:
                _say(gather, lang, text)
    response.redirect(f"{VOICE}/prompt?step={step}&attempt={attempt}&repeat={repeat + 1}",
                      method="POST")
    return str(response)


async def voice_start(session: AsyncSession, *, call_sid: str, phone_hash: str | None) -> str:
    """A call arrives: a registered caller is asked for the PIN in their language,
    whatever the case's status (told only after the PIN); an unknown one chooses a
    language first."""
    call = await replies.voice_call(session, call_sid=call_sid)
    cases = await cases_by_phone(session, phone_hash=phone_hash) if phone_hash else []
    if not cases:
        return prompt(VoiceStep.language, None)
    call.language = _first(cases).language
    return prompt(VoiceStep.pin, language(call.language))


async def voice_timeout(session: AsyncSession, *, call_sid: str, step: str, attempt: int,
                        repeat: int) -> str:
    """No keys were pressed: ask again, twice, then say goodbye and how to try again."""
    call = await replies.voice_call(session, call_sid=call_sid)
    lang = language(call.language)
    if repeat > MAX_REPEATS:
        return _goodbye(lang, lang.say("voice_goodbye_timeout"))
    # Only our own redirects name a step: anything else starts again at the menu.
    chosen = VoiceStep(step) if step in _VOICE_STEPS else VoiceStep.language
    return prompt(chosen, None if chosen == VoiceStep.language else lang, attempt=attempt, repeat=repeat,
                  preface=lang.say("voice_no_input"))


async def voice_language(session: AsyncSession, *, call_sid: str, digits: str,
                         attempt: int = 1) -> str:
    call = await replies.voice_call(session, call_sid=call_sid)
    choices = list(languages())
    # Keys come from a keypad, but the field is whatever the request says: anything but
    # one ASCII digit on the menu is a key not on the menu.
    if not (ascii_digits(digits, max_length=1) and 1 <= int(digits) <= len(choices)):
        if attempt >= MAX_REFERENCE_TRIES:  # as for the case number: then a goodbye
            return _goodbye(language(None), language(None).say("voice_goodbye_try_again"))
        return prompt(VoiceStep.language, None, attempt=attempt + 1)
    call.language = choices[int(digits) - 1]
    return prompt(VoiceStep.reference, language(call.language))


async def voice_reference(session: AsyncSession, *, call_sid: str, digits: str,
                          attempt: int) -> str:
    call = await replies.voice_call(session, call_sid=call_sid)
    lang = language(call.language)
    case = (await case_by_reference(session, reference=digits)
            if ascii_digits(digits, max_length=KEYPAD_REFERENCE_DIGITS) else None)
    if case is None:
        if attempt >= MAX_REFERENCE_TRIES:
            return _goodbye(lang, lang.say("voice_reference_unknown") + " "
                            + lang.say("voice_goodbye_try_again"))
        return prompt(VoiceStep.reference, lang, attempt=attempt + 1,
                      preface=lang.say("voice_reference_unknown"))
    call.case_id = case.case_id  # its status is told only after the PIN
    return prompt(VoiceStep.pin, lang)


async def voice_pin(session: AsyncSession, *, call_sid: str, phone_hash: str | None,
                    digits: str, attempt: int, policy: PinPolicy, now: datetime) -> str:
    call = await replies.voice_call(session, call_sid=call_sid)
    if call.case_id is not None:
        found = await get_case(session, case_id=call.case_id, for_update=True, missing_ok=True)
        cases = [found] if found else []
    elif phone_hash:
        cases = await cases_by_phone(session, phone_hash=phone_hash)
    else:
        cases = []
    lang = language(call.language or (_first(cases).language if cases else None))
    if not cases:  # no step before this one found a case: start again
        return _goodbye(lang, lang.say("voice_goodbye_try_again"))
    # Anything but six ASCII digits is a wrong PIN like any other: the empty PIN never matches.
    pin = digits if ascii_digits(digits, max_length=PIN_DIGITS) else ""
    # A case number typed from a phone that is not the case's: its own route (pins.check_pin).
    route = None
    if call.case_id is not None and cases[0].phone_hash != phone_hash:
        route = phone_hash or "withheld"
    result = await pins.check_pin(
        session, candidates=await pins.pins_for(session, cases=cases), pin=pin,
        channel=Channel.voice, policy=policy, now=now, route=route)
    if result.case is not None:
        if result.case.status != CaseStatus.active:
            return _goodbye(lang, lang.say("voice_inactive"))
        return _goodbye(lang, await _checked_in(session, result.case, lang, Channel.voice, now))
    if result.no_pin:
        return _goodbye(lang, lang.say("voice_no_pin"))
    if result.locked:
        return _goodbye(lang, lang.say("voice_locked",
                                       minutes=int(policy.lock.total_seconds() // 60)))
    return prompt(VoiceStep.pin, lang, attempt=attempt + 1,
                  preface=lang.say("voice_wrong_pin", tries=result.tries_left))
