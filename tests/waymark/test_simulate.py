"""``waymark simulate``: the person's phone, signed as Twilio signs, against checkin
(in process here; the same code talks to the running service): what the person reads
or hears, step by step, and the check-in it records."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from checkin.enums import Channel, Timing
from checkin.models import CaseCopy

from shared.config import DEV_TWILIO_TOKEN
from tests.checkin.helpers import BASE_URL, FIRST_OPENS, PHONE, checkins, rows
from waymark.cli import main
from waymark.simulate import Phone

STRANGER = "+447400123456"


def phone(checkin, number: str = PHONE, **kwargs) -> Phone:
    return Phone(number=number, client=checkin, public_url=BASE_URL,
                 account_sid=checkin_account(), auth_token=DEV_TWILIO_TOKEN,
                 say=lambda line: None, **kwargs)


def checkin_account() -> str:
    from checkin.config import CheckinSettings

    return CheckinSettings.model_fields["twilio_account_sid"].default


async def test_a_text_checks_in_and_the_person_reads_the_answer_in_arabic(
        checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    person = phone(checkin)
    [reply] = await person.sms(f"CHECKIN {pin}")
    assert "شكراً" in reply
    assert person.heard == [f"reads: {reply}"]
    [recorded] = await checkins(checkin_app, case_id)
    assert (recorded.channel, recorded.timing) == (Channel.sms, Timing.on_time)


async def test_a_registered_caller_types_the_pin_and_hears_it_recorded(
        checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    person = phone(checkin)
    await person.call([pin])
    assert person.heard[0].startswith("hears: ")  # the PIN prompt, in Arabic
    assert person.heard[1] == f"presses {pin}"
    assert person.heard[-1] == "(the call ends)"
    [recorded] = await checkins(checkin_app, case_id)
    assert (recorded.channel, recorded.timing) == (Channel.voice, Timing.on_time)


async def test_an_unknown_caller_chooses_english_types_the_case_number_then_the_pin(
        checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    [copy] = await rows(checkin_app, CaseCopy, CaseCopy.case_id == case_id)
    menu = phone(checkin, STRANGER, ask=None)
    await menu.call([])  # silence at the menu: hear it, then goodbye
    english = next(line for line in menu.heard if "For English" in line)
    digit = next(c for c in english if c.isdigit())

    person = phone(checkin, STRANGER)
    await person.call([digit, copy.keypad_reference, pin])
    assert any("10-digit case number" in line for line in person.heard)
    assert person.heard[-1] == "(the call ends)"
    [recorded] = await checkins(checkin_app, case_id)
    assert recorded.channel == Channel.voice


async def test_pressing_1_on_a_voice_reminder_leads_to_the_pin(checkin_app, checkin, case,
                                                               clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    person = phone(checkin)
    await person.call([pin], reminder=True)
    assert person.heard[0] == "answers Waymark's reminder call and presses 1"
    [recorded] = await checkins(checkin_app, case_id)
    assert recorded.channel == Channel.voice


async def test_typed_keys_are_asked_for_at_each_question(checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    asked: list[str] = []
    person = phone(checkin, ask=lambda prompt: asked.append(prompt) or pin)
    await person.call(None)
    assert asked == ["keys (Enter for none): "]
    assert len(await checkins(checkin_app, case_id)) == 1


def test_a_number_not_in_e164_form_is_explained(capsys):
    assert main(["simulate", "sms", "--from", "07911123457", "--body", "NEXT"]) == 2
    error = capsys.readouterr().err
    assert "E.164" in error and "+447911123456" in error


def test_a_service_not_running_is_explained(capsys, monkeypatch):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("WAYMARK_CHECKIN_PORT", str(port))
    assert main(["simulate", "call", "--from", PHONE, "--digits", "1"]) == 2
    assert "checkin does not answer" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["simulate", "sms", "--from", PHONE, "--body", "NEXT"],
    ["simulate", "call", "--from", PHONE],
])
def test_production_refuses_to_simulate(argv, monkeypatch, capsys):
    monkeypatch.setenv("WAYMARK_ENV", "production")
    assert main(argv) == 2
    assert "development" in capsys.readouterr().err
