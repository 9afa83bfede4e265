"""What the registry publishes: each event type's payload, as a consumer reads it off
``GET /v1/changes``, is its model's, and carries every key the checkin and
notifications services read today, with the same shapes."""

from __future__ import annotations

import asyncio

import pytest
from registry.enums import CaseStatus, EventType
from registry.events import EVENTS

from tests.conftest import auth
from tests.registry.factories import case_in

CASEWORKER = auth("caseworker", sub="alice")

# Exactly the keys published before events had models, plus schema_version, plus the
# running delegations (issue 11: a key added, so still version 1).
KEYS = {"schema_version", "id", "reference", "keypad_reference", "version", "status",
        "outcome", "programme", "vulnerabilities", "caseworker", "delegations", "review_due",
        "person", "reporting"}
PERSON_KEYS = {"date_of_birth", "sex", "nationality", "preferred_language",
               "phone_encrypted", "phone_hash"}
REPORTING_KEYS = {"channels", "rrule", "window_opens", "window_hours", "grace_hours",
                  "timezone", "starts_on"}
# case.erased carries no snapshot: nothing personal, only where the case ended.
ERASED_KEYS = {"schema_version", "id", "version", "status", "outcome", "erased_at"}
SNAPSHOTS = [t for t in EventType if t != EventType.case_erased]


async def published(registry) -> dict[str, dict]:
    """Drive the registry through one of each write; the last payload of each type.
    ``registry`` must commit (``fresh_registry``): on PostgreSQL the feed shows only
    committed transactions."""
    case = await case_in(registry, CaseStatus.active)
    url = f"/v1/cases/{case['id']}"
    patched = await registry.patch(url, json={"reporting": {"grace_hours": 48}},
                                   headers=CASEWORKER)
    assert patched.status_code == 200, patched.text
    moved = await registry.post(f"{url}/transitions",
                                json={"to": "resolved", "reason": "granted status",
                                      "outcome": "regularised"}, headers=CASEWORKER)
    assert moved.status_code == 200, moved.text
    # Erasure deletes a case's earlier events from the feed: another case is erased.
    erased = await case_in(registry, CaseStatus.active)
    response = await registry.post(f"/v1/cases/{erased['id']}/erasure",
                                   json={"reason": "asked for it"},
                                   headers=auth("supervisor", sub="sam"))
    assert response.status_code == 200, response.text
    # On PostgreSQL the feed holds back events until every older transaction in the
    # cluster ends (shared/changefeed.py), so a busy server shows them a moment later.
    for _ in range(300):
        page = await registry.get("/v1/changes", params={"limit": 500}, headers=auth("service"))
        assert page.status_code == 200, page.text
        events = {c["type"]: c["data"] for c in page.json()["changes"]
                  if c["subject_id"] in (case["id"], erased["id"])}
        if len(events) == len(EventType):
            return events
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {sorted(events)} reached the feed")


def test_every_event_type_has_a_model_with_schema_version_1():
    assert set(EVENTS) == set(EventType)
    for event_type, model in EVENTS.items():
        assert model.type == event_type
        assert model.model_fields["schema_version"].default == 1


@pytest.mark.parametrize("event_type", SNAPSHOTS)
async def test_each_payload_is_its_model_and_keeps_every_key_consumers_read(
    fresh_registry, event_type
):
    payload = (await published(fresh_registry))[event_type]
    event = EVENTS[event_type].model_validate(payload)
    assert event.model_dump(mode="json") == payload
    assert set(payload) == KEYS
    assert set(payload["person"]) == PERSON_KEYS
    assert set(payload["reporting"]) == REPORTING_KEYS
    assert payload["schema_version"] == 1
    # The shapes consumers parse: strings for ids and dates, HH:MM for the window.
    assert isinstance(payload["id"], str)
    assert payload["reporting"]["window_opens"] == "09:00"
    assert payload["review_due"] == event.review_due.isoformat()
    assert payload["person"]["date_of_birth"] == "1990-04-02"
    assert "given_name" not in payload["person"] and "phone" not in payload["person"]
    assert "+44" not in str(payload)


async def test_payloads_follow_the_case(fresh_registry):
    events = await published(fresh_registry)
    created, updated, changed = (events[t] for t in SNAPSHOTS)
    assert (created["version"], created["status"], created["outcome"]) == (1, "active", None)
    assert (updated["version"], updated["reporting"]["grace_hours"]) == (2, 48)
    assert (changed["version"], changed["status"], changed["outcome"]) == (
        3, "resolved", "regularised")


async def test_case_erased_carries_nothing_personal(fresh_registry):
    payload = (await published(fresh_registry))[EventType.case_erased]
    event = EVENTS[EventType.case_erased].model_validate(payload)
    assert event.model_dump(mode="json") == payload
    assert set(payload) == ERASED_KEYS
    assert (payload["schema_version"], payload["status"], payload["outcome"]) == (
        1, "closed", None)
