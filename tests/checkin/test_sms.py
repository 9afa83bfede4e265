"""SMS check-in: a signed message from the registered number with the PIN is recorded
once and answered in the person's language; everything else gets a helpful answer."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from checkin.enums import Channel, Outcome, Timing
from checkin.models import PinFailure, Reply

from tests.checkin.helpers import (
    BASE_URL,
    FIRST_OPENS,
    PHONE,
    add_case,
    checkins,
    events,
    expected,
    issue_pin,
    rows,
    signature,
    sms,
    twilio_post,
)


def text_of(response) -> str:
    """The message TwiML answers with ('' for an empty ``<Response/>``)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return "".join(m.text or "" for m in ET.fromstring(response.text).iter("Message"))


def spaced(pin: str) -> str:
    return f"{pin[:3]} {pin[3:]}"


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@pytest.mark.parametrize("form", [
    lambda pin: pin,
    spaced,
    lambda pin: f"CHECKIN {pin}",
    lambda pin: f"checkin: {spaced(pin)}",
    lambda pin: f"  PIN {pin}.",
    lambda pin: pin.translate(ARABIC_INDIC),
    lambda pin: pin.translate(PERSIAN),
    lambda pin: "تسجيل " + spaced(pin).translate(ARABIC_INDIC),
], ids=["plain", "spaces", "keyword", "keyword-colon-spaces", "padded", "arabic-indic",
        "persian", "arabic-keyword"])
async def test_the_pin_is_accepted_however_it_is_typed(checkin_app, checkin, case, clock, form):
    case_id, pin = case
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    reply = text_of(await sms(checkin, form(pin)))
    assert reply.startswith("شكراً، تم تسجيل حضورك")  # Arabic: thank you, recorded
    assert "14 ديسمبر" in reply  # and when the next one is: 14 December
    [recorded] = await checkins(checkin_app, case_id)
    assert (recorded.channel, recorded.timing) == (Channel.sms, Timing.on_time)
    assert (await expected(checkin_app, case_id))[0].status == Outcome.on_time


@pytest.mark.parametrize(("language", "on_time", "late"), [
    ("en", "Thank you, your check-in is recorded. Next", "after the window, and it still counts"),
    ("fr", "Merci, votre pointage est enregistré", "il compte bien"),
    ("es", "Gracias, su presentación está registrada", "cuenta igualmente"),
    ("ar", "شكراً، تم تسجيل حضورك", "وهو محسوب"),
])
async def test_replies_come_in_the_persons_language(checkin_app, checkin, clock, language,
                                                    on_time, late):
    case_id = await add_case(checkin_app, language=language)
    pin = await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS)
    assert text_of(await sms(checkin, pin)).startswith(on_time)
    clock.move_to(FIRST_OPENS + timedelta(days=7, hours=11))  # the next window closed at 19:00
    reply = text_of(await sms(checkin, pin))
    assert late in reply
    assert [c.timing for c in await checkins(checkin_app, case_id)] == [Timing.on_time, Timing.late]


async def test_a_late_reply_thanks_and_does_not_threaten(checkin_app, checkin, case, clock):
    case_id = await add_case(checkin_app, language="en", phone="+447700900123")
    pin = await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS + timedelta(hours=20))
    reply = text_of(await sms(checkin, pin, phone="+447700900123"))
    assert reply.startswith("Thank you")
    for threat in ("detain", "warning", "breach", "fail", "penalt"):
        assert threat not in reply.lower()
    assert "Monday 14 December, 09:00 to 19:00" in reply


async def test_nothing_due_says_when_the_next_one_is(checkin_app, checkin, case, clock):
    case_id, pin = case
    reply = text_of(await sms(checkin, pin))  # Tuesday 1 December: nothing is open
    assert reply.startswith("شكراً، وصلتنا رسالتك. لا يوجد موعد حضور الآن")
    assert "7 ديسمبر" in reply
    [contact] = await checkins(checkin_app, case_id)
    assert contact.timing == Timing.unscheduled and contact.expected_checkin_id is None


async def test_a_second_check_in_in_the_same_window_is_thanked_not_counted_twice(
        checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    await sms(checkin, pin)
    clock.shift(timedelta(hours=2))
    reply = text_of(await sms(checkin, pin))
    assert "لقد سجّلت حضورك لهذا الموعد من قبل" in reply  # you already checked in
    statuses = [e.status for e in await expected(checkin_app, case_id)]
    assert statuses[:2] == [Outcome.on_time, Outcome.pending]


async def test_a_wrong_pin_says_how_many_tries_are_left(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, language="en")
    pin = await issue_pin(checkin, case_id)
    wrong = "000000" if pin != "000000" else "999999"
    assert text_of(await sms(checkin, wrong)) == (
        "That PIN is not right. You can try 4 more times. Send your 6-digit PIN.")
    assert "3 more times" in text_of(await sms(checkin, wrong))
    assert await checkins(checkin_app, case_id) == []


async def test_an_unknown_number_learns_nothing(checkin_app, checkin, case):
    case_id, pin = case
    first = text_of(await sms(checkin, pin, phone="+447700900999"))
    second = text_of(await sms(checkin, "NEXT", phone="+33612345678"))
    assert first == second == ("This number is not registered for check-in. "
                               "Please contact your caseworker.")
    assert await checkins(checkin_app, case_id) == []


async def test_help_says_how_to_check_in(checkin, case):
    assert text_of(await sms(checkin, "help")).startswith("لتسجيل حضورك، أرسل رمزك")


async def test_next_and_status_with_the_pin_say_where_the_person_stands(checkin_app, checkin,
                                                                         clock):
    case_id = await add_case(checkin_app, language="en")
    pin = await issue_pin(checkin, case_id)
    assert text_of(await sms(checkin, f"NEXT {pin}")) == (
        "Next check-in: Monday 7 December, 09:00 to 19:00. Last check-in recorded: not yet.")
    clock.move_to(FIRST_OPENS + timedelta(hours=1, minutes=5))
    # Open and not yet attended: that one is next; asking records no check-in.
    assert "Monday 7 December" in text_of(await sms(checkin, f"status {spaced(pin)}"))
    assert await checkins(checkin_app, case_id) == []
    await sms(checkin, pin)
    assert text_of(await sms(checkin, f"Status: {pin}")) == (
        "Next check-in: Monday 14 December, 09:00 to 19:00. "
        "Last check-in recorded: Monday 7 December at 10:05.")
    assert len(await checkins(checkin_app, case_id)) == 1


@pytest.mark.parametrize(("code", "phone", "word", "start"), [
    ("en", "+447911123401", "NEXT", "To see when your next check-in is due, text NEXT"),
    ("fr", "+33612345601", "PROCHAIN", "Pour savoir quand est votre prochain pointage, envoyez NEXT"),
    ("es", "+34612345601", "SIGUIENTE", "Para saber cuándo es su próxima presentación, envíe NEXT"),
    ("ar", "+447911123402", "التالي", "لمعرفة موعدك القادم، أرسل NEXT")])
async def test_next_without_the_pin_says_how_to_ask_and_nothing_else(
        checkin_app, checkin, clock, code, phone, word, start):
    case_id = await add_case(checkin_app, language=code, phone=phone)
    await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    reply = text_of(await sms(checkin, word, phone=phone))
    assert reply.startswith(start) and "7" not in reply.replace("123456", "")


async def test_a_wrong_pin_with_next_counts_and_tells_nothing(checkin_app, checkin, case, clock):
    case_id, pin = case
    wrong = "000000" if pin != "000000" else "999999"
    reply = text_of(await sms(checkin, f"NEXT {wrong}"))
    assert reply == text_of(await sms(checkin, wrong)).replace("3", "4")
    assert len(await rows(checkin_app, PinFailure)) == 2


async def test_before_the_pin_a_suspended_case_answers_as_an_active_one(checkin_app, checkin,
                                                                        clock):
    """Someone spoofing the number must not learn that the case is suspended: every
    answer before a right PIN is the same as an active case's."""
    from tests.checkin.helpers import apply, case_change

    active = await add_case(checkin_app, language="en", phone="+447911123411")
    suspended = await add_case(checkin_app, language="en", phone="+447911123412")
    pins = {active: await issue_pin(checkin, active), suspended: await issue_pin(checkin, suspended)}
    await apply(checkin_app, case_change(case_id=suspended, version=2, status="suspended",
                                         phone="+447911123412", language="en"))
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    for body in ("NEXT", "STATUS", "HELP", "hello?", "NEXT 000001", "000001"):
        answers = {text_of(await sms(checkin, body, phone=phone))
                   for phone in ("+447911123411", "+447911123412")}
        assert len(answers) == 1, body
    reply = text_of(await sms(checkin, f"NEXT {pins[suspended]}", phone="+447911123412"))
    assert reply.startswith("Thank you. You have no check-in to do at the moment.")


async def test_stop_and_start_go_on_the_change_feed(checkin_app, checkin, case):
    case_id, _ = case
    assert text_of(await sms(checkin, "STOP")) == ""  # Twilio confirms opt-outs itself
    assert text_of(await sms(checkin, "start")) == ""
    opt = [e for e in await events(checkin_app) if e.type.startswith("contact.")]
    assert [e.type for e in opt] == ["contact.opted_out", "contact.opted_in"]
    assert opt[0].data["case_ids"] == [str(case_id)]
    assert PHONE not in str(opt[0].data) and opt[0].data["phone_hash"]


async def test_a_retry_with_the_same_message_sid_records_once_and_replies_the_same(
        checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    first = await sms(checkin, pin, sid="SM" + "a" * 32)
    clock.shift(timedelta(minutes=3))
    again = await sms(checkin, pin, sid="SM" + "a" * 32)
    assert again.text == first.text
    assert len(await checkins(checkin_app, case_id)) == 1
    assert len(await events(checkin_app, "checkin.recorded")) == 1


async def test_a_retried_wrong_pin_counts_once(checkin_app, checkin, case):
    _, pin = case
    wrong = "000000" if pin != "000000" else "999999"
    for _ in range(3):
        reply = text_of(await sms(checkin, wrong, sid="SM" + "b" * 32))
    assert "4" in reply


async def test_a_suspended_case_is_told_nothing_is_due_after_the_pin(checkin_app, checkin, case):
    from tests.checkin.helpers import apply, case_change

    case_id, pin = case
    await apply(checkin_app, case_change(case_id=case_id, version=2, status="suspended"))
    assert text_of(await sms(checkin, pin)).startswith("شكراً. ليس عليك تسجيل حضور حالياً")
    assert await checkins(checkin_app, case_id) == []


async def test_no_pin_yet_says_to_ask_the_caseworker(checkin_app, checkin):
    await add_case(checkin_app, language="fr", phone="+33612345678")
    reply = text_of(await sms(checkin, "123456", phone="+33612345678"))
    assert reply == "Vous n'avez pas encore de code. Demandez-en un à votre référent."


async def test_gibberish_gets_a_gentle_explanation(checkin, case):
    assert text_of(await sms(checkin, "hello?")).startswith("عذراً، لم نفهم رسالتك")
    assert text_of(await sms(checkin, "12345")).startswith("عذراً")


# --- signatures ------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {},
    {"X-Twilio-Signature": ""},
    {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
])
async def test_an_unsigned_or_badly_signed_message_is_refused(checkin_app, checkin, case, headers):
    case_id, pin = case
    params = {"MessageSid": "SM" + "c" * 32, "From": PHONE, "Body": pin}
    response = await checkin.post("/v1/twilio/sms", data=params, headers=headers)
    assert response.status_code == 403
    assert await checkins(checkin_app, case_id) == []
    assert await rows(checkin_app, Reply) == []


async def test_a_signature_over_other_parameters_is_refused(checkin_app, checkin, case):
    case_id, pin = case
    signed = {"MessageSid": "SM" + "d" * 32, "From": PHONE, "Body": "HELP"}
    sent = {**signed, "Body": pin}
    headers = {"X-Twilio-Signature": signature(BASE_URL + "/v1/twilio/sms", signed)}
    response = await checkin.post("/v1/twilio/sms", data=sent, headers=headers)
    assert response.status_code == 403
    assert await checkins(checkin_app, case_id) == []


async def test_a_signature_made_with_another_token_is_refused(checkin, case):
    _, pin = case
    response = await twilio_post(checkin, "/v1/twilio/sms",
                                 {"MessageSid": "SM1", "From": PHONE, "Body": pin},
                                 token="someone-elses-token")
    assert response.status_code == 403


async def test_a_signed_message_without_a_sid_or_sender_is_refused(checkin, case):
    _, pin = case
    assert (await twilio_post(checkin, "/v1/twilio/sms", {"From": PHONE, "Body": pin})
            ).status_code == 403
    assert (await twilio_post(checkin, "/v1/twilio/sms", {"MessageSid": "SM2", "Body": pin})
            ).status_code == 403


async def test_a_shared_phone_checks_in_whichever_case_the_pin_belongs_to(
        checkin_app, checkin, clock):
    # A family on one phone: each person has their own case and PIN.
    mother = await add_case(checkin_app, language="en")
    son = await add_case(checkin_app, language="fr")
    await add_case(checkin_app, language="es")  # a third, with no PIN yet
    mother_pin, son_pin = await issue_pin(checkin, mother), await issue_pin(checkin, son)
    clock.move_to(FIRST_OPENS)
    assert "Merci" in text_of(await sms(checkin, son_pin))
    assert [c.case_id for c in await checkins(checkin_app, son)] == [son]
    assert await checkins(checkin_app, mother) == []
    wrong = next(p for p in ("000000", "999999") if p not in (mother_pin, son_pin))
    answer = text_of(await sms(checkin, wrong))
    assert "4 more times" in answer or "reste 4 essais" in answer
    assert "recorded" in text_of(await sms(checkin, mother_pin))
    assert [c.case_id for c in await checkins(checkin_app, mother)] == [mother]
