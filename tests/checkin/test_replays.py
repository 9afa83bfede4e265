"""Replays: a captured Twilio request can never record a second check-in, however its
signed text is rearranged and however long after it comes back; an officer's
``Idempotency-Key`` is never answered with another request's answer."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from checkin import replies
from checkin.models import Reply, VoiceCall

from tests.checkin.helpers import (
    BASE_URL,
    FIRST_OPENS,
    OFFICER,
    PHONE,
    add_case,
    checkins,
    issue_pin,
    rows,
    run_jobs,
    signature,
    sms,
    twilio_post,
)
from tests.checkin.test_sms import text_of
from tests.checkin.test_voice import VOICE, Call, hangs_up, twiml
from tests.conftest import auth

ACCOUNT = "AC" + "0" * 32


def _sms_params(pin: str, sid: str) -> dict[str, str]:
    return {"AccountSid": ACCOUNT, "Body": pin, "From": PHONE, "MessageSid": sid,
            "NumMedia": "0", "To": "+447700900000"}


async def test_moving_num_media_into_the_message_sid_is_refused(checkin_app, checkin, case,
                                                                clock):
    """Twilio signs the sorted ``key + value`` pairs run together, so ``MessageSid=<sid>``
    and ``NumMedia=0`` sign exactly like ``MessageSid=<sid>NumMedia0`` alone: one captured
    request, sent again so, would otherwise be a new message."""
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    sid = f"SM{uuid.uuid4().hex}"
    genuine = _sms_params(pin, sid)
    header = signature(BASE_URL + "/v1/twilio/sms", genuine)
    assert text_of(await checkin.post("/v1/twilio/sms", data=genuine,
                                      headers={"X-Twilio-Signature": header}))
    forged = {k: v for k, v in genuine.items() if k != "NumMedia"}
    forged["MessageSid"] = sid + "NumMedia0"
    assert signature(BASE_URL + "/v1/twilio/sms", forged) == header  # the attack is real
    clock.shift(timedelta(minutes=5))
    response = await checkin.post("/v1/twilio/sms", data=forged,
                                  headers={"X-Twilio-Signature": header})
    assert response.status_code == 403
    assert len(await checkins(checkin_app, case_id)) == 1


async def test_moving_the_call_status_into_the_call_sid_is_refused(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, language="en")
    pin = await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS)
    call = Call(checkin)
    await call.start()
    genuine = call.params(pin)
    path = f"{VOICE}/pin?attempt=1"
    header = signature(BASE_URL + path, genuine)
    assert hangs_up(twiml(await checkin.post(path, data=genuine,
                                             headers={"X-Twilio-Signature": header})))
    forged = {k: v for k, v in genuine.items() if k != "CallStatus"}
    forged["CallSid"] = call.sid + "CallStatus" + genuine["CallStatus"]
    assert signature(BASE_URL + path, forged) == header
    response = await checkin.post(path, data=forged, headers={"X-Twilio-Signature": header})
    assert response.status_code == 403
    assert len(await checkins(checkin_app, case_id)) == 1


@pytest.mark.parametrize("fields", [
    {"MessageSid": "SM" + "A" * 32}, {"MessageSid": "SM" + "0" * 31},
    {"MessageSid": "CA" + "0" * 32}, {"MessageSid": "MG" + "0" * 32},
    {"SmsSid": "SM" + "0" * 32 + "x"}, {"AccountSid": "AC" + "1" * 32}, {"AccountSid": ""}])
async def test_an_sms_with_a_sid_not_of_twilios_shape_or_for_another_account_is_403(
        checkin_app, checkin, case, clock, fields):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    params = {**_sms_params(pin, f"SM{uuid.uuid4().hex}"), **fields}
    response = await twilio_post(checkin, "/v1/twilio/sms", params)
    assert response.status_code == 403
    assert await checkins(checkin_app, case_id) == []
    assert await rows(checkin_app, Reply) == []


async def test_a_picture_message_sid_is_accepted(checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    text_of(await sms(checkin, pin, sid=f"MM{uuid.uuid4().hex}"))
    assert len(await checkins(checkin_app, case_id)) == 1


@pytest.mark.parametrize("fields", [{"CallSid": "CA" + "F" * 32}, {"CallSid": "SM" + "0" * 32},
                                    {"AccountSid": "AC" + "1" * 32}])
async def test_a_call_with_a_sid_not_of_twilios_shape_or_for_another_account_is_403(
        checkin_app, checkin, fields):
    params = {**Call(checkin).params(), **fields}
    response = await twilio_post(checkin, VOICE, params)
    assert response.status_code == 403
    assert await rows(checkin_app, VoiceCall) == []


async def test_another_configured_account_is_the_only_one_accepted(database_urls, case_env):
    sid = f"SM{uuid.uuid4().hex}"
    client, case_id, pin = case_env
    ours = await sms(client, pin, sid=sid)  # the tests' account, not the configured one
    assert ours.status_code == 403
    params = {**_sms_params(pin, sid), "AccountSid": "AC" + "5" * 32}
    assert (await twilio_post(client, "/v1/twilio/sms", params)).status_code == 200


@pytest.fixture
async def case_env(database_urls, clock):
    from checkin.app import create_app

    from tests.checkin.conftest import QUIET
    from tests.conftest import checkin_settings, client_for, rolled_back

    settings = checkin_settings(database_urls["checkin"], **QUIET,
                                TWILIO_ACCOUNT_SID="AC" + "5" * 32)
    async with rolled_back(create_app(settings)) as app, client_for(app, "checkin") as client:
        case_id = await add_case(app, language="en")
        yield client, case_id, await issue_pin(client, case_id)


# --- replays long after ------------------------------------------------------------


async def test_a_replay_after_the_answer_is_pruned_records_nothing_and_says_nothing(
        checkin_app, checkin, case, clock):
    case_id, pin = case
    clock.move_to(FIRST_OPENS)
    sid = f"SM{uuid.uuid4().hex}"
    assert text_of(await sms(checkin, pin, sid=sid))
    clock.shift(timedelta(days=8))  # the stored answer goes after 7 days, the key stays
    await run_jobs(checkin_app)
    [kept] = await rows(checkin_app, Reply)
    assert kept.key == f"sms:{sid}" and kept.body is None
    assert text_of(await sms(checkin, pin, sid=sid)) == ""
    assert len(await checkins(checkin_app, case_id)) == 1
    clock.shift(timedelta(days=399))
    await run_jobs(checkin_app)
    assert await rows(checkin_app, Reply) == []  # kept 400 days


async def test_a_call_replayed_after_its_state_is_pruned_hangs_up(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, language="en")
    pin = await issue_pin(checkin, case_id)
    clock.move_to(FIRST_OPENS)
    call = Call(checkin)
    root = await call.start()
    await call.press(root, pin)
    clock.shift(timedelta(days=8))
    await run_jobs(checkin_app)
    assert await rows(checkin_app, VoiceCall) == []
    again = await call.post(f"{VOICE}/pin?attempt=1", pin)
    assert hangs_up(again) and len(again) == 1  # nothing said
    assert len(await checkins(checkin_app, case_id)) == 1


# --- Idempotency-Key on in-person check-ins ----------------------------------------


def _in_person(case_id: uuid.UUID) -> dict[str, str]:
    return {"case_id": str(case_id), "reporting_centre": "Croydon",
            "identity_confirmed_by": "document"}


async def test_the_same_key_for_another_case_is_422_never_the_first_cases_answer(
        checkin_app, checkin, clock):
    first, second = [await add_case(checkin_app, phone=f"+44791112345{n}") for n in (1, 2)]
    clock.move_to(FIRST_OPENS)
    headers = {**OFFICER, "Idempotency-Key": "desk-42"}
    x = await checkin.post("/v1/checkins", json=_in_person(first), headers=headers)
    assert x.status_code == 201
    y = await checkin.post("/v1/checkins", json=_in_person(second), headers=headers)
    assert y.status_code == 422 and "Idempotency-Key" in y.text
    assert await checkins(checkin_app, second) == []
    again = await checkin.post("/v1/checkins", json=_in_person(first), headers=headers)
    assert (again.status_code, again.json()) == (201, x.json())
    assert len(await checkins(checkin_app, first)) == 1


async def test_a_key_belongs_to_its_sender(checkin_app, checkin, clock):
    first, second = [await add_case(checkin_app, phone=f"+44791112345{n}") for n in (1, 2)]
    clock.move_to(FIRST_OPENS)
    x = await checkin.post("/v1/checkins", json=_in_person(first),
                           headers={**OFFICER, "Idempotency-Key": "k"})
    y = await checkin.post("/v1/checkins", json=_in_person(second),
                           headers={**auth("officer", sub="another"), "Idempotency-Key": "k"})
    assert (x.status_code, y.status_code) == (201, 201)
    assert y.json()["case_id"] == str(second)


async def test_a_key_whose_answer_is_pruned_records_nothing(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app)
    clock.move_to(FIRST_OPENS)
    headers = {**OFFICER, "Idempotency-Key": "once"}
    assert (await checkin.post("/v1/checkins", json=_in_person(case_id),
                               headers=headers)).status_code == 201
    clock.shift(timedelta(days=8))
    await run_jobs(checkin_app)
    headers = {**OFFICER, "Idempotency-Key": "once"}  # a token of the day
    again = await checkin.post("/v1/checkins", json=_in_person(case_id), headers=headers)
    assert again.status_code == 409
    assert len(await checkins(checkin_app, case_id)) == 1


async def test_a_concurrent_duplicate_key_is_409(checkin_app):
    """Two requests under one key, each past the check for an earlier one: the second to
    store its answer is refused, and its work rolled back."""
    key = replies.request_key(endpoint="POST /v1/checkins", actor="olu", idempotency_key="k")
    async with checkin_app.state.sessionmaker() as session, session.begin():
        await replies.store_request(session, key=key, request_hash="a" * 64, body="{}",
                                    status_code=201)
    from shared.errors import Conflict

    async with checkin_app.state.sessionmaker() as session:
        async with session.begin():
            with pytest.raises(Conflict):
                await replies.store_request(session, key=key, request_hash="b" * 64,
                                            body="{}", status_code=201)
