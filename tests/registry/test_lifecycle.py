"""The case lifecycle: every legal transition works and is kept in the history; every
illegal one answers 409 and changes nothing."""

from __future__ import annotations

import itertools

import pytest
from registry.enums import CaseStatus
from registry.service import TRANSITIONS

from tests.conftest import auth
from tests.registry.factories import case_in

CASEWORKER = auth("caseworker", sub="alice")
STATUSES = tuple(CaseStatus)
LEGAL = [(a, b) for a in STATUSES for b in STATUSES if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a, b in itertools.product(STATUSES, STATUSES) if (a, b) not in LEGAL]


def test_the_lifecycle_table_is_what_the_field_expects():
    assert set(LEGAL) == {
        ("active", "suspended"), ("active", "resolved"), ("active", "closed"),
        ("suspended", "active"), ("suspended", "resolved"), ("suspended", "closed"),
        ("resolved", "active"), ("resolved", "closed"),
    }


@pytest.mark.parametrize(("start", "to"), LEGAL)
async def test_legal_transition(registry, start, to):
    case = await case_in(registry, start)
    body = {"to": to, "reason": "reviewed with the person"}
    if to == "resolved":
        body["outcome"] = "voluntary_return"
    response = await registry.post(f"/v1/cases/{case['id']}/transitions", json=body,
                                   headers=auth("supervisor", sub="carol"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == to
    # A closed case keeps the outcome it was resolved with; reopening clears it.
    kept = case["outcome"] if to == "closed" else None
    assert response.json()["outcome"] == ("voluntary_return" if to == "resolved" else kept)
    history = (await registry.get(f"/v1/cases/{case['id']}/history", headers=CASEWORKER)).json()
    last = history[-1]
    assert (last["from_status"], last["to_status"]) == (start, to)
    assert last["reason"] == "reviewed with the person"
    assert (last["kind"], last["actor"], last["actor_role"]) == ("transition", "carol",
                                                                 "supervisor")
    assert last["at"]


@pytest.mark.parametrize(("start", "to"), ILLEGAL)
async def test_illegal_transition_is_409_and_changes_nothing(registry, start, to):
    case = await case_in(registry, start)
    body = {"to": to, "reason": "trying"} | ({"outcome": "other"} if to == "resolved" else {})
    response = await registry.post(f"/v1/cases/{case['id']}/transitions", json=body,
                                   headers=CASEWORKER)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    after = (await registry.get(f"/v1/cases/{case['id']}", headers=CASEWORKER)).json()
    assert after["status"] == start
    assert after["version"] == case["version"]


async def test_resolving_needs_an_outcome_and_only_resolving_takes_one(registry):
    case = await case_in(registry, CaseStatus.active)
    url = f"/v1/cases/{case['id']}/transitions"
    missing = await registry.post(url, json={"to": "resolved", "reason": "granted status"},
                                  headers=CASEWORKER)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "outcome"
    stray = await registry.post(url, json={"to": "suspended", "reason": "in hospital",
                                           "outcome": "removed"}, headers=CASEWORKER)
    assert stray.status_code == 422
    unknown = await registry.post(url, json={"to": "resolved", "reason": "x y z",
                                             "outcome": "deported"}, headers=CASEWORKER)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "outcome"


async def test_a_transition_needs_a_reason(registry):
    case = await case_in(registry, CaseStatus.active)
    response = await registry.post(f"/v1/cases/{case['id']}/transitions",
                                   json={"to": "suspended"}, headers=CASEWORKER)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reason"


async def test_reopening_clears_the_outcome(registry):
    case = await case_in(registry, CaseStatus.resolved)
    response = await registry.post(f"/v1/cases/{case['id']}/transitions",
                                   json={"to": "active", "reason": "appeal allowed"},
                                   headers=CASEWORKER)
    assert response.json()["outcome"] is None


async def test_a_closed_case_cannot_be_edited(registry):
    case = await case_in(registry, CaseStatus.closed)
    response = await registry.patch(f"/v1/cases/{case['id']}", json={"programme": "x_y"},
                                    headers=CASEWORKER)
    assert response.status_code == 409
