"""The running system the end-to-end stories are told in (``test_stories.py``): the
three services as real processes on PostgreSQL under a clock the stories move forward
(``tests.e2e.clock``), the Twilio-compatible server they send through, and the few
moves each actor makes over HTTP: a caseworker opens a case and issues a PIN, a person
texts or calls in (signed as Twilio signs, by ``waymark.simulate.Phone``), an officer
records a visit, a supervisor or an authority reads a summary.

Tokens are dated by the services' clock (their ``Date`` header, read at each move of
the clock), never by the test's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from shared.auth import issue_token
from shared.config import DEV_AUTH_SECRET
from tests.e2e.clock import ServiceClock
from tests.e2e.cluster import Cluster, Replica, eventually, phones, served_at
from tests.registry.factories import case_body
from tests.support.twilio_server import TwilioServer
from waymark.simulate import Phone

ZONE = ZoneInfo("Europe/London")
BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# The clock is moved to this long after the moment a story waits for: a reminder due
# at 18:00 is due, with time to spare before its deadline.
AFTER = timedelta(seconds=30)


@dataclass
class Person:
    case: dict[str, Any]
    phone: str
    pin: str

    @property
    def id(self) -> str:
        return self.case["id"]


@dataclass
class Town:
    cluster: Cluster
    clock: ServiceClock
    twilio: TwilioServer
    registry: Replica
    checkin: Replica
    notifications: Replica
    numbers: Iterator[str] = field(default_factory=lambda: phones(10_000))
    now: datetime | None = None  # the services' time, as last read

    @property
    def urls(self) -> list[str]:
        return [self.registry.url, self.checkin.url, self.notifications.url]

    # --- time ---------------------------------------------------------------------------

    def today(self) -> date:
        """The people's local date by the services' clock."""
        self.now = served_at(self.registry.url)
        return self.now.astimezone(ZONE).date()

    def travel(self, day: date, clock: time) -> None:
        """Move the services' clock to just after ``clock`` on ``day``, local time."""
        moment = datetime.combine(day, clock, tzinfo=ZONE).astimezone(UTC) + AFTER
        self.now = self.clock.travel(moment, self.urls)

    # --- HTTP ---------------------------------------------------------------------------

    def headers(self, role: str, sub: str = "alice") -> dict[str, str]:
        token = issue_token(secret=DEV_AUTH_SECRET, sub=sub, roles=[role],
                            ttl=timedelta(minutes=30), issued_at=self.now)
        return {"Authorization": f"Bearer {token}"}

    def call_api(self, replica: Replica, method: str, path: str, *, role: str = "caseworker",
                 sub: str = "alice", expect: int | None = 200, **kwargs: Any) -> httpx.Response:
        headers = self.headers(role, sub) | kwargs.pop("headers", {})
        response = httpx.request(method, f"{replica.url}{path}", headers=headers, timeout=15,
                                 **kwargs)
        if expect is not None:
            assert response.status_code == expect, (
                f"{method} {path} as {role}: {response.status_code} {response.text[:500]}")
        return response

    # --- a caseworker -------------------------------------------------------------------

    def enrol(self, day: date, *, programme: str, language: str = "en",
              **overrides: Any) -> Person:
        """A case reporting weekly from ``day`` (09:00-19:00 local, a day's grace) opened
        at the registry, and its PIN once checkin knows the case."""
        phone = next(self.numbers)
        body = case_body(
            person__phone=phone, person__preferred_language=language, programme=programme,
            reporting__starts_on=day.isoformat(), reporting__timezone=ZONE.key,
            reporting__rrule=f"FREQ=WEEKLY;BYDAY={BYDAY[day.weekday()]}",
            reporting__window_opens="09:00", reporting__window_hours=10,
            reporting__grace_hours=24, review_due=(day + timedelta(days=90)).isoformat(),
            **overrides)
        case = self.call_api(self.registry, "POST", "/v1/cases", json=body, expect=201).json()

        def pin() -> str | None:  # 404 until checkin's feed brings the case
            response = self.call_api(self.checkin, "POST", f"/v1/cases/{case['id']}/pin",
                                     expect=None)
            assert response.status_code in (201, 404), response.text
            return response.json()["pin"] if response.status_code == 201 else None

        return Person(case, phone, eventually(pin, timeout=30, what="checkin issuing a PIN"))

    def checkins(self, person: Person) -> dict[str, Any]:
        return self.call_api(self.checkin, "GET", f"/v1/cases/{person.id}/checkins").json()

    def first_window(self, person: Person) -> dict[str, Any]:
        return self.checkins(person)["expected"][0]

    def reminders(self, person: Person) -> list[dict[str, Any]]:
        """What the caseworker sees notifications planned and sent for the case."""
        response = self.call_api(self.notifications, "GET",
                                 f"/v1/cases/{person.id}/notifications", expect=None)
        assert response.status_code in (200, 404), response.text  # 404: not there yet
        return response.json()["items"] if response.status_code == 200 else []

    def planned(self, person: Person, *kinds: str) -> list[dict[str, Any]]:
        """The first window's reminders of ``kinds``, once notifications planned them
        all (it learns the window from checkin's feed, the contact from the registry's)."""
        window = self.first_window(person)

        def ready() -> list[dict[str, Any]] | None:
            items = [r for r in self.reminders(person) if r["status"] == "planned"
                     and r["expected_checkin_id"] == window["id"] and r["kind"] in kinds]
            return items if {r["kind"] for r in items} == set(kinds) else None

        return eventually(ready, timeout=30, what=f"reminders {kinds} planned")

    def follow_ups(self, person: Person) -> list[dict[str, Any]]:
        return self.call_api(self.checkin, "GET", "/v1/follow-ups",
                             params={"case_id": person.id}).json()["items"]

    # --- the person's phone -------------------------------------------------------------

    def text(self, person_or_number: Person | str, body: str) -> list[str]:
        """An SMS to Waymark, signed as Twilio signs it; the replies the person reads."""
        return self._phone(person_or_number, lambda phone: phone.sms(body))

    def call(self, number: str, digits: list[str]) -> list[str]:
        """A call to Waymark, pressing ``digits`` at each question; what was heard."""
        return self._phone(number, lambda phone: phone.call(digits))

    def _phone(self, who: Person | str, act: Callable[[Phone], Awaitable[Any]]) -> list[str]:
        number = who.phone if isinstance(who, Person) else who

        async def run() -> list[str]:
            async with httpx.AsyncClient(base_url=self.checkin.url, timeout=15) as client:
                phone = Phone(number=number, client=client, public_url=self.checkin.url,
                              account_sid=self.twilio.account_sid,
                              auth_token=self.twilio.auth_token, say=lambda _: None)
                result = await act(phone)
                return result if result is not None else phone.heard

        return asyncio.run(run())

    def texts_to(self, person: Person) -> list[str]:
        """Every SMS the Twilio-compatible server accepted for the person's number."""
        return [r["form"]["Body"] for r in self.twilio.requests()
                if r["status"] == 201 and r["path"].endswith("/Messages.json")
                and r["form"].get("To") == person.phone]

    # --- summaries ----------------------------------------------------------------------

    def summary(self, day: date, *, role: str, **params: str) -> dict[str, Any]:
        return self.call_api(self.checkin, "GET", "/v1/summaries/attendance", role=role,
                             sub=f"{role}-1", params={"from": day.isoformat(),
                                                      "to": day.isoformat(), **params}).json()


def row(summary: dict[str, Any], programme: str) -> dict[str, Any] | None:
    """The summary's row for ``programme`` (grouped by programme), if listed."""
    return next((r for r in summary["rows"] if r["programme"] == programme), None)
