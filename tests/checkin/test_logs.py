"""The checkin service logs no phone number and no PIN, whatever happens."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import time_machine
from asgi_lifespan import LifespanManager

from shared.migrations import upgrade
from tests.checkin.conftest import QUIET
from tests.checkin.helpers import (
    FIRST_OPENS,
    OFFICER,
    PHONE,
    add_case,
    issue_pin,
    sms,
    twilio_post,
)
from tests.conftest import checkin_settings


async def test_check_ins_of_every_kind_log_no_number_and_no_pin(empty_database, capsys):
    from checkin.app import create_app

    url = empty_database(f"checkin_{uuid.uuid4().hex[:6]}")
    upgrade("checkin", url)
    settings = checkin_settings(url, **QUIET)
    settings.log_level = "DEBUG"
    app = create_app(settings)
    pins: list[str] = []
    with time_machine.travel(datetime(2026, 12, 1, tzinfo=UTC), tick=False) as clock:
        async with LifespanManager(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://checkin") as checkin:
            case_id = await add_case(app, language="en")
            pins.append(await issue_pin(checkin, case_id))
            clock.move_to(FIRST_OPENS)
            wrong = "000000" if pins[0] != "000000" else "999999"
            for _ in range(5):
                await sms(checkin, f"CHECKIN {wrong}")  # and the lock that follows
            pins.append(await issue_pin(checkin, case_id))
            await sms(checkin, pins[1])
            await sms(checkin, pins[1], phone="+33612345678")  # an unknown number
            await sms(checkin, "STOP")
            call = {"CallSid": "CA" + "1" * 32, "From": PHONE}
            await twilio_post(checkin, "/v1/twilio/voice", call)
            await twilio_post(checkin, "/v1/twilio/voice/pin?attempt=1",
                              {**call, "Digits": pins[1]})
            await checkin.post("/v1/twilio/sms", data={"From": PHONE, "Body": pins[1]})  # 403
            await checkin.post("/v1/checkins", headers=OFFICER, json={
                "case_id": str(case_id), "reporting_centre": "Croydon",
                "identity_confirmed_by": "document"})
            clock.move_to(FIRST_OPENS + timedelta(weeks=2))
            await app.state.run_jobs()
            logging.getLogger("waymark.test").debug("marker: the app logged through here")
    text = capsys.readouterr().err
    assert "marker: the app logged through here" in text  # the capture works
    assert "window(s) settled" in text  # and saw the jobs' own line
    for secret in (PHONE, PHONE[1:], "7911123456", "33612345678", "612345678", wrong, *pins):
        assert secret not in text
