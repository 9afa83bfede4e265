"""Keypad telephone check-in: a registered caller hears their language and types the PIN;
anyone else picks a language, types the case number, then the PIN. Keypad only: every
answer is checked for ``<Gather input="dtmf">``, no speech input and no recording."""

from __future__ import annotations

import re
import tomllib
import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import checkin.texts
import httpx
import pytest
from checkin.enums import Channel, FollowUpKind, Outcome, Timing
from checkin.models import CaseCopy, PinFailure, Reply, VoiceCall

from tests.checkin.helpers import (
    BASE_URL,
    FIRST_OPENS,
    PHONE,
    add_case,
    apply,
    case_change,
    checkins,
    events,
    expected,
    follow_ups,
    issue_pin,
    rows,
    signature,
    twilio_post,
)

VOICE = "/v1/twilio/voice"
STRANGER = "+447700900999"
# What each language file says a caller hears it in (the voice Twilio speaks it with).
TEXTS = {path.stem: tomllib.loads(path.read_text(encoding="utf-8"))
         for path in Path(checkin.texts.__file__).parent.glob("*.toml")}
# The only verbs a keypad call may use: no <Record>, <Dial>, <Pay>, <Connect> ...
VERBS = {"Response", "Gather", "Say", "Redirect", "Hangup"}


def twiml(response: httpx.Response) -> ET.Element:
    """The TwiML a caller is answered with, checked to be keypad only."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    for node in root.iter():
        assert node.tag in VERBS, f"<{node.tag}> in a keypad call"
        for name, value in node.attrib.items():
            assert "record" not in name.lower() and "transcri" not in name.lower(), name
            assert "speech" not in value.lower(), (name, value)
    for gather in root.iter("Gather"):
        assert gather.get("input") == "dtmf"
    return root


def said(root: ET.Element) -> str:
    return " ".join(say.text or "" for say in root.iter("Say"))


def voices(root: ET.Element) -> set[tuple[str | None, str | None]]:
    return {(say.get("voice"), say.get("language")) for say in root.iter("Say")}


def voice_of(code: str) -> tuple[str, str]:
    return TEXTS[code]["voice"], TEXTS[code]["voice_language"]


def gather(root: ET.Element) -> ET.Element:
    [found] = root.findall("Gather")
    return found


def hangs_up(root: ET.Element) -> bool:
    return root.findall("Gather") == [] and root[-1].tag == "Hangup"


class Call:
    """One phone call, as Twilio drives it: the same CallSid on every request."""

    def __init__(self, client: httpx.AsyncClient, *, phone: str = PHONE, sid: str | None = None):
        self.client, self.phone = client, phone
        self.sid = sid or f"CA{uuid.uuid4().hex}"

    def params(self, digits: str | None = None) -> dict[str, str]:
        params = {"CallSid": self.sid, "AccountSid": "AC" + "0" * 32, "From": self.phone,
                  "To": "+447700900000", "CallStatus": "in-progress", "Direction": "inbound"}
        if digits is not None:
            params["Digits"] = digits
        return params

    async def send(self, path: str, digits: str | None = None) -> httpx.Response:
        response = await twilio_post(self.client, path, self.params(digits))
        twiml(response)
        return response

    async def post(self, path: str, digits: str | None = None) -> ET.Element:
        return twiml(await self.send(path, digits))

    async def start(self) -> ET.Element:
        return await self.post(VOICE)

    async def press(self, root: ET.Element, digits: str) -> ET.Element:
        """Type keys at the Gather: Twilio posts them to its action."""
        return await self.post(gather(root).get("action"), digits)

    async def silence(self, root: ET.Element) -> ET.Element:
        """Type nothing: the Gather times out and Twilio follows the Redirect after it."""
        assert [node.tag for node in root] == ["Gather", "Redirect"]
        redirect = root.find("Redirect")
        assert redirect.get("method") == "POST"
        return await self.post(redirect.text)


def wrong(pin: str) -> str:
    return "000000" if pin != "000000" else "999999"


async def keypad_reference(app, case_id: uuid.UUID) -> str:
    [copy] = await rows(app, CaseCopy, CaseCopy.case_id == case_id)
    return copy.keypad_reference


# --- a registered caller -------------------------------------------------------------


async def test_a_registered_caller_is_asked_for_the_pin_in_arabic(checkin, case):
    root = await Call(checkin).start()
    ask = gather(root)
    assert ask.get("numDigits") == "6"
    assert ask.get("action") == f"{VOICE}/pin?attempt=1"
    assert ask.get("method") == "POST"
    [say] = ask.findall("Say")
    assert say.text == "أهلاً بك في تسجيل الحضور. اكتب رمزك المكوّن من 6 أرقام."
    assert (say.get("voice"), say.get("language")) == voice_of("ar") == ("Polly.Zeina", "arb")
    assert [node.tag for node in root] == ["Gather", "Redirect"]  # silence is not the end


@pytest.mark.parametrize(("language", "welcome"), [
    ("en", "Welcome to check-in. Please type your 6-digit PIN."),
    ("fr", "Bienvenue au pointage. Tapez votre code à 6 chiffres."),
    ("es", "Bienvenido a la presentación. Marque su PIN de 6 cifras."),
    ("ar", "أهلاً بك في تسجيل الحضور. اكتب رمزك المكوّن من 6 أرقام."),
])
async def test_each_caller_hears_their_own_language_and_voice(checkin_app, checkin, clock,
                                                              language, welcome):
    await add_case(checkin_app, language=language)
    root = await Call(checkin).start()
    assert said(root) == welcome
    assert voices(root) == {voice_of(language)}


async def test_the_right_pin_in_the_window_is_recorded_on_time(checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    call = Call(checkin)
    root = await call.press(await call.start(), pin)
    assert said(root).startswith("شكراً، تم تسجيل حضورك")  # thank you, it is recorded
    assert "14 ديسمبر" in said(root)  # and when the next one is: 14 December
    assert voices(root) == {voice_of("ar")}
    assert hangs_up(root)
    [recorded] = await checkins(checkin_app, case_id)
    assert (recorded.channel, recorded.timing) == (Channel.voice, Timing.on_time)
    assert (await expected(checkin_app, case_id))[0].status == Outcome.on_time


async def test_a_late_call_in_the_grace_period_is_thanked_and_recorded_late(
        checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS + timedelta(hours=20))  # the window closed at 19:00
    call = Call(checkin)
    root = await call.press(await call.start(), pin)
    assert said(root).startswith("شكراً، تم تسجيل حضورك")
    assert "وهو محسوب" in said(root)  # it still counts
    assert hangs_up(root)
    [recorded] = await checkins(checkin_app, case_id)
    assert (recorded.channel, recorded.timing) == (Channel.voice, Timing.late)
    assert (await expected(checkin_app, case_id))[0].status == Outcome.late


async def test_a_call_outside_any_window_is_kept_and_says_when_the_next_one_is(
        checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, language="en")
    pin = await issue_pin(checkin, case_id)
    call = Call(checkin)  # Tuesday 1 December: nothing is open
    root = await call.press(await call.start(), pin)
    assert said(root) == ("Thank you for calling. No check-in is due right now. Your next "
                          "check-in is Monday 7 December, 09:00 to 19:00. Goodbye.")
    assert hangs_up(root)
    [contact] = await checkins(checkin_app, case_id)
    assert (contact.channel, contact.timing) == (Channel.voice, Timing.unscheduled)
    assert contact.expected_checkin_id is None


async def test_a_wrong_pin_says_how_many_tries_are_left_and_asks_again(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, language="en")
    pin = await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS)
    call = Call(checkin)
    root = await call.press(await call.start(), wrong(pin))
    assert said(root) == ("That PIN is not right. You can try 4 more times. "
                          "Welcome to check-in. Please type your 6-digit PIN.")
    assert gather(root).get("action") == f"{VOICE}/pin?attempt=2"
    assert await checkins(checkin_app, case_id) == []
    root = await call.press(root, wrong(pin))
    assert "You can try 3 more times." in said(root)
    assert gather(root).get("action") == f"{VOICE}/pin?attempt=3"
    root = await call.press(root, pin)
    assert said(root).startswith("Thank you, your check-in is recorded.")
    assert [c.timing for c in await checkins(checkin_app, case_id)] == [Timing.on_time]


async def test_five_wrong_pins_lock_the_phone_until_a_new_pin(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, language="en")
    pin = await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS)
    call = Call(checkin)
    root = await call.start()
    for tries_left in ("4 more times", "3 more times", "2 more times", "1 more time"):
        root = await call.press(root, wrong(pin))
        assert f"You can try {tries_left}." in said(root)
    root = await call.press(root, wrong(pin))
    assert said(root) == (
        "After several wrong PINs, check-in by phone is paused for 15 minutes. Your caseworker "
        "can give you a new PIN, or you can check in in person. Goodbye.")
    assert hangs_up(root)
    [follow_up] = await follow_ups(checkin_app, case_id)
    assert (follow_up.kind, follow_up.assigned_to) == (FollowUpKind.pin_locked, "alice")

    # Even the right PIN is refused while locked, from a new call.
    again = Call(checkin)
    root = await again.press(await again.start(), pin)
    assert said(root).startswith("After several wrong PINs")
    assert hangs_up(root)
    assert await checkins(checkin_app, case_id) == []

    # A new PIN from the caseworker lifts the lock.
    new = await issue_pin(checkin, case_id)
    lifted = Call(checkin)
    root = await lifted.press(await lifted.start(), new)
    assert said(root).startswith("Thank you, your check-in is recorded.")
    assert [c.channel for c in await checkins(checkin_app, case_id)] == [Channel.voice]


async def test_a_caller_without_a_pin_is_told_to_ask_the_caseworker(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, language="es")
    call = Call(checkin)
    root = await call.press(await call.start(), "482915")
    assert said(root) == "Todavía no tiene PIN. Pídale uno a su trabajador social. Adiós."
    assert hangs_up(root)
    assert await checkins(checkin_app, case_id) == []


# --- silence -------------------------------------------------------------------------


async def test_silence_asks_again_twice_then_says_goodbye_and_how_to_try_again(
        checkin_app, checkin, case):
    case_id, _ = case
    call = Call(checkin)
    root = await call.start()
    for _ in range(2):
        root = await call.silence(root)
        assert said(root) == ("لم نسمع أي زر. "  # we did not hear any keys
                              "أهلاً بك في تسجيل الحضور. اكتب رمزك المكوّن من 6 أرقام.")
        assert voices(root) == {voice_of("ar")}
        assert gather(root).get("action") == f"{VOICE}/pin?attempt=1"
    root = await call.silence(root)
    assert said(root) == TEXTS["ar"]["voice_goodbye_timeout"]
    assert "يرجى الاتصال مرة أخرى، أو إرسال رمزك برسالة" in said(root)  # call again, or text
    assert hangs_up(root)
    assert await checkins(checkin_app, case_id) == []


async def test_the_english_goodbye_says_how_to_try_again(checkin_app, checkin, clock):
    await add_case(checkin_app, language="en")
    call = Call(checkin)
    root = await call.start()
    root = await call.silence(root)
    assert said(root).startswith("We did not hear any keys. Welcome to check-in.")
    root = await call.silence(await call.silence(root))
    assert said(root) == ("We did not receive any keys. Please call again, or text your PIN "
                          "to this number. Goodbye.")
    assert hangs_up(root)


async def test_a_pin_typed_after_a_reprompt_is_recorded(checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    call = Call(checkin)
    root = await call.silence(await call.start())
    root = await call.press(root, pin)
    assert said(root).startswith("شكراً، تم تسجيل حضورك")
    assert [c.timing for c in await checkins(checkin_app, case_id)] == [Timing.on_time]


async def test_silence_after_a_wrong_pin_keeps_the_count(checkin_app, checkin, case):
    _, pin = case
    call = Call(checkin)
    root = await call.press(await call.start(), wrong(pin))
    root = await call.silence(root)
    assert said(root).startswith("لم نسمع أي زر.")
    assert gather(root).get("action") == f"{VOICE}/pin?attempt=2"
    root = await call.press(root, wrong(pin))
    assert "3" in said(root)  # three tries left
    assert gather(root).get("action") == f"{VOICE}/pin?attempt=3"


# --- a caller from another phone -----------------------------------------------------


async def menu_digit(root: ET.Element, code: str) -> str:
    """The key the language menu says to press for ``code``."""
    [say] = [s for s in gather(root).findall("Say") if s.get("language") == voice_of(code)[1]]
    [digit] = re.findall(r"\d", say.text or "")
    return digit


@pytest.mark.parametrize("caller", [STRANGER, "anonymous", ""],
                         ids=["unregistered", "anonymous", "no-number"])
async def test_an_unknown_caller_chooses_a_language_each_in_its_own_voice(checkin, case, caller):
    root = await Call(checkin, phone=caller).start()
    menu = gather(root)
    assert menu.get("numDigits") == "1"
    assert menu.get("action").startswith(f"{VOICE}/language")
    says = menu.findall("Say")
    assert {(s.get("voice"), s.get("language")) for s in says} >= {
        voice_of(code) for code in ("en", "fr", "ar", "es")}
    assert len(says) == len({s.get("language") for s in says}) == len(TEXTS)
    digits = [re.findall(r"\d", s.text or "") for s in says]
    assert sorted(d for [d] in digits) == [str(n) for n in range(1, len(says) + 1)]
    assert "Pour le français, tapez" in said(root) and "For English, press" in said(root)
    assert "للعربية" in said(root) and "Para español" in said(root)


async def test_an_unknown_caller_checks_in_with_the_case_number_in_french(
        checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS + timedelta(hours=2))
    call = Call(checkin, phone=STRANGER)
    menu = await call.start()
    root = await call.press(menu, await menu_digit(menu, "fr"))
    assert said(root) == "Tapez votre numéro de dossier à 10 chiffres."
    assert voices(root) == {voice_of("fr")}
    assert gather(root).get("numDigits") == "10"
    assert gather(root).get("action") == f"{VOICE}/reference?attempt=1"

    root = await call.press(root, await keypad_reference(checkin_app, case_id))
    assert said(root) == "Bienvenue au pointage. Tapez votre code à 6 chiffres."
    assert voices(root) == {voice_of("fr")}
    assert gather(root).get("action") == f"{VOICE}/pin?attempt=1"

    root = await call.press(root, pin)
    assert said(root).startswith("Merci, votre pointage est enregistré.")
    assert "14 décembre" in said(root)
    assert hangs_up(root)
    [recorded] = await checkins(checkin_app, case_id)
    assert (recorded.channel, recorded.timing) == (Channel.voice, Timing.on_time)


async def test_an_unknown_case_number_is_asked_again_then_goodbye(checkin_app, checkin, case):
    case_id, _ = case
    call = Call(checkin, phone=STRANGER)
    menu = await call.start()
    root = await call.press(menu, await menu_digit(menu, "fr"))
    nowhere = "1111111111"  # keypad references end in their check digit 0 in these tests
    for attempt in (2, 3):
        root = await call.press(root, nowhere)
        assert said(root) == ("Nous n'avons pas trouvé ce numéro de dossier. "
                              "Tapez votre numéro de dossier à 10 chiffres.")
        assert gather(root).get("action") == f"{VOICE}/reference?attempt={attempt}"
    root = await call.press(root, nowhere)
    assert said(root).startswith("Nous n'avons pas trouvé ce numéro de dossier.")
    assert "Rappelez plus tard, ou envoyez votre code par SMS" in said(root)
    assert hangs_up(root)
    assert await checkins(checkin_app, case_id) == []


async def test_a_key_not_on_the_menu_plays_the_menu_again(checkin_app, checkin, case):
    call = Call(checkin, phone="anonymous")
    menu = await call.start()
    assert gather(menu).get("action") == f"{VOICE}/language?attempt=1"
    root = await call.press(menu, "9")
    assert gather(root).get("numDigits") == "1"
    assert gather(root).get("action") == f"{VOICE}/language?attempt=2"
    assert said(root) == said(menu)
    root = await call.press(root, await menu_digit(root, "es"))
    assert said(root) == "Marque su número de expediente de 10 cifras."


async def test_three_keys_not_on_the_menu_end_the_call_politely(checkin, case):
    call = Call(checkin, phone="anonymous")
    root = await call.start()
    for key in ("9", "0"):
        root = await call.press(root, key)
        assert gather(root).get("numDigits") == "1"
    root = await call.press(root, "8")
    assert "Please call again, or text your PIN" in said(root)
    assert hangs_up(root)


async def test_silence_at_the_menu_plays_it_again_then_says_goodbye(checkin, case):
    call = Call(checkin, phone="anonymous")
    menu = await call.start()
    root = menu
    for _ in range(2):
        root = await call.silence(root)
        assert gather(root).get("numDigits") == "1"
        assert "Pour le français, tapez" in said(root)
    root = await call.silence(root)
    assert "Please call again" in said(root)
    assert hangs_up(root)


async def test_silence_at_the_case_number_asks_again_in_the_chosen_language(checkin, case):
    call = Call(checkin, phone=STRANGER)
    menu = await call.start()
    root = await call.silence(await call.press(menu, await menu_digit(menu, "fr")))
    assert said(root) == ("Nous n'avons entendu aucune touche. "
                          "Tapez votre numéro de dossier à 10 chiffres.")
    assert gather(root).get("action") == f"{VOICE}/reference?attempt=1"


async def test_an_unknown_caller_with_a_wrong_pin_is_asked_again(checkin_app, checkin, case):
    case_id, pin = case
    call = Call(checkin, phone=STRANGER)
    menu = await call.start()
    root = await call.press(menu, await menu_digit(menu, "fr"))
    root = await call.press(root, await keypad_reference(checkin_app, case_id))
    root = await call.press(root, wrong(pin))
    assert said(root).startswith("Ce code n'est pas correct. Il vous reste 4 essais.")
    assert gather(root).get("action") == f"{VOICE}/pin?attempt=2"
    root = await call.press(root, pin)
    assert said(root).startswith("Merci de votre appel. Aucun pointage n'est prévu maintenant.")
    assert [c.channel for c in await checkins(checkin_app, case_id)] == [Channel.voice]


# --- retries -------------------------------------------------------------------------


async def test_a_retried_step_answers_the_same_and_records_once(checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    call = Call(checkin, sid="CA" + "a" * 32)
    first_start = await call.send(VOICE)
    assert (await call.send(VOICE)).text == first_start.text
    first = await call.send(f"{VOICE}/pin?attempt=1", pin)
    clock.shift(timedelta(minutes=3))
    again = await call.send(f"{VOICE}/pin?attempt=1", pin)
    assert again.text == first.text
    assert said(twiml(again)).startswith("شكراً، تم تسجيل حضورك")
    assert len(await checkins(checkin_app, case_id)) == 1
    assert len(await events(checkin_app, "checkin.recorded")) == 1


async def test_a_retried_wrong_pin_counts_once(checkin_app, checkin, case):
    case_id, pin = case
    call = Call(checkin, sid="CA" + "b" * 32)
    await call.start()
    answers = [(await call.send(f"{VOICE}/pin?attempt=1", wrong(pin))).text for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    assert "4" in said(ET.fromstring(answers[0]))
    assert len(await rows(checkin_app, PinFailure, PinFailure.case_id == case_id)) == 1
    root = await call.post(f"{VOICE}/pin?attempt=2", wrong(pin))
    assert "3" in said(root)


async def test_the_same_step_in_another_call_is_not_a_retry(checkin_app, checkin, case):
    case_id, pin = case
    for sid in ("CA" + "c" * 32, "CA" + "d" * 32):
        call = Call(checkin, sid=sid)
        await call.start()
        await call.send(f"{VOICE}/pin?attempt=1", wrong(pin))
    assert len(await rows(checkin_app, PinFailure, PinFailure.case_id == case_id)) == 2


# --- signatures ----------------------------------------------------------------------

STEPS = [VOICE, f"{VOICE}/pin?attempt=1", f"{VOICE}/language", f"{VOICE}/reference?attempt=1",
         f"{VOICE}/prompt?step=pin&attempt=1&repeat=1"]


@pytest.mark.parametrize("path", STEPS)
@pytest.mark.parametrize("headers", [
    {},
    {"X-Twilio-Signature": ""},
    {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
], ids=["missing", "empty", "garbage"])
async def test_an_unsigned_or_badly_signed_call_is_refused(checkin_app, checkin, case, clock,
                                                          path, headers):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    params = Call(checkin).params(pin)
    response = await checkin.post(path, data=params, headers=headers)
    assert response.status_code == 403
    assert await checkins(checkin_app, case_id) == []
    assert await rows(checkin_app, Reply) == []
    assert await rows(checkin_app, VoiceCall) == []


async def test_a_signature_by_another_token_or_over_other_values_is_refused(
        checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    call = Call(checkin)
    path = f"{VOICE}/pin?attempt=1"
    other_token = await twilio_post(checkin, path, call.params(pin), token="someone-elses-token")
    # Signed over the path without its query, or over different keys than were sent.
    no_query = {"X-Twilio-Signature": signature(BASE_URL + f"{VOICE}/pin", call.params(pin))}
    other_digits = {"X-Twilio-Signature": signature(BASE_URL + path, call.params("123456"))}
    responses = [other_token,
                 await checkin.post(path, data=call.params(pin), headers=no_query),
                 await checkin.post(path, data=call.params(pin), headers=other_digits)]
    assert [r.status_code for r in responses] == [403, 403, 403]
    assert await checkins(checkin_app, case_id) == []


@pytest.mark.parametrize("path", [VOICE, f"{VOICE}/pin?attempt=1"])
async def test_a_signed_call_without_a_call_sid_is_refused(checkin_app, checkin, case, clock,
                                                           path):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    params = {k: v for k, v in Call(checkin).params(pin).items() if k != "CallSid"}
    assert (await twilio_post(checkin, path, params)).status_code == 403
    assert await checkins(checkin_app, case_id) == []


# --- inactive cases ------------------------------------------------------------------


async def test_a_suspended_case_hears_that_nothing_is_due_only_after_the_pin(
        checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    active_greeting = said(await Call(checkin).start())
    await apply(checkin_app, case_change(case_id=case_id, version=2, status="suspended"))
    call = Call(checkin)
    root = await call.start()
    assert said(root) == active_greeting  # nothing told before the PIN
    root = await call.press(root, pin)
    assert said(root) == "شكراً لاتصالك. ليس عليك تسجيل حضور حالياً. مع السلامة."
    assert voices(root) == {voice_of("ar")}
    assert hangs_up(root)
    # From another phone, with the case number: the PIN first, then the same answer.
    stranger = Call(checkin, phone=STRANGER)
    menu = await stranger.start()
    root = await stranger.press(menu, await menu_digit(menu, "en"))
    root = await stranger.press(root, await keypad_reference(checkin_app, case_id))
    assert said(root) == "Welcome to check-in. Please type your 6-digit PIN."
    root = await stranger.press(root, pin)
    assert said(root) == ("Thank you for calling. You have no check-in to do at the moment. "
                          "Goodbye.")
    assert hangs_up(root)
    assert await checkins(checkin_app, case_id) == []
    assert await checkins(checkin_app, case_id) == []


async def test_a_case_suspended_during_the_call_records_nothing(checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    call = Call(checkin)
    root = await call.start()
    await apply(checkin_app, case_change(case_id=case_id, version=2, status="suspended"))
    root = await call.press(root, pin)
    assert said(root) == "شكراً لاتصالك. ليس عليك تسجيل حضور حالياً. مع السلامة."
    assert hangs_up(root)
    assert await checkins(checkin_app, case_id) == []


# --- keys no keypad sends ------------------------------------------------------------

# Other scripts' digits (which ``str.isdigit`` accepts and ``int`` misreads or refuses),
# and thousands of keys: a wrong entry, asked again in the caller's language.
NOT_KEYPAD = ["²", "١", "١٢٣٤٥٦", "１２３４５６", "1" * 5000, "²" * 4301]


@pytest.mark.parametrize("keys", NOT_KEYPAD)
async def test_keys_no_keypad_sends_at_the_menu_play_it_again(checkin, case, keys):
    call = Call(checkin, phone=STRANGER)
    menu = await call.start()
    root = await call.press(menu, keys)
    assert gather(root).get("action") == f"{VOICE}/language?attempt=2"
    assert said(root) == said(menu)


@pytest.mark.parametrize("keys", NOT_KEYPAD)
async def test_keys_no_keypad_sends_as_the_case_number_ask_again(checkin_app, checkin, case, keys):
    call = Call(checkin, phone=STRANGER)
    menu = await call.start()
    root = await call.press(await call.press(menu, await menu_digit(menu, "fr")), keys)
    assert said(root) == ("Nous n'avons pas trouvé ce numéro de dossier. "
                          "Tapez votre numéro de dossier à 10 chiffres.")
    assert gather(root).get("action") == f"{VOICE}/reference?attempt=2"


async def test_the_case_number_in_arabic_indic_digits_is_not_found(checkin_app, checkin, case):
    case_id, _ = case
    arabic = (await keypad_reference(checkin_app, case_id)).translate(
        str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    call = Call(checkin, phone=STRANGER)
    menu = await call.start()
    root = await call.press(await call.press(menu, await menu_digit(menu, "en")), arabic)
    assert said(root).startswith("We could not find that case number.")


@pytest.mark.parametrize("keys", [*NOT_KEYPAD, "PIN"])
async def test_keys_no_keypad_sends_as_the_pin_are_a_wrong_pin(checkin_app, checkin, case, clock,
                                                               keys):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    call = Call(checkin)
    root = await call.press(await call.start(), keys)
    assert said(root).startswith("الرمز غير صحيح. يمكنك المحاولة 4 مرات أخرى.")
    assert voices(root) == {voice_of("ar")}
    assert gather(root).get("action") == f"{VOICE}/pin?attempt=2"
    root = await call.press(root, pin)  # the PIN itself still works after
    assert hangs_up(root)
    assert [c.channel for c in await checkins(checkin_app, case_id)] == [Channel.voice]


async def test_the_pin_in_arabic_indic_digits_is_a_wrong_pin(checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    call = Call(checkin)
    arabic = pin.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    root = await call.press(await call.start(), arabic)
    assert gather(root).get("action") == f"{VOICE}/pin?attempt=2"
    assert await checkins(checkin_app, case_id) == []


@pytest.mark.parametrize("sid", ["CA\x00" + "0" * 32, "CA" + "٠" * 32, "CA 123", "C" * 65])
async def test_a_call_sid_of_another_shape_is_refused(checkin_app, checkin, case, sid):
    call = Call(checkin, sid=sid)
    response = await twilio_post(checkin, VOICE, call.params())
    assert response.status_code == 403
    assert await rows(checkin_app, VoiceCall) == []


@pytest.mark.parametrize("step", ["speech", "PIN", "%00"])
async def test_a_prompt_for_a_step_we_never_sent_plays_the_menu(checkin, case, step):
    call = Call(checkin, phone=STRANGER)
    menu = await call.start()
    root = await call.post(f"{VOICE}/prompt?step={step}&attempt=1&repeat=1")
    assert gather(root).get("action") == f"{VOICE}/language?attempt=1"
    assert said(root) == said(menu)
