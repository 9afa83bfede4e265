"""Lockout without denial of service: wrong PINs typed after a case number from
someone else's phone lock only that phone for that case, never the person's own phone
or SMS; and a window that closes while the person is locked out is excused, never
missed for that alone."""

from __future__ import annotations

from datetime import timedelta

from checkin.enums import FollowUpKind, Outcome, Timing
from checkin.models import PinFailure, PinLock

from tests.checkin.helpers import (
    FIRST_OPENS,
    PHONE,
    VAULT,
    add_case,
    checkins,
    expected,
    follow_ups,
    issue_pin,
    rows,
    run_jobs,
    sms,
)
from tests.checkin.test_pin import other_than, reply
from tests.checkin.test_voice import STRANGER, Call, hangs_up, keypad_reference, menu_digit, said

LOCKED = "After several wrong PINs, check-in by phone is paused for 15 minutes."


async def _by_reference(app, client, case_id, phone: str) -> tuple[Call, object]:
    """A call from ``phone`` that has typed the case's number and is asked for the PIN."""
    call = Call(client, phone=phone)
    menu = await call.start()
    root = await call.press(menu, await menu_digit(menu, "en"))
    return call, await call.press(root, await keypad_reference(app, case_id))


async def _five_wrong_by_reference(app, client, case_id, pin: str, phone: str) -> str:
    call, root = await _by_reference(app, client, case_id, phone)
    for _ in range(5):
        root = await call.press(root, other_than(pin))
    assert hangs_up(root)
    return said(root)


async def test_a_strangers_wrong_pins_lock_only_that_phone_for_that_case(
        checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, language="en")
    pin = await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    assert (await _five_wrong_by_reference(checkin_app, checkin, case_id, pin, STRANGER)
            ).startswith(LOCKED)
    # That phone is refused even with the right PIN, and records nothing.
    call, root = await _by_reference(checkin_app, checkin, case_id, STRANGER)
    assert said(await call.press(root, pin)).startswith(LOCKED)
    assert await checkins(checkin_app, case_id) == []
    # The person's own phone and SMS were never touched ...
    assert reply(await sms(checkin, other_than(pin))).endswith(
        "You can try 4 more times. Send your 6-digit PIN.")
    assert reply(await sms(checkin, pin)).startswith("Thank you, your check-in is recorded")
    # ... nor is another phone with the case number.
    clock.shift(timedelta(minutes=1))
    call, root = await _by_reference(checkin_app, checkin, case_id, "+447700900123")
    assert said(await call.press(root, pin)).startswith("Thank you, you have already checked in")
    assert [c.timing for c in await checkins(checkin_app, case_id)] == [
        Timing.on_time, Timing.unscheduled]
    # The stranger's mistakes stay on their route, under the number's keyed hash.
    [lock] = await rows(checkin_app, PinLock)
    assert lock.route == VAULT.lookup_hash(STRANGER) and lock.case_id == case_id
    assert [f.route for f in await rows(checkin_app, PinFailure)] == [lock.route] * 5
    [follow_up] = await follow_ups(checkin_app, case_id)
    assert follow_up.kind == FollowUpKind.pin_locked
    assert "not the person's" in follow_up.detail and "own phone and SMS still work" in (
        follow_up.detail)
    assert STRANGER not in follow_up.detail and STRANGER[1:] not in follow_up.detail


async def test_the_persons_own_phone_still_checks_in_while_a_stranger_is_locked(
        checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, language="en")
    pin = await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    await _five_wrong_by_reference(checkin_app, checkin, case_id, pin, STRANGER)
    call = Call(checkin, phone=PHONE)
    root = await call.press(await call.start(), pin)
    assert said(root).startswith("Thank you, your check-in is recorded")


async def test_the_persons_own_lock_does_not_stop_them_calling_from_another_phone(
        checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, language="en")
    pin = await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    for _ in range(5):
        await sms(checkin, other_than(pin))
    assert reply(await sms(checkin, pin)).startswith("After several wrong PINs")
    call, root = await _by_reference(checkin_app, checkin, case_id, STRANGER)
    assert said(await call.press(root, pin)).startswith("Thank you, your check-in is recorded")


async def _locked_before_grace_ends(app, client, clock) -> tuple:
    case_id = await add_case(app, language="en")
    pin = await issue_pin(client, case_id)
    first = (await expected(app, case_id))[0]
    clock.move_to(first.grace_ends_at - timedelta(minutes=5))
    return case_id, pin, first


async def test_a_window_that_closes_while_the_person_is_locked_out_is_excused(
        checkin_app, checkin, clock):
    case_id, pin, first = await _locked_before_grace_ends(checkin_app, checkin, clock)
    for _ in range(5):
        await sms(checkin, other_than(pin))
    clock.move_to(first.grace_ends_at + timedelta(minutes=20))  # the lock is over, too
    await run_jobs(checkin_app)
    window = (await expected(checkin_app, case_id))[0]
    assert window.status == Outcome.excused
    assert window.excusal_reason.startswith("Locked out")
    [follow_up] = await follow_ups(checkin_app, case_id)  # no missed_checkin follow-up
    assert follow_up.kind == FollowUpKind.pin_locked
    assert "excused (locked out), not missed" in follow_up.detail
    assert follow_up.detail.endswith("was excused: locked out.")


async def test_a_window_closing_after_a_new_pin_lifted_the_lock_is_missed(
        checkin_app, checkin, clock):
    case_id, pin, first = await _locked_before_grace_ends(checkin_app, checkin, clock)
    clock.move_to(first.grace_ends_at - timedelta(minutes=14))
    for _ in range(5):
        await sms(checkin, other_than(pin))
    clock.shift(timedelta(minutes=1))
    await issue_pin(checkin, case_id)  # the person could check in again
    clock.move_to(first.grace_ends_at + timedelta(minutes=20))
    await run_jobs(checkin_app)
    assert (await expected(checkin_app, case_id))[0].status == Outcome.missed


async def test_a_strangers_lock_excuses_nothing(checkin_app, checkin, clock):
    case_id, pin, first = await _locked_before_grace_ends(checkin_app, checkin, clock)
    await _five_wrong_by_reference(checkin_app, checkin, case_id, pin, STRANGER)
    clock.move_to(first.grace_ends_at + timedelta(minutes=20))
    await run_jobs(checkin_app)
    assert (await expected(checkin_app, case_id))[0].status == Outcome.missed
