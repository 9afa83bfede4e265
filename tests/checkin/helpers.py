"""Building blocks for checkin tests: cases as the registry's feed delivers them,
Twilio webhooks signed the way Twilio signs them, and a clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from checkin import feeds
from checkin.models import ChangeEvent, Checkin, ExpectedCheckin, FollowUp
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from shared.changefeed import Change
from shared.config import DEV_PHONE_HASH_KEY, DEV_PHONE_KEY, DEV_TWILIO_TOKEN
from shared.crypto import PhoneVault
from tests.conftest import auth

PHONE = "+447911123456"
BASE_URL = "http://127.0.0.1:8002"  # the default public URL of checkin in tests
VAULT = PhoneVault(keys=DEV_PHONE_KEY, hash_key=DEV_PHONE_HASH_KEY)


CASEWORKER = auth("caseworker", sub="alice")
OFFICER = auth("officer", sub="olu")
SUPERVISOR = auth("supervisor", sub="sam")
# Monday 7 December 2026, London (GMT): the window is 09:00-19:00, grace to Tuesday 19:00.
FIRST_OPENS = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
BEFORE_START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def case_change(*, case_id: uuid.UUID | None = None, version: int = 1, status: str = "active",
                phone: str = PHONE, language: str = "ar", caseworker: str = "alice",
                vulnerabilities: list[str] | None = None, **reporting: Any) -> Change:
    """A ``case.*`` event shaped like the registry's (``registry.events.CaseEvent``, which
    checkin cannot import). It goes through checkin's own read model before it is
    returned, so a key checkin starts to need and this payload lacks fails here."""
    case_id = case_id or uuid.uuid4()
    number = f"{case_id.int % 10**9:09d}"
    data = {
        "schema_version": 1, "id": str(case_id), "reference": _reference(case_id),
        "keypad_reference": number + "0",
        "version": version, "status": status, "outcome": None,
        "programme": "community_case_management",
        "vulnerabilities": ["survivor_of_trafficking"] if vulnerabilities is None
        else vulnerabilities,
        "caseworker": caseworker, "review_due": "2027-03-01",
        "person": {"date_of_birth": "1990-04-02", "sex": "female", "nationality": "SD",
                   "preferred_language": language, "phone_encrypted": VAULT.encrypt(phone),
                   "phone_hash": VAULT.lookup_hash(phone)},
        "reporting": {"channels": ["sms", "voice", "in_person"], "rrule": "FREQ=WEEKLY;BYDAY=MO",
                      "window_opens": "09:00", "window_hours": 10, "grace_hours": 24,
                      "timezone": "Europe/London", "starts_on": "2026-12-07", **reporting},
    }
    change = Change(cursor="0-0", type="case.created" if version == 1 else "case.updated",
                    subject_id=str(case_id), occurred_at=BEFORE_START, data=data)
    feeds.parse_registry_change(change)
    return change


def _reference(case_id: uuid.UUID) -> str:
    alphabet = "23456789ACDEFHJKMNPRTWXY"
    n, chars = case_id.int, []
    for _ in range(7):
        n, digit = divmod(n, len(alphabet))
        chars.append(alphabet[digit])
    code = "".join(chars)
    return f"{code[:4]}-{code[4:]}"


async def apply(app, change: Change) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await feeds.apply_registry_change(session, change)


async def add_case(app, **kwargs: Any) -> uuid.UUID:
    """A case arriving from the registry's feed; returns its id."""
    change = case_change(**kwargs)
    await apply(app, change)
    return uuid.UUID(change.data["id"])


async def issue_pin(client: httpx.AsyncClient, case_id: uuid.UUID) -> str:
    response = await client.post(f"/v1/cases/{case_id}/pin", headers=CASEWORKER)
    assert response.status_code == 201, response.text
    return response.json()["pin"]


def signature(url: str, params: dict[str, str], token: str = DEV_TWILIO_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


async def twilio_post(client: httpx.AsyncClient, path: str, params: dict[str, str], *,
                      base_url: str = BASE_URL, token: str = DEV_TWILIO_TOKEN) -> httpx.Response:
    """POST a form the way Twilio does, signed over ``base_url + path``."""
    headers = {"X-Twilio-Signature": signature(base_url + path, params, token)}
    return await client.post(path, data=params, headers=headers)


async def sms(client: httpx.AsyncClient, body: str, *, sid: str | None = None,
              phone: str = PHONE) -> httpx.Response:
    params = {"MessageSid": sid or f"SM{uuid.uuid4().hex}", "AccountSid": "AC" + "0" * 32,
              "From": phone, "To": "+447700900000", "Body": body, "NumMedia": "0"}
    return await twilio_post(client, "/v1/twilio/sms", params)


async def rows(app, model, *where) -> list:
    async with app.state.sessionmaker() as session:
        return list((await session.execute(sa.select(model).where(*where))).scalars())


async def checkins(app, case_id: uuid.UUID) -> list[Checkin]:
    return await rows(app, Checkin, Checkin.case_id == case_id)


async def expected(app, case_id: uuid.UUID) -> list[ExpectedCheckin]:
    return sorted(await rows(app, ExpectedCheckin, ExpectedCheckin.case_id == case_id),
                  key=lambda e: e.opens_at)


async def follow_ups(app, case_id: uuid.UUID) -> list[FollowUp]:
    return await rows(app, FollowUp, FollowUp.case_id == case_id)


async def events(app, type: str | None = None) -> list[ChangeEvent]:
    where = [ChangeEvent.type == type] if type else []
    return sorted(await rows(app, ChangeEvent, *where), key=lambda e: e.id)


async def run_jobs(app) -> None:
    await app.state.run_jobs()


@asynccontextmanager
async def quiet_app(empty_database, **settings: Any) -> AsyncIterator[FastAPI]:
    """A checkin app on a database of its own built by the real migrations, with its
    feeds and jobs off (the test drives them), started and stopped around the block."""
    from asgi_lifespan import LifespanManager
    from checkin.app import create_app

    from shared.migrations import upgrade
    from tests.conftest import checkin_settings

    url = empty_database(f"checkin_{uuid.uuid4().hex[:6]}")
    upgrade("checkin", url)
    app = create_app(checkin_settings(url, WAYMARK_CHECKIN_FEED_POLL_SECONDS=0,
                                      WAYMARK_CHECKIN_JOBS_SECONDS=0, **settings))
    async with LifespanManager(app):
        yield app
