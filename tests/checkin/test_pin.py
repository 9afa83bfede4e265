"""PINs: issued once, stored only as a keyed hash; five wrong ones in 15 minutes pause
telephone and SMS check-in for 15 minutes and tell the caseworker; a new PIN lifts it."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from checkin.config import CheckinSettings
from checkin.enums import Timing
from checkin.models import Pin
from checkin.pins import hash_pin, new_pin
from cryptography.fernet import Fernet

from tests.checkin.helpers import (
    FIRST_OPENS,
    add_case,
    auth,
    checkins,
    follow_ups,
    issue_pin,
    rows,
    sms,
)


def reply(response) -> str:
    assert response.status_code == 200
    return "".join(m.text or "" for m in ET.fromstring(response.text).iter("Message"))


@pytest.fixture
def clock():
    with time_machine.travel(FIRST_OPENS + timedelta(hours=1), tick=False) as traveller:
        yield traveller


@pytest.fixture
async def case(checkin_app, checkin, clock):
    clock.move_to(datetime(2026, 12, 1, tzinfo=UTC))
    case_id = await add_case(checkin_app, language="en")
    pin = await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    return case_id, pin


def other_than(pin: str) -> str:
    return "000000" if pin != "000000" else "999999"


async def test_a_pin_is_six_digits_shown_once_and_stored_only_as_a_keyed_hash(checkin_app, case):
    case_id, pin = case
    assert len(pin) == 6 and pin.isdigit()
    async with checkin_app.state.sessionmaker() as session:
        raw = (await session.execute(sa.text("SELECT * FROM pins"))).all()
    assert pin not in str(raw)
    [stored] = await rows(checkin_app, Pin, Pin.case_id == case_id)
    key = checkin_app.state.settings.pin_key
    assert stored.hash == hash_pin(key=key, salt=stored.salt, case_id=case_id, pin=pin)
    # Without the server's key the stored hash does not verify: a stolen table is useless.
    assert stored.hash != hash_pin(key="a-guess", salt=stored.salt, case_id=case_id, pin=pin)


def test_issued_pins_are_never_the_first_ones_a_stranger_would_try():
    drawn = {new_pin() for _ in range(5000)}
    assert not drawn & {"000000", "111111", "123456", "654321", "121212", "999999"}
    assert len(drawn) > 4900  # and they are random


async def test_a_new_pin_replaces_the_old_one(checkin_app, checkin, case):
    case_id, old = case
    new = await issue_pin(checkin, case_id)
    if new == old:
        new = await issue_pin(checkin, case_id)
    assert "not right" in reply(await sms(checkin, old))
    assert reply(await sms(checkin, new)).startswith("Thank you, your check-in is recorded")


@pytest.mark.parametrize(("roles", "status"), [
    (("officer",), 403), (("authority",), 403), (("service",), 403), (("supervisor",), 201)])
async def test_only_caseworkers_and_supervisors_issue_pins(checkin, case, roles, status):
    case_id, _ = case
    response = await checkin.post(f"/v1/cases/{case_id}/pin", headers=auth(*roles))
    assert response.status_code == status


async def test_a_pin_for_an_unknown_case_is_404(checkin, case):
    response = await checkin.post(f"/v1/cases/{uuid.uuid4()}/pin", headers=auth("caseworker"))
    assert response.status_code == 404


async def test_five_wrong_pins_lock_remote_check_in_and_tell_the_caseworker(
        checkin_app, checkin, case, clock):
    case_id, pin = case
    wrong = other_than(pin)
    answers = []
    for _ in range(5):
        answers.append(reply(await sms(checkin, wrong)))
        clock.shift(timedelta(minutes=2))
    assert [a.split(". ")[1] for a in answers[:4]] == [
        "You can try 4 more times", "You can try 3 more times", "You can try 2 more times",
        "You can try 1 more time"]  # CLDR's "one", not "1 more times"
    assert answers[4].startswith("After several wrong PINs, check-in by phone and text is paused "
                                 "for 15 minutes")
    # Even the right PIN is refused while locked, and nothing is recorded.
    assert reply(await sms(checkin, pin)).startswith("After several wrong PINs")
    assert await checkins(checkin_app, case_id) == []
    [follow_up] = await follow_ups(checkin_app, case_id)
    assert (follow_up.kind, follow_up.assigned_to, follow_up.status) == (
        "pin_locked", "alice", "open")
    assert follow_up.vulnerabilities == ["survivor_of_trafficking"]


async def test_the_lock_lifts_after_fifteen_minutes(checkin_app, checkin, case, clock):
    case_id, pin = case
    for _ in range(5):
        await sms(checkin, other_than(pin))
    clock.shift(timedelta(minutes=14, seconds=59))
    assert reply(await sms(checkin, pin)).startswith("After several wrong PINs")
    clock.shift(timedelta(seconds=2))
    assert reply(await sms(checkin, pin)).startswith("Thank you, your check-in is recorded")
    assert [c.timing for c in await checkins(checkin_app, case_id)] == [Timing.on_time]


async def test_a_new_pin_lifts_the_lock_at_once(checkin_app, checkin, case):
    case_id, pin = case
    for _ in range(5):
        await sms(checkin, other_than(pin))
    new = await issue_pin(checkin, case_id)
    assert reply(await sms(checkin, new)).startswith("Thank you, your check-in is recorded")


async def test_wrong_pins_spread_over_more_than_fifteen_minutes_do_not_lock(
        checkin_app, checkin, case, clock):
    case_id, pin = case
    for _ in range(8):
        answer = reply(await sms(checkin, other_than(pin)))
        clock.shift(timedelta(minutes=4))
    assert "You can try" in answer  # never more than four inside any 15 minutes
    assert await follow_ups(checkin_app, case_id) == []


async def test_a_right_pin_clears_earlier_mistakes(checkin_app, checkin, case):
    case_id, pin = case
    for _ in range(4):
        await sms(checkin, other_than(pin))
    await sms(checkin, pin)
    assert "You can try 4 more times" in reply(await sms(checkin, other_than(pin)))


def test_production_refuses_the_development_pin_key(monkeypatch):
    production = {"WAYMARK_ENV": "production", "WAYMARK_AUTH_SECRET": "s" * 40,
                  "WAYMARK_PHONE_KEYS": Fernet.generate_key().decode(),
                  "WAYMARK_PHONE_HASH_KEY": "h" * 40, "TWILIO_AUTH_TOKEN": "t" * 32,
                  "WAYMARK_AUTH_JWKS_URL": "https://id.example.org/jwks",
                  "WAYMARK_AUTH_ISSUER": "https://id.example.org/",
                  "WAYMARK_AUTH_AUDIENCE": "waymark"}
    for name, value in production.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="WAYMARK_PIN_KEY"):
        CheckinSettings()
    monkeypatch.setenv("WAYMARK_PIN_KEY", "a-real-key-from-the-vault-0123456789")
    assert CheckinSettings().pin_key.startswith("a-real-key")
