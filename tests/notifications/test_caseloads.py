"""Caseloads on notifications: a caseworker lists the reminders of their own cases and
of cases delegated to them, as the registry's feed last said; any other case answers
exactly like an unknown one (404). Supervisors see every case."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.conftest import auth
from tests.notifications.helpers import CASEWORKER, add_person, case_change, from_registry

BOB = auth("caseworker", sub="bob")
SUPERVISOR = auth("supervisor", sub="sam")


def path(case_id: uuid.UUID) -> str:
    return f"/v1/cases/{case_id}/notifications"


async def test_another_caseworker_s_case_answers_like_an_unknown_one(
        notifications_app, notifications, clock):
    case_id, _ = await add_person(notifications_app)  # alice's
    theirs = await notifications.get(path(case_id), headers=BOB)
    unknown = await notifications.get(path(uuid.uuid4()), headers=BOB)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"] == unknown.json()["detail"]
    assert (await notifications.get(path(case_id), headers=CASEWORKER)).status_code == 200
    assert (await notifications.get(path(case_id), headers=SUPERVISOR)).status_code == 200


async def test_a_delegation_from_the_feed_opens_the_case_until_its_last_day(
        notifications_app, notifications, clock):
    case_id, _ = await add_person(notifications_app)
    delegated = case_change(case_id=case_id, version=2)
    delegated.data["delegations"] = [{"to": "bob", "until": "2026-12-03"}]
    await from_registry(notifications_app, delegated)
    assert (await notifications.get(path(case_id), headers=BOB)).status_code == 200
    clock.shift(timedelta(days=2))  # Thursday 3 December, noon: the last day of cover
    assert (await notifications.get(path(case_id), headers=BOB)).status_code == 200
    clock.shift(timedelta(days=1))
    assert (await notifications.get(path(case_id), headers=BOB)).status_code == 404
    assert (await notifications.get(path(case_id), headers=CASEWORKER)).status_code == 200


async def test_a_reassignment_from_the_feed_moves_the_case(notifications_app, notifications,
                                                           clock):
    case_id, _ = await add_person(notifications_app)
    await from_registry(notifications_app,
                        case_change(case_id=case_id, version=2, caseworker="bob"))
    assert (await notifications.get(path(case_id), headers=BOB)).status_code == 200
    assert (await notifications.get(path(case_id), headers=CASEWORKER)).status_code == 404


def test_not0004_refills_copies_made_before_caseloads(empty_database):
    """Contacts copied before the caseworker was kept are re-read from the registry's
    feed: their version drops to 0 and the registry's cursor restarts, so the next poll
    re-applies every case event and fills ``caseworker`` and ``delegations``."""
    import sqlalchemy as sa
    from alembic import command

    from shared.db import sync_url
    from shared.migrations import alembic_config

    url = empty_database(f"not0004_{uuid.uuid4().hex[:6]}")
    config = alembic_config("notifications", url)
    command.upgrade(config, "not0003")
    engine = sa.create_engine(sync_url(url))
    case_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO contacts (case_id, version, status, phone_encrypted, phone_hash, "
            "language, channels, timezone, programme, updated_at) VALUES (:id, 7, 'active', "
            "'x', 'h', 'ar', '[]', 'Europe/London', 'p', '2026-12-01 12:00:00+00:00')"),
            {"id": case_id.hex if url.startswith("sqlite") else str(case_id)})
        conn.execute(sa.text("INSERT INTO feed_cursors (feed, cursor, updated_at) VALUES "
                             "('registry', '0-42', '2026-12-01 12:00:00+00:00'), "
                             "('checkin', '0-9', '2026-12-01 12:00:00+00:00')"))
    command.upgrade(config, "not0004")
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT version, caseworker, delegations FROM contacts")).one()
        cursors = dict(conn.execute(sa.text("SELECT feed, cursor FROM feed_cursors")).all())
    engine.dispose()
    assert (row.version, row.caseworker) == (0, None)
    assert row.delegations in ("[]", [])
    assert cursors == {"checkin": "0-9"}
