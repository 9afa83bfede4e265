"""The erasure scan: a person's case goes through all three services for real (the
registry's API, checkin and notifications following each other's feeds in process,
reminders, SMS and keypad check-ins, wrong PINs, a lock, STOP and START, an in-person
check-in, an excusal, follow-ups), then a supervisor erases it and the feeds run.

Then every value of every column of every table of the three databases (tables and
columns read from the databases themselves) is searched for the person's names, date
of birth and number in every form: as typed, E.164, national digits, its keyed hash,
and any Fernet token that decrypts to it. On SQLite the raw database files and their
write-ahead logs are searched byte by byte too. The attendance summary answers exactly
as it did before the erasure."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import time_machine
from asgi_lifespan import LifespanManager
from notifications.app import dispatcher
from notifications.models import LoggedMessage

from shared.db import sync_url
from shared.migrations import upgrade
from tests.checkin.helpers import VAULT, sms
from tests.checkin.test_lockout import _five_wrong_by_reference
from tests.checkin.test_pin import other_than, reply
from tests.checkin.test_voice import STRANGER
from tests.conftest import (
    auth,
    checkin_settings,
    client_for,
    notifications_settings,
    registry_settings,
)
from tests.registry.factories import case_body
from tests.support.feeds import settled

CASEWORKER = auth("caseworker", sub="alice")
SUPERVISOR = auth("supervisor", sub="sam")
OFFICER = auth("officer", sub="olu")
SERVICE = auth("service", sub="contracts")

GIVEN, FAMILY = "Zanelisiwe", "Okonkwo-Brightwater"
BORN = "1987-03-19"
TYPED = "+44 7400 193847"  # as a caseworker types it
E164 = "+447400193847"
NATIONAL = ("07400193847", "07400 193847", "7400193847", "447400193847")
HASH = VAULT.lookup_hash(E164)
DATES = (BORN, "19870319", "19/03/1987", "03/19/1987", "19.03.1987", "19 March 1987")
PLAIN = (GIVEN, FAMILY, *DATES, TYPED, E164, *NATIONAL, HASH)
FERNET = re.compile(r"gAAAAA[0-9A-Za-z_\-]+=*")

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EVENING_BEFORE_FIRST = datetime(2026, 12, 6, 18, 1, tzinfo=UTC)
FIRST_WINDOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
AFTER_SECOND_GRACE = datetime(2026, 12, 15, 20, 0, tzinfo=UTC)
GROUPINGS = ("", "programme", "sex", "age_group", "nationality", "vulnerability",
             "programme,sex,age_group")


class _ServiceToken(httpx.Auth):
    """A service token minted for each request, by the test's clock (which travels)."""

    def auth_flow(self, request):
        request.headers["Authorization"] = SERVICE["Authorization"]
        yield request


def _follow(consumer, source) -> None:
    """Point a feed consumer at another app, in process."""
    consumer.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=source),
                                        base_url="http://source", auth=_ServiceToken())


async def _run_feeds(registry, checkin, notifications) -> None:
    """Every consumer catches up, twice over (what one applies, another may publish on),
    each once its source's events are all visible (``settled``)."""
    for _ in range(2):
        for source, consumer in (
                (registry, checkin.state.registry_feed),
                (registry, notifications.state.registry_feed),
                (checkin, notifications.state.checkin_feed),
                (notifications, checkin.state.notifications_feed)):
            await settled(source)
            await consumer.catch_up()
            assert consumer.stall is None, consumer.status()


def _text(value: Any) -> str | bytes:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, bytes):
        return value
    return str(value)


def _decrypts_to_the_number(blob: str) -> bool:
    for token in FERNET.findall(blob):
        try:
            if VAULT.decrypt(token) == E164:
                return True
        except ValueError:
            continue
    return False


def scan_database(url: str) -> list[str]:
    """Where in the database anything of the person is found: ``table.column: form``."""
    found = []
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            assert "change_events" in tables and len(tables) > 5
            for table in tables:
                result = conn.execute(sa.text(f'SELECT * FROM "{table}"'))
                columns = list(result.keys())
                for row in result:
                    for column, value in zip(columns, row, strict=True):
                        if value is None:
                            continue
                        text = _text(value)
                        if isinstance(text, bytes):
                            text = text.decode("utf-8", "replace")
                        found += [f"{table}.{column}: {form}" for form in PLAIN
                                  if form.lower() in text.lower()]
                        if _decrypts_to_the_number(text):
                            found.append(f"{table}.{column}: ciphertext of the number")
    finally:
        engine.dispose()
    return found


def scan_files(url: str) -> list[str]:
    """SQLite only: the database file and its write-ahead log, byte by byte."""
    path = Path(url.split(":///", 1)[1])
    found = []
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-journal")):
        if not file.exists():
            continue
        raw = file.read_bytes()
        found += [f"{file.name}: {form}" for form in PLAIN if form.encode() in raw]
        if _decrypts_to_the_number(raw.decode("latin-1")):
            found.append(f"{file.name}: ciphertext of the number")
    return found


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


async def test_after_erasure_nothing_of_the_person_is_left_anywhere(empty_database, clock,
                                                                     caplog):
    urls = {}
    for service in ("registry", "checkin", "notifications"):
        urls[service] = empty_database(f"erasure_{service}_{uuid.uuid4().hex[:6]}")
        upgrade(service, urls[service])
    from checkin.app import create_app as create_checkin
    from notifications.app import create_app as create_notifications
    from registry.app import create_app as create_registry

    registry_app = create_registry(registry_settings(urls["registry"]))
    checkin_app = create_checkin(checkin_settings(
        urls["checkin"], WAYMARK_CHECKIN_FEED_POLL_SECONDS=0, WAYMARK_CHECKIN_JOBS_SECONDS=0,
        suppression_threshold=1))
    notifications_app = create_notifications(notifications_settings(
        urls["notifications"], WAYMARK_NOTIFY_RATE=0))
    async with LifespanManager(registry_app), LifespanManager(checkin_app), \
            LifespanManager(notifications_app), \
            client_for(registry_app, "registry") as registry, \
            client_for(checkin_app, "checkin") as checkin, \
            client_for(notifications_app, "notifications"):
        _follow(checkin_app.state.registry_feed, registry_app)
        _follow(checkin_app.state.notifications_feed, notifications_app)
        _follow(notifications_app.state.registry_feed, registry_app)
        _follow(notifications_app.state.checkin_feed, checkin_app)
        apps = (registry_app, checkin_app, notifications_app)

        # --- the person's life in Waymark ------------------------------------------------
        created = await registry.post("/v1/cases", headers=CASEWORKER, json=case_body(
            person__given_name=GIVEN, person__family_name=FAMILY, person__date_of_birth=BORN,
            person__phone=TYPED, person__preferred_language="en"))
        assert created.status_code == 201, created.text
        case_id = created.json()["id"]
        assert created.json()["person"]["phone"] == E164
        bystander = await registry.post("/v1/cases", headers=CASEWORKER,
                                        json=case_body(person__phone="+447911123456"))
        assert bystander.status_code == 201, bystander.text
        url = f"/v1/cases/{case_id}"
        for to in ("suspended", "active"):
            response = await registry.post(f"{url}/transitions", headers=CASEWORKER, json={
                "to": to, "reason": f"{GIVEN} {FAMILY} was in hospital ({BORN})"})
            assert response.status_code == 200, response.text
        response = await registry.post(f"{url}/delegations", headers=SUPERVISOR, json={
            "to": "bob", "until": "2026-12-20", "reason": f"cover for {GIVEN}'s caseworker"})
        assert response.status_code == 201, response.text
        await _run_feeds(*apps)

        response = await checkin.post(f"{url}/pin", headers=CASEWORKER)
        assert response.status_code == 201, response.text
        pin = response.json()["pin"]

        clock.move_to(EVENING_BEFORE_FIRST)
        assert (await dispatcher(notifications_app).run_once()).sent >= 2
        clock.move_to(FIRST_WINDOW)
        assert "try 4 more times" in reply(await sms(checkin, other_than(pin), phone=E164))
        assert reply(await sms(checkin, pin, phone=E164)).startswith("Thank you")
        await sms(checkin, "STOP", phone=E164)
        await _run_feeds(*apps)
        await sms(checkin, "START", phone=E164)
        await _five_wrong_by_reference(checkin_app, checkin, uuid.UUID(case_id), pin, STRANGER)
        response = await checkin.post("/v1/checkins", headers=OFFICER | {"Idempotency-Key": "k1"},
                                      json={"case_id": case_id, "identity_confirmed_by": "document",
                                            "reporting_centre": f"desk where {GIVEN} reports"})
        assert response.status_code == 201, response.text
        view = (await checkin.get(f"{url}/checkins", headers=CASEWORKER)).json()
        response = await checkin.post(
            f"/v1/expected-checkins/{view['expected'][1]['id']}/excusal", headers=CASEWORKER,
            json={"reason": f"{GIVEN} {FAMILY} has a court date"})
        assert response.status_code == 200, response.text
        for follow_up in (await checkin.get("/v1/follow-ups", headers=SUPERVISOR)).json()["items"]:
            if follow_up["case_id"] == case_id:
                response = await checkin.post(
                    f"/v1/follow-ups/{follow_up['id']}/close", headers=SUPERVISOR,
                    json={"note": f"called {GIVEN} on {TYPED}"})
                assert response.status_code == 200, response.text
        await _run_feeds(*apps)
        clock.move_to(AFTER_SECOND_GRACE)
        await checkin_app.state.run_jobs()
        await dispatcher(notifications_app).run_once()
        response = await registry.post(f"{url}/transitions", headers=CASEWORKER, json={
            "to": "closed", "reason": f"{GIVEN} left the programme"})
        assert response.status_code == 200, response.text
        await _run_feeds(*apps)
        async with notifications_app.state.sessionmaker() as session:
            assert await session.scalar(sa.select(sa.func.count()).select_from(LoggedMessage))
        # Before erasure the scan finds the person everywhere: it can fail.
        before_scan = [hit for service in urls.values() for hit in scan_database(service)]
        assert {GIVEN, BORN, HASH, "ciphertext of the number"} <= {
            hit.split(": ")[1] for hit in before_scan}, before_scan
        if urls["registry"].startswith("sqlite"):
            assert {GIVEN, HASH, "ciphertext of the number"} <= {
                hit.split(": ")[1] for hit in scan_files(urls["registry"])}

        async def summary() -> list[Any]:
            answers = []
            for group_by in GROUPINGS:
                response = await checkin.get("/v1/summaries/attendance", headers=SUPERVISOR,
                                             params={"from": "2026-12-01", "to": "2027-01-31",
                                                     "group_by": group_by} if group_by else
                                             {"from": "2026-12-01", "to": "2027-01-31"})
                assert response.status_code == 200, response.text
                answers.append(response.json())
            return answers

        before = await summary()
        assert any(row.get("age_group") == "35-49" for row in before[3]["rows"]), before[3]

        # --- the erasure -----------------------------------------------------------------
        clock.shift(timedelta(days=1))
        with caplog.at_level(logging.WARNING):
            response = await registry.post(f"{url}/erasure", headers=SUPERVISOR,
                                            json={"reason": "right to erasure, request 42"})
            assert response.status_code == 200, response.text
            await _run_feeds(*apps)
        assert not [r for r in caplog.records if "after-commit" in r.getMessage()
                    or "checkpoint" in r.getMessage()]

        assert await summary() == before
        found = [f"{service}: {hit}" for service, url_ in urls.items()
                 for hit in scan_database(url_)]
        assert found == []
        if urls["registry"].startswith("sqlite"):
            files = [f"{service}: {hit}" for service, url_ in urls.items()
                     for hit in scan_files(url_)]
            assert files == []
        # The bystander is untouched.
        other = (await registry.get(f"/v1/cases/{bystander.json()['id']}",
                                    headers=SUPERVISOR)).json()
        assert other["person"]["phone"] == "+447911123456" and other["erased_at"] is None
