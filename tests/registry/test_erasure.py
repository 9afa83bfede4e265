"""Erasure in the registry: a supervisor's ``POST /v1/cases/{id}/erasure`` and the
retention job. The person's names, date of birth, number and the free text about them
go; the anonymous record stays, the API and the feed still answer for the case."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from registry.enums import CaseStatus
from registry.models import Case, CaseFieldChange, ChangeEvent, Person

from tests.conftest import auth
from tests.registry.conftest import NOW
from tests.registry.factories import case_in

SUPERVISOR = auth("supervisor", sub="sam")
CASEWORKER = auth("caseworker", sub="alice")
REASON = {"reason": "the person asked for their data to be erased"}


async def erase(registry, case_id: str, body=None, headers=SUPERVISOR):
    return await registry.post(f"/v1/cases/{case_id}/erasure", json=REASON if body is None
                               else body, headers=headers)


async def feed(registry) -> list[dict]:
    page = await registry.get("/v1/changes", params={"limit": 1000}, headers=auth("service"))
    assert page.status_code == 200, page.text
    return page.json()["changes"]


@pytest.mark.parametrize("status", list(CaseStatus))
async def test_a_supervisor_erases_a_case_in_any_status_and_it_ends_closed(registry, status):
    case = await case_in(registry, status)
    response = await erase(registry, case["id"])
    assert response.status_code == 200, response.text
    erased = response.json()
    assert erased["status"] == "closed"
    assert erased["erased_at"] is not None
    person = erased["person"]
    assert (person["given_name"], person["family_name"], person["date_of_birth"],
            person["phone"]) == (None, None, None, None)
    # What summaries and the anonymous record need stays.
    assert (person["sex"], person["nationality"]) == ("female", "SD")
    assert erased["programme"] == case["programme"]
    assert erased["vulnerabilities"] == ["survivor_of_trafficking"]
    assert erased["version"] == case["version"] + 1
    assert response.headers["ETag"] == f'"{erased["version"]}"'
    # The API still answers for it, without a 500.
    got = await registry.get(f"/v1/cases/{case['id']}", headers=SUPERVISOR)
    assert got.status_code == 200 and got.json() == erased
    listed = await registry.get("/v1/cases", headers=SUPERVISOR)
    assert listed.status_code == 200
    assert erased in listed.json()["items"]
    desk = await registry.get("/v1/desk/cases", params={"reference": case["reference"]},
                              headers=auth("officer", sub="olu"))
    assert desk.status_code == 200, desk.text
    assert (desk.json()["given_name"], desk.json()["family_initial"]) == (None, None)


async def test_erasure_removes_personal_data_and_free_text_everywhere_in_the_registry(
        registry, registry_app):
    case = await case_in(registry, CaseStatus.suspended)
    url = f"/v1/cases/{case['id']}"
    response = await registry.post(f"{url}/delegations", headers=SUPERVISOR, json={
        "to": "bob", "until": "2026-12-20", "reason": "Amina's caseworker is on leave"})
    assert response.status_code == 201, response.text
    response = await registry.patch(url, json={"person": {"given_name": "Aminata"}},
                                    headers=CASEWORKER)
    assert response.status_code == 200, response.text
    assert (await erase(registry, case["id"])).status_code == 200
    case_id = uuid.UUID(case["id"])

    history = (await registry.get(f"{url}/history", headers=SUPERVISOR)).json()
    erasure = history[-1]
    assert (erasure["kind"], erasure["actor"], erasure["actor_role"], erasure["reason"]) == (
        "erasure", "sam", "supervisor", REASON["reason"])
    assert "person.date_of_birth" in erasure["fields"]
    closing = next(e for e in history if e.get("to_status") == "closed")
    assert (closing["from_status"], closing["reason"]) == ("suspended", "closed to be erased")
    # Every reason written before the erasure is gone; who did what, and when, stays.
    assert [e["reason"] for e in history[:-2]] == [None] * (len(history) - 2)
    assert [e["kind"] for e in history[:-2]] == ["transition", "transition", "delegation",
                                                 "update"]

    async with registry_app.state.sessionmaker() as session:
        person = (await session.execute(sa.select(Person).join(Case).where(
            Case.id == case_id))).scalar_one()
        assert (person.given_name, person.family_name, person.date_of_birth,
                person.phone_encrypted, person.phone_hash) == (None,) * 5
        case_row = await session.get(Case, case_id)
        assert [d.reason for d in case_row.delegations] == [None]
        # The registry's feed keeps nothing of the case but ``case.erased``.
        events = (await session.execute(sa.select(ChangeEvent).where(
            ChangeEvent.subject_id == case["id"]))).scalars().all()
    assert [e.type for e in events] == ["case.erased"]
    assert events[0].data == {
        "schema_version": 1, "id": case["id"], "version": case_row.version,
        "status": "closed", "outcome": None, "erased_at": events[0].data["erased_at"]}


async def test_erasing_an_erased_case_again_answers_the_same_and_changes_nothing(
        registry, registry_app):
    case = await case_in(registry, CaseStatus.active)
    first = await erase(registry, case["id"])
    again = await erase(registry, case["id"], body={"reason": "asked twice"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    async with registry_app.state.sessionmaker() as session:
        erasures = await session.scalar(sa.select(sa.func.count()).select_from(
            CaseFieldChange).where(CaseFieldChange.case_id == uuid.UUID(case["id"]),
                                   CaseFieldChange.kind == "erasure"))
        events = await session.scalar(sa.select(sa.func.count()).select_from(
            ChangeEvent).where(ChangeEvent.subject_id == case["id"]))
    assert (erasures, events) == (1, 1)
    trail = (await registry.get("/v1/audit", headers=SUPERVISOR,
                                params={"case_id": case["id"]})).json()["items"]
    assert [(e["action"], e["actor"], e["role"]) for e in trail
            if e["action"] == "case.erased"] == [("case.erased", "sam", "supervisor")]


async def test_an_erased_case_cannot_be_changed(registry):
    case = await case_in(registry, CaseStatus.active)
    await erase(registry, case["id"])
    url = f"/v1/cases/{case['id']}"
    assert (await registry.patch(url, json={"programme": "x_y"},
                                 headers=SUPERVISOR)).status_code == 409
    assert (await registry.post(f"{url}/transitions", json={"to": "active", "reason": "oops"},
                                headers=SUPERVISOR)).status_code == 409


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": None}, {"reason": "x\x00y"}])
async def test_an_erasure_without_a_reason_is_a_422_naming_reason(registry, body):
    case = await case_in(registry, CaseStatus.active)
    response = await erase(registry, case["id"], body=body)
    assert response.status_code == 422, response.text
    assert "reason" in [e["field"] for e in response.json()["errors"]]
    got = (await registry.get(f"/v1/cases/{case['id']}", headers=SUPERVISOR)).json()
    assert got["erased_at"] is None and got["person"]["given_name"] == "Amina"


async def test_erasure_of_an_unknown_case_is_a_404_and_only_supervisors_erase(registry):
    response = await erase(registry, "00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    case = await case_in(registry, CaseStatus.active)
    assert (await erase(registry, case["id"], headers=CASEWORKER)).status_code == 403


# --- retention ---------------------------------------------------------------------------


async def test_the_retention_job_erases_cases_a_year_after_they_ended_and_not_before(
        registry, registry_app, fixed_clock):
    closed = await case_in(registry, CaseStatus.closed)
    resolved = await case_in(registry, CaseStatus.resolved)
    active = await case_in(registry, CaseStatus.active)
    ended = NOW  # the clock ticks from NOW: every case ended within a second of it

    fixed_clock.move_to(ended + timedelta(days=364, hours=23))
    await registry_app.state.run_retention()
    for case in (closed, resolved, active):
        got = (await registry.get(f"/v1/cases/{case['id']}", headers=SUPERVISOR)).json()
        assert got["erased_at"] is None, case

    fixed_clock.move_to(ended + timedelta(days=365, minutes=1))
    await registry_app.state.run_retention()
    states = {}
    for name, case in (("closed", closed), ("resolved", resolved), ("active", active)):
        got = (await registry.get(f"/v1/cases/{case['id']}", headers=SUPERVISOR)).json()
        states[name] = (got["status"], got["erased_at"] is not None, got["outcome"],
                        got["person"]["given_name"])
    assert states == {"closed": ("closed", True, None, None),
                      "resolved": ("closed", True, "regularised", None),
                      "active": ("active", False, None, "Amina")}
    history = (await registry.get(f"/v1/cases/{closed['id']}/history",
                                  headers=SUPERVISOR)).json()
    assert (history[-1]["kind"], history[-1]["actor"], history[-1]["actor_role"]) == (
        "erasure", "registry-retention", "service")
    trail = (await registry.get("/v1/audit", headers=SUPERVISOR,
                                params={"case_id": closed["id"]})).json()["items"]
    assert [(e["actor"], e["role"]) for e in trail if e["action"] == "case.erased"] == [
        ("registry-retention", "service")]


async def test_the_retention_period_is_a_setting(database_urls, fixed_clock):
    from registry.app import create_app
    from registry.config import RegistrySettings

    from tests.conftest import client_for, rolled_back

    settings = RegistrySettings(WAYMARK_REGISTRY_DATABASE_URL=database_urls["registry"],
                                env="test", WAYMARK_REGISTRY_JOBS_SECONDS=0,
                                WAYMARK_RETENTION_DAYS=30)
    assert RegistrySettings(env="test").retention_days == 365
    async with rolled_back(create_app(settings)) as app, client_for(app, "r") as registry:
        case = await case_in(registry, CaseStatus.closed)
        fixed_clock.move_to(NOW + timedelta(days=30, minutes=1))
        await app.state.run_retention()
        got = (await registry.get(f"/v1/cases/{case['id']}", headers=SUPERVISOR)).json()
        assert got["erased_at"] is not None


async def test_two_retention_runs_at_once_erase_each_case_once(fresh_registry,
                                                                 fresh_registry_app,
                                                                 fixed_clock):
    cases = [await case_in(fresh_registry, CaseStatus.closed) for _ in range(5)]
    fixed_clock.move_to(datetime(2027, 12, 2, tzinfo=UTC))
    await asyncio.gather(fresh_registry_app.state.run_retention(),
                         fresh_registry_app.state.run_retention())
    async with fresh_registry_app.state.sessionmaker() as session:
        erasures = (await session.execute(
            sa.select(CaseFieldChange.case_id, sa.func.count()).where(
                CaseFieldChange.kind == "erasure").group_by(CaseFieldChange.case_id))).all()
        erased_events = (await session.execute(
            sa.select(ChangeEvent.subject_id, sa.func.count()).where(
                ChangeEvent.type == "case.erased").group_by(ChangeEvent.subject_id))).all()
    ids = {c["id"] for c in cases}
    assert {str(case_id): n for case_id, n in erasures} == dict.fromkeys(ids, 1)
    assert dict(erased_events) == dict.fromkeys(ids, 1)


async def test_a_consumer_past_the_erased_cases_events_still_reads_case_erased(
        fresh_registry):
    """Erasure deletes the case's events, the feed's newest among them: the id of
    ``case.erased`` must still come after a cursor that had read them (SQLite would hand
    a deleted id out again without AUTOINCREMENT)."""
    case = await case_in(fresh_registry, CaseStatus.closed)
    for _ in range(300):
        changes = await feed(fresh_registry)
        if len([c for c in changes if c["subject_id"] == case["id"]]) == 2:
            break
        await asyncio.sleep(0.05)
    cursor = changes[-1]["cursor"]
    assert (await erase(fresh_registry, case["id"])).status_code == 200
    for _ in range(300):
        page = await fresh_registry.get("/v1/changes", params={"after": cursor},
                                        headers=auth("service"))
        after = page.json()["changes"]
        if after:
            break
        await asyncio.sleep(0.05)
    assert [(c["type"], c["subject_id"]) for c in after] == [("case.erased", case["id"])]
