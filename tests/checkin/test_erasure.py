"""Erasure in checkin: on ``case.erased`` from the registry's feed, what checkin holds
about the person goes (number hash, date of birth, PIN, wrong-PIN routes, call state,
stored answers, free text); the anonymous record stays, each window with its age group.
Applying it again, late, or for a case never seen changes nothing more."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from checkin.enums import Channel, FollowUpKind
from checkin.models import (
    CaseCopy,
    ChangeEvent,
    Checkin,
    ExpectedCheckin,
    Pin,
    PinFailure,
    PinLock,
    Reply,
    VoiceCall,
)

from shared.changefeed import Change
from tests.checkin.helpers import (
    BEFORE_START,
    CASEWORKER,
    FIRST_OPENS,
    OFFICER,
    PHONE,
    SUPERVISOR,
    VAULT,
    add_case,
    apply,
    case_change,
    events,
    expected,
    follow_ups,
    issue_pin,
    rows,
    sms,
)
from tests.checkin.test_lockout import _five_wrong_by_reference
from tests.checkin.test_pin import other_than, reply
from tests.checkin.test_voice import STRANGER

OTHER_PHONE = "+447911123457"


def erased(case_id: uuid.UUID, version: int = 3) -> Change:
    """``case.erased`` as the registry publishes it (``registry.events.CaseErased``)."""
    return Change(cursor="0-0", type="case.erased", subject_id=str(case_id),
                  occurred_at=BEFORE_START, data={
                      "schema_version": 1, "id": str(case_id), "version": version,
                      "status": "closed", "outcome": None,
                      "erased_at": "2026-12-07T12:00:00+00:00"})


async def _drive(checkin_app, checkin, clock, case_id: uuid.UUID) -> str:
    """Everything a person leaves in checkin: a PIN, an SMS check-in and a wrong PIN, a
    stranger's keypad call with the case's number locked on its route, STOP, an
    in-person check-in with a reporting centre, an excusal and a closed follow-up."""
    pin = await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    assert reply(await sms(checkin, pin)).startswith("Thank you")
    assert "try 4 more times" in reply(await sms(checkin, other_than(pin)))
    await _five_wrong_by_reference(checkin_app, checkin, case_id, pin, STRANGER)
    await sms(checkin, "STOP")
    response = await checkin.post("/v1/checkins", headers={**OFFICER, "Idempotency-Key": "v-1"},
                                  json={"case_id": str(case_id), "identity_confirmed_by":
                                        "document", "reporting_centre": "Amina's usual desk"})
    assert response.status_code == 201, response.text
    second = (await expected(checkin_app, case_id))[1]
    response = await checkin.post(f"/v1/expected-checkins/{second.id}/excusal",
                                  json={"reason": "Amina is in hospital"}, headers=CASEWORKER)
    assert response.status_code == 200, response.text
    [follow_up] = [f for f in await follow_ups(checkin_app, case_id)
                   if f.kind == FollowUpKind.pin_locked]
    response = await checkin.post(f"/v1/follow-ups/{follow_up.id}/close", headers=CASEWORKER,
                                  json={"note": "Amina says a cousin tried her number"})
    assert response.status_code == 200, response.text
    return pin


async def test_case_erased_erases_what_checkin_holds_about_the_person(checkin_app, checkin,
                                                                       clock):
    case_id = await add_case(checkin_app, language="en")
    other_id = await add_case(checkin_app, language="en", phone=OTHER_PHONE)
    await _drive(checkin_app, checkin, clock, case_id)
    number = VAULT.lookup_hash(PHONE)
    # Wrong PINs typed from the person's number after another case's number (made while
    # the number was not registered): kept under the number's hash, on the other case.
    async with checkin_app.state.sessionmaker() as session, session.begin():
        now = FIRST_OPENS + timedelta(hours=1)
        session.add(PinFailure(case_id=other_id, channel=Channel.voice, at=now, route=number))
        session.add(PinLock(case_id=other_id, route=number, starts_at=now,
                            ends_at=now + timedelta(minutes=15)))
    assert await rows(checkin_app, VoiceCall, VoiceCall.case_id == case_id)
    assert await events(checkin_app, "contact.opted_out")
    before = [(e.id, e.status, e.opens_at) for e in await expected(checkin_app, case_id)]
    # Answers that read the case: the SMS ones, the keypad call's, the in-person one.
    read_it = {r.key for r in await rows(checkin_app, Reply) if str(case_id) in (r.subjects or "")}
    assert {key.split(":")[0] for key in read_it} == {"sms", "voice", "idem"}

    await apply(checkin_app, erased(case_id))

    [copy] = await rows(checkin_app, CaseCopy, CaseCopy.case_id == case_id)
    assert (copy.phone_hash, copy.date_of_birth, copy.status, copy.version) == (
        None, None, "closed", 3)
    assert copy.erased_at is not None
    assert (copy.sex, copy.nationality, copy.programme) == ("female", "SD",
                                                            "community_case_management")
    assert await rows(checkin_app, Pin, Pin.case_id == case_id) == []
    for table in (PinFailure, PinLock):
        assert await rows(checkin_app, table, sa.or_(table.case_id == case_id,
                                                     table.route == number)) == []
    assert await rows(checkin_app, VoiceCall, VoiceCall.case_id == case_id) == []
    answers = {r.key: r for r in await rows(checkin_app, Reply)}
    assert [answers[key].body for key in read_it] == [None] * len(read_it)
    assert all(str(case_id) not in (r.subjects or "") for r in answers.values())
    # The anonymous record: decided windows with their age group, check-ins, follow-ups.
    windows = await expected(checkin_app, case_id)
    assert [(e.id, e.status, e.opens_at) for e in windows] == before[:2]
    assert [(e.age_group, e.excusal_reason) for e in windows] == [("35-49", None)] * 2
    assert windows[1].excused_by == "alice"
    assert [c.reporting_centre for c in await rows(
        checkin_app, Checkin, Checkin.case_id == case_id)] == [None, None]
    assert {(f.detail, f.note) for f in await follow_ups(checkin_app, case_id)} == {("", None)}
    # Checkin's own feed: no excusal reason of the case, no event with the number's hash.
    outcomes = await events(checkin_app, "expected_checkin.outcome")
    assert [e.data["excusal_reason"] for e in outcomes if e.data["case_id"] == str(case_id)
            and e.data["status"] == "excused"] == [None]
    assert await events(checkin_app, "contact.opted_out") == []
    # The API still answers for the case.
    view = await checkin.get(f"/v1/cases/{case_id}/checkins", headers=CASEWORKER)
    assert view.status_code == 200, view.text
    assert view.json()["expected"][1]["excusal"] == {
        "reason": None, "excused_by": "alice", "outage_id": None}
    # The other case is untouched.
    [other] = await rows(checkin_app, CaseCopy, CaseCopy.case_id == other_id)
    assert other.phone_hash == VAULT.lookup_hash(OTHER_PHONE) and other.erased_at is None


async def test_case_erased_again_or_late_changes_nothing_more(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, language="en")
    await apply(checkin_app, erased(case_id, version=3))
    [first] = await rows(checkin_app, CaseCopy, CaseCopy.case_id == case_id)
    first_windows = [(e.id, e.age_group) for e in await expected(checkin_app, case_id)]
    await apply(checkin_app, erased(case_id, version=3))  # replayed
    await apply(checkin_app, case_change(case_id=case_id, version=2))  # a late, older event
    [copy] = await rows(checkin_app, CaseCopy, CaseCopy.case_id == case_id)
    assert (copy.version, copy.status, copy.phone_hash, copy.date_of_birth,
            copy.erased_at) == (3, "closed", None, None, first.erased_at)
    assert [(e.id, e.age_group) for e in await expected(checkin_app, case_id)] == first_windows
    trail = (await checkin.get("/v1/audit", headers=SUPERVISOR, params={
        "case_id": str(case_id), "from": "2026-11-01T00:00:00Z"})).json()["items"]
    assert [(e["action"], e["actor"], e["role"]) for e in trail] == [
        ("case.erased", "registry-feed", "service")]  # once, however often it is read


async def test_case_erased_for_a_case_never_seen_makes_no_copy(checkin_app):
    case_id = uuid.uuid4()
    await apply(checkin_app, erased(case_id))
    assert await rows(checkin_app, CaseCopy, CaseCopy.case_id == case_id) == []


async def test_a_number_another_live_case_shares_keeps_what_is_keyed_by_it(
        checkin_app, checkin, clock):
    erased_id = await add_case(checkin_app, language="en")
    sibling_id = await add_case(checkin_app, language="en")  # the same family phone
    number = VAULT.lookup_hash(PHONE)
    async with checkin_app.state.sessionmaker() as session, session.begin():
        session.add(PinFailure(case_id=uuid.uuid4(), channel=Channel.voice, route=number))
    await sms(checkin, "STOP")
    await apply(checkin_app, erased(erased_id))
    assert len(await rows(checkin_app, PinFailure, PinFailure.route == number)) == 1
    [opted_out] = await events(checkin_app, "contact.opted_out")
    assert opted_out.data["phone_hash"] == number
    [sibling] = await rows(checkin_app, CaseCopy, CaseCopy.case_id == sibling_id)
    assert sibling.phone_hash == number
    # Once the sibling is erased too, nothing keyed by the number is left.
    await apply(checkin_app, erased(sibling_id))
    assert await rows(checkin_app, PinFailure, PinFailure.route == number) == []
    assert await rows(checkin_app, ChangeEvent, ChangeEvent.type == "contact.opted_out") == []


async def test_pending_windows_still_to_come_are_withdrawn_and_decided_ones_kept(
        checkin_app, clock):
    case_id = await add_case(checkin_app, language="en")
    planned = await expected(checkin_app, case_id)
    assert len(planned) > 2
    clock.move_to(planned[1].grace_ends_at + timedelta(hours=1))
    await checkin_app.state.run_jobs()  # the first two are missed
    await apply(checkin_app, erased(case_id))
    kept = await expected(checkin_app, case_id)
    assert [(e.id, e.status) for e in kept] == [(planned[0].id, "missed"),
                                                (planned[1].id, "missed")]
    assert all(e.age_group == "35-49" for e in kept)
    assert await rows(checkin_app, ExpectedCheckin, ExpectedCheckin.case_id == case_id,
                      ExpectedCheckin.status == "pending") == []
