"""Caseloads on the registry: a caseworker sees and changes the cases assigned or
delegated to them and nothing else (404, as for a case that does not exist); a
supervisor delegates until a date; an officer sees the reporting desk's view."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from registry.enums import CaseStatus

from tests.conftest import auth
from tests.registry.factories import case_in

ALICE = auth("caseworker", sub="alice")
BOB = auth("caseworker", sub="bob")
SUPERVISOR = auth("supervisor", sub="sam")
OFFICER = auth("officer", sub="olu")


def in_days(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


async def delegate(registry, case_id: str, to: str = "bob", days: int = 7):
    return await registry.post(f"/v1/cases/{case_id}/delegations", headers=SUPERVISOR,
                               json={"to": to, "until": in_days(days), "reason": "cover"})


async def test_another_caseworker_s_case_is_404_everywhere_and_missing_from_lists(registry):
    case = await case_in(registry, CaseStatus.active)
    url = f"/v1/cases/{case['id']}"
    for response in (
        await registry.get(url, headers=BOB),
        await registry.patch(url, json={"programme": "mine_now"}, headers=BOB),
        await registry.post(f"{url}/transitions", json={"to": "closed", "reason": "gone"},
                            headers=BOB),
        await registry.get(f"{url}/history", headers=BOB),
    ):
        assert response.status_code == 404, response.text
        assert "Amina" not in response.text
    for params in ({}, {"reference": case["reference"]}, {"caseworker": "alice"}):
        listed = (await registry.get("/v1/cases", params=params, headers=BOB)).json()
        assert case["id"] not in [c["id"] for c in listed["items"]]
    mine = (await registry.get("/v1/cases", params={"reference": case["reference"]},
                               headers=ALICE)).json()
    assert [c["id"] for c in mine["items"]] == [case["id"]]
    after = (await registry.get(url, headers=ALICE)).json()
    assert (after["version"], after["programme"]) == (case["version"], case["programme"])


async def test_a_delegation_opens_the_case_to_the_delegate_until_its_last_day(
        registry, fixed_clock):
    case = await case_in(registry, CaseStatus.active)
    url = f"/v1/cases/{case['id']}"
    response = await delegate(registry, case["id"], days=3)
    assert response.status_code == 201, response.text
    assert response.json()["to"] == "bob" and response.json()["until"] == in_days(3)

    assert (await registry.get(url, headers=BOB)).json()["delegations"][0]["to"] == "bob"
    patched = await registry.patch(url, json={"programme": "covered"}, headers=BOB)
    assert patched.status_code == 200, patched.text
    listed = (await registry.get("/v1/cases", headers=BOB)).json()["items"]
    assert [c["id"] for c in listed] == [case["id"]]
    # the assigned caseworker keeps the case throughout
    assert (await registry.get(url, headers=ALICE)).status_code == 200

    fixed_clock.shift(timedelta(days=3))  # the last day of cover: still open
    assert (await registry.get(url, headers=BOB)).status_code == 200
    fixed_clock.shift(timedelta(days=1))
    assert (await registry.get(url, headers=BOB)).status_code == 404
    assert (await registry.get("/v1/cases", headers=BOB)).json()["items"] == []
    assert (await registry.get(url, headers=ALICE)).json()["delegations"] == []


async def test_revoking_a_delegation_closes_the_case_to_the_delegate(registry):
    case = await case_in(registry, CaseStatus.active)
    delegation = (await delegate(registry, case["id"])).json()
    url = f"/v1/cases/{case['id']}/delegations/{delegation['id']}"
    assert (await registry.delete(url, headers=ALICE)).status_code == 403
    assert (await registry.delete(url, headers=SUPERVISOR)).status_code == 204
    assert (await registry.get(f"/v1/cases/{case['id']}", headers=BOB)).status_code == 404
    assert (await registry.delete(url, headers=SUPERVISOR)).status_code == 404


async def test_delegating_again_replaces_the_date(registry):
    case = await case_in(registry, CaseStatus.active)
    await delegate(registry, case["id"], days=3)
    again = await delegate(registry, case["id"], days=10)
    assert again.status_code == 201
    shown = (await registry.get(f"/v1/cases/{case['id']}", headers=SUPERVISOR)).json()
    assert [(d["to"], d["until"]) for d in shown["delegations"]] == [("bob", in_days(10))]


@pytest.mark.parametrize(("body", "field"), [
    ({"to": "bob", "until": "2026-11-30", "reason": "cover"}, "until"),  # yesterday
    ({"to": "bob", "until": "2030-01-01", "reason": "cover"}, "until"),  # over a year
    ({"to": "bob", "until": "tomorrow", "reason": "cover"}, "until"),
    ({"to": "alice", "until": "2026-12-05", "reason": "cover"}, "to"),  # already hers
    ({"to": "", "until": "2026-12-05", "reason": "cover"}, "to"),
    ({"to": "bob", "until": "2026-12-05"}, "reason"),
])
async def test_a_bad_delegation_is_422_naming_the_field(registry, body, field):
    case = await case_in(registry, CaseStatus.active)
    response = await registry.post(f"/v1/cases/{case['id']}/delegations", json=body,
                                    headers=SUPERVISOR)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_only_a_supervisor_delegates_and_not_on_a_closed_case(registry):
    case = await case_in(registry, CaseStatus.closed)
    body = {"to": "bob", "until": in_days(2), "reason": "cover"}
    url = f"/v1/cases/{case['id']}/delegations"
    assert (await registry.post(url, json=body, headers=ALICE)).status_code == 403
    assert (await registry.post(url, json=body, headers=SUPERVISOR)).status_code == 409


@pytest.mark.parametrize("form", ["reference", "keypad_reference", "spaced"])
async def test_the_desk_finds_a_case_by_either_reference_and_sees_only_what_it_needs(
        registry, form):
    case = await case_in(registry, CaseStatus.suspended)
    reference = (case["reference"].lower().replace("-", " ") if form == "spaced"
                 else case[form])
    response = await registry.get("/v1/desk/cases", params={"reference": reference},
                                  headers=OFFICER)
    assert response.status_code == 200, response.text
    assert response.json() == {"id": case["id"], "reference": case["reference"],
                               "given_name": "Amina", "family_initial": "K",
                               "status": "suspended"}


async def test_the_desk_gets_404_for_an_unknown_reference_and_403_for_everything_else(
        registry):
    case = await case_in(registry, CaseStatus.active)
    response = await registry.get("/v1/desk/cases", params={"reference": "2222-22A"},
                                  headers=OFFICER)
    assert response.status_code == 404
    for path in ("/v1/cases", f"/v1/cases/{case['id']}", f"/v1/cases/{case['id']}/history"):
        assert (await registry.get(path, headers=OFFICER)).status_code == 403


async def test_delegations_reach_the_feed_in_case_updated(fresh_registry):
    registry = fresh_registry
    case = await case_in(registry, CaseStatus.active)
    delegation = (await delegate(registry, case["id"], days=5)).json()
    await registry.delete(f"/v1/cases/{case['id']}/delegations/{delegation['id']}",
                          headers=SUPERVISOR)
    for _ in range(300):
        page = (await registry.get("/v1/changes", params={"limit": 500},
                                   headers=auth("service"))).json()["changes"]
        events = [c for c in page if c["subject_id"] == case["id"]]
        if len(events) == 3:
            break
        await asyncio.sleep(0.05)  # PostgreSQL shows a transaction's events once older ones end
    assert [(e["type"], e["data"]["version"], e["data"]["delegations"]) for e in events] == [
        ("case.created", 1, []),
        ("case.updated", 2, [{"to": "bob", "until": in_days(5)}]),
        ("case.updated", 3, []),
    ]
