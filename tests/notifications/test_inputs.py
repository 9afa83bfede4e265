"""No input reaches a 500: malformed ids, limits and Twilio fields are a 4xx naming
the field, or (for a signed Twilio callback) recorded as far as they make sense; and
the OpenAPI lists the error responses each route really gives."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.checkin.helpers import signature
from tests.notifications.helpers import (
    BASE_URL,
    CASEWORKER,
    FIRST_OPENS,
    add_person,
    dispatch,
    reminders,
    status_callback,
)
from tests.notifications.test_status import _sent, message

ODD = ["", "²", "١٢٣", "x" * 5000, "\x00", "%00", "1e3", "-1", str(2**63)]


@pytest.mark.parametrize("case_id", [v for v in ODD if v] + ["0" * 36])
async def test_a_malformed_case_id_is_422(notifications, case_id):
    response = await notifications.get(f"/v1/cases/{quote(case_id, safe='')}/notifications",
                                       headers=CASEWORKER)
    assert response.status_code == 422 and "case_id" in response.text


@pytest.mark.parametrize("limit", ODD + ["0", "1001", str(10**30), "١٠", "1.5"])
async def test_a_malformed_limit_is_422_naming_it(notifications_app, notifications, clock, limit):
    case_id, _ = await add_person(notifications_app)
    response = await notifications.get(f"/v1/cases/{case_id}/notifications",
                                       params={"limit": limit}, headers=CASEWORKER)
    assert response.status_code == 422 and "limit" in response.text


@pytest.mark.parametrize("header", ["Bearer", "Bearer \u00e9\u00e9", "Bearer " + "x" * 10_000,
                                    "Basic Zm9vOmJhcg==", "Bearer a.b.c"])
async def test_a_malformed_authorization_is_401(notifications, header):
    response = await notifications.get(
        "/v1/cases/00000000-0000-0000-0000-000000000000/notifications",
        headers={"Authorization": header.encode("latin-1")})
    assert response.status_code == 401


@pytest.mark.parametrize("sid", ["", "SM\x00" + "1" * 30, "SM²" + "1" * 31, "S" * 65, "SM 1",
                                 "SM١٢"])
async def test_a_malformed_sid_is_403(notifications_app, notifications, clock, sid):
    response = await status_callback(notifications, message(sid, "delivered"))
    assert response.status_code == 403 and "MessageSid" in response.text


@pytest.mark.parametrize("code", ["²", "١٢٣", "x" * 1000, "\x00", "12345678901"])
async def test_an_error_code_that_is_not_a_number_is_left_out(notifications_app, notifications,
                                                               clock, code):
    case_id, sent = await _sent(notifications_app, clock)
    response = await status_callback(
        notifications, message(sent.provider_id, "undelivered", ErrorCode=code))
    assert response.status_code == 204
    row = (await reminders(notifications_app, case_id))["evening_before"]
    assert row.delivery_status == "undelivered" and row.error is None


async def test_a_malformed_reminder_id_in_the_callback_url_is_422(notifications):
    path = "/v1/twilio/status?reminder=%C2%B2"
    params = message("SM" + "1" * 32, "delivered")
    response = await notifications.post(path, data=params, headers={
        "X-Twilio-Signature": signature(BASE_URL + path, params)})
    assert response.status_code == 422 and "reminder" in response.text


async def test_an_oversized_callback_is_413(notifications_app, notifications, clock):
    await add_person(notifications_app)
    clock.move_to(FIRST_OPENS)
    await dispatch(notifications_app, concurrency=1)
    response = await status_callback(
        notifications, message("SM" + "1" * 32, "delivered", Padding="x" * 70_000))
    assert response.status_code == 413


def test_the_openapi_lists_each_routes_errors_as_problem_details(notifications_app):
    paths = notifications_app.openapi()["paths"]
    expected = {("/v1/cases/{case_id}/notifications", "get"): {"401", "403", "404", "422"},
                ("/v1/twilio/status", "post"): {"403", "413", "422"}}
    for (path, method), statuses in expected.items():
        responses = paths[path][method]["responses"]
        assert {s for s in responses if s >= "4"} == statuses
        for status in statuses:
            assert "application/problem+json" in responses[status]["content"]


@pytest.mark.parametrize("request_id", ["x" * 10_000, "\u00e9t\u00e9", "", " ", "a\tb"])
async def test_any_request_id_is_answered(notifications_app, notifications, clock, request_id):
    case_id, _ = await add_person(notifications_app)
    response = await notifications.get(
        f"/v1/cases/{case_id}/notifications",
        headers={**CASEWORKER, "X-Request-ID": request_id.encode("latin-1")})
    assert response.status_code == 200
