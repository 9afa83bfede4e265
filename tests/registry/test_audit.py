"""The registry's audit trail as a supervisor reads it: every look at or change to a
case by a person leaves an entry (who, as which role, what, which case, from where,
which request), in the same transaction as the work; nothing about the person is in
it; ``GET /v1/audit`` pages it for supervisors only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from registry.enums import CaseStatus

from tests.conftest import auth
from tests.registry.conftest import NOW
from tests.registry.factories import case_in

ALICE = auth("caseworker", sub="alice")
BOB = auth("caseworker", sub="bob")
SUPERVISOR = auth("supervisor", sub="sam")
OFFICER = auth("officer", sub="olu")


async def trail(registry, **params) -> list[dict]:
    response = await registry.get("/v1/audit", headers=SUPERVISOR, params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_each_read_and_change_leaves_one_entry_naming_who_what_and_which_request(registry):
    case = await case_in(registry, CaseStatus.active)
    url = f"/v1/cases/{case['id']}"
    response = await registry.get(url, headers=ALICE | {"X-Request-ID": "desk-42.a"})
    assert response.headers["X-Request-ID"] == "desk-42.a"
    await registry.patch(url, json={"programme": "family_support"}, headers=ALICE)
    await registry.get(f"{url}/history", headers=ALICE)
    await registry.get("/v1/desk/cases", params={"reference": case["reference"]},
                       headers=OFFICER)

    entries = await trail(registry, case_id=case["id"])
    assert [(e["action"], e["actor"], e["role"]) for e in entries] == [
        ("desk.looked_up", "olu", "officer"),
        ("history.read", "alice", "caseworker"),
        ("case.updated", "alice", "caseworker"),
        ("case.read", "alice", "caseworker"),
        ("case.created", "alice", "caseworker"),
    ]
    read = entries[3]
    assert read["request_id"] == "desk-42.a"
    assert read["client"] == "127.0.0.1"
    # Newest first, numbered without gaps.
    assert [e["seq"] for e in entries] == sorted((e["seq"] for e in entries), reverse=True)


async def test_a_request_id_that_could_forge_a_log_line_is_replaced(registry):
    case = await case_in(registry, CaseStatus.active)
    response = await registry.get(f"/v1/cases/{case['id']}",
                                  headers=ALICE | {"X-Request-ID": "a b\tc"})
    assert response.status_code == 200
    given = response.headers["X-Request-ID"]
    assert given != "a b\tc" and len(given) == 32
    latest = (await trail(registry, case_id=case["id"]))[0]
    assert latest["request_id"] == given


async def test_a_list_leaves_an_entry_per_case_shown_and_a_refusal_leaves_none(registry):
    mine = [await case_in(registry, CaseStatus.active) for _ in range(2)]
    other = await case_in(registry, CaseStatus.active, headers=BOB)
    listed = await registry.get("/v1/cases", headers=ALICE)
    assert listed.status_code == 200
    refused = await registry.get(f"/v1/cases/{other['id']}", headers=ALICE)
    assert refused.status_code == 404

    for case in mine:
        actions = [e["action"] for e in await trail(registry, case_id=case["id"])]
        assert actions.count("case.listed") == 1
    # Bob's case: created by Bob, never shown to Alice.
    assert [(e["action"], e["actor"]) for e in await trail(registry, case_id=other["id"])] \
        == [("case.created", "bob")]


async def test_the_trail_holds_ids_and_actions_never_the_person(registry):
    case = await case_in(registry, CaseStatus.active, person__given_name="Zainab",
                         person__family_name="Haddad", person__phone="+447400123456")
    await registry.get(f"/v1/cases/{case['id']}", headers=ALICE)
    await registry.patch(f"/v1/cases/{case['id']}",
                         json={"person": {"given_name": "Zaynab"}}, headers=ALICE)
    text = (await registry.get("/v1/audit", headers=SUPERVISOR,
                               params={"case_id": case["id"]})).text
    for personal in ("Zainab", "Zaynab", "Haddad", "7400123456", "1990-04-02"):
        assert personal not in text


async def test_filters_by_actor_and_time_and_pages_by_keyset(registry, fixed_clock):
    case = await case_in(registry, CaseStatus.active)
    for _ in range(4):
        await registry.get(f"/v1/cases/{case['id']}", headers=ALICE)
    fixed_clock.shift(timedelta(hours=2))
    await registry.get(f"/v1/cases/{case['id']}", headers=SUPERVISOR)

    pages, cursor = [], None
    while True:
        params = {"case_id": case["id"], "actor": "alice", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = (await registry.get("/v1/audit", headers=SUPERVISOR, params=params)).json()
        pages.append([e["action"] for e in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [["case.read", "case.read"], ["case.read", "case.read"],
                     ["case.created"]]

    by_role = await trail(registry, case_id=case["id"], role="supervisor")
    assert [(e["action"], e["actor"]) for e in by_role] == [("case.read", "sam")]

    later = (NOW + timedelta(hours=1)).isoformat()
    recent = await trail(registry, case_id=case["id"], **{"from": later})
    assert [(e["action"], e["actor"]) for e in recent] == [("case.read", "sam")]
    earlier = await trail(registry, case_id=case["id"], to=later)
    assert len(earlier) == 5


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2025-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}, "to"),
    ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "from"),
    ({"from": "2026-12-01T00:00:00"}, "from"),
    ({"cursor": "abc"}, "cursor"),
    ({"cursor": "99999999999999999999"}, "cursor"),
    ({"case_id": "not-a-uuid"}, "case_id"),
    ({"role": "admin"}, "role"),
])
async def test_a_bad_query_is_a_422_naming_the_parameter(registry, params, field):
    response = await registry.get("/v1/audit", headers=SUPERVISOR, params=params)
    assert response.status_code == 422
    assert field in response.text


async def test_a_year_exactly_is_allowed(registry):
    response = await registry.get("/v1/audit", headers=SUPERVISOR, params={
        "from": "2025-12-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"})
    assert response.status_code == 200


@pytest.mark.parametrize("role", ["caseworker", "officer", "authority", "service"])
async def test_only_supervisors_read_the_trail(registry, role):
    response = await registry.get("/v1/audit", headers=auth(role, sub="x"))
    assert response.status_code == 403
