"""The fake Twilio server must satisfy the real ``twilio`` client, or tests built on it prove nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from tests.support.twilio_server import TwilioServer, max_per_window

SENDER = "+15005550006"


class RedirectingHttpClient(TwilioHttpClient):
    """Sends the client's api.twilio.com requests to the fake server instead."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        url = url.replace("https://api.twilio.com", self.base_url)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture(scope="module")
def server() -> Iterator[TwilioServer]:
    with TwilioServer() as running:
        yield running


@pytest.fixture
def twilio(server: TwilioServer) -> Client:
    server.reset()
    return Client(server.account_sid, server.auth_token, http_client=RedirectingHttpClient(server.url))


def test_create_message_is_recorded(twilio: Client, server: TwilioServer) -> None:
    callback = "https://waymark.example/sms/status"
    to = "+15551230001"
    message = twilio.messages.create(to=to, from_=SENDER, body="Hi", status_callback=callback)
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.status, message.to, message.body, message.error_code) == ("queued", to, "Hi", None)
    assert message.date_created.tzinfo is not None
    [record] = server.requests()
    assert record["status"] == 201 and record["sid"] == message.sid
    assert record["form"] == {"To": to, "From": SENDER, "Body": "Hi", "StatusCallback": callback}


def test_scripted_failures(twilio: Client, server: TwilioServer) -> None:
    server.fail(status=429)
    with pytest.raises(TwilioRestException) as raised:
        twilio.messages.create(to="+15551230002", from_=SENDER, body="x")
    assert (raised.value.status, raised.value.code) == (429, 20429)
    assert twilio.messages.create(to="+15551230002", from_=SENDER, body="x").sid.startswith("SM")

    server.fail(status=400, code=21211, to="+15550000000", resource="Messages")
    twilio.messages.create(to="+15551230003", from_=SENDER, body="other number is unaffected")
    with pytest.raises(TwilioRestException) as raised:
        twilio.messages.create(to="+15550000000", from_=SENDER, body="x")
    assert (raised.value.status, raised.value.code) == (400, 21211)
    assert [r["status"] for r in server.requests()] == [429, 201, 201, 400]
    assert server.stats()["created"] == 2


def test_a_timed_outage_fails_every_create_until_it_is_over(twilio: Client,
                                                          server: TwilioServer) -> None:
    server.fail(status=500, seconds=0.6)
    server.fail(status=429, seconds=1.2)  # takes over when the 500s end
    seen = []
    for _ in range(3):
        with pytest.raises(TwilioRestException) as raised:
            twilio.messages.create(to="+15551230004", from_=SENDER, body="x")
        seen.append(raised.value.status)
    assert seen == [500, 500, 500]
    time.sleep(0.7)
    with pytest.raises(TwilioRestException) as raised:
        twilio.messages.create(to="+15551230004", from_=SENDER, body="x")
    assert raised.value.status == 429
    time.sleep(0.6)
    assert twilio.messages.create(to="+15551230004", from_=SENDER, body="x").sid.startswith("SM")
    assert server.stats()["created"] == 1


def test_list_filters(twilio: Client, server: TwilioServer) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    for to in ("+15551230004", "+15551230005", "+15551230004"):
        twilio.messages.create(to=to, from_=SENDER, body="list me")
    found = twilio.messages.list(to="+15551230004", date_sent_after=before, page_size=1)
    assert len(found) == 2 and {m.to for m in found} == {"+15551230004"}
    assert twilio.messages.list(to="+15551230004", date_sent_after=before + timedelta(hours=1)) == []
    assert server.requests()[3]["query"]["DateSent>"] == before.strftime("%Y-%m-%dT%H:%M:%SZ")

    twiml = "<Response><Say>Hi</Say></Response>"
    events = ["initiated", "completed"]
    call = twilio.calls.create(to="+15551230006", from_=SENDER, twiml=twiml,
                               status_callback_event=events)
    assert call.sid.startswith("CA") and call.status == "queued"
    form = server.requests()[-1]["form"]
    assert (form["Twiml"], form["StatusCallbackEvent"]) == (twiml, events)
    [listed] = twilio.calls.list(to="+15551230006", start_time_after=before)
    assert listed.sid == call.sid and listed.start_time is not None


def test_wrong_credentials_are_rejected(twilio: Client, server: TwilioServer) -> None:
    wrong = Client(server.account_sid, "wrong", http_client=RedirectingHttpClient(server.url))
    with pytest.raises(TwilioRestException) as raised:
        wrong.messages.create(to="+15551230007", from_=SENDER, body="x")
    assert (raised.value.status, raised.value.code) == (401, 20003)
    response = httpx.get(f"{server.url}/2010-04-01/Accounts/{server.account_sid}/Messages.json")
    assert response.status_code == 401 and response.json()["message"] == "Authenticate"


def test_stats_and_delay(twilio: Client, server: TwilioServer) -> None:
    for body in ("a", "b", "a"):
        twilio.messages.create(to="+15551230008", from_=SENDER, body=body)
    server.delay(0.2)
    twilio.messages.create(to="+15551230009", from_=SENDER, body="slow")
    server.delay(0)
    stats = server.stats()
    assert (stats["created"], stats["duplicates"], stats["max_per_second"]) == (4, 1, 4)
    assert stats["first"] <= stats["last"]
    assert max_per_window([0.0, 0.5, 0.99, 1.0, 1.2, 5.0]) == 4
