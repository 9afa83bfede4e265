"""Who did what: every write keeps its actor and the role they wrote as, and the case
history lists field changes beside transitions, in time order. Personal fields are
named, never valued; the case's administration (programme, review date, caseworker,
reporting) shows its values before and after."""

from __future__ import annotations

from datetime import date, timedelta

from registry.enums import CaseStatus

from tests.conftest import auth
from tests.registry.factories import case_in

ALICE = auth("caseworker", sub="alice")
SUPERVISOR = auth("supervisor", sub="sam")


async def history(registry, case_id: str) -> list[dict]:
    response = await registry.get(f"/v1/cases/{case_id}/history", headers=ALICE)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_patch_is_kept_with_its_actor_and_the_fields_it_changed(registry):
    case = await case_in(registry, CaseStatus.active)
    later = (date.today() + timedelta(days=120)).isoformat()
    patch = {"person": {"phone": "+447400123456", "family_name": "Khalil"},
             "vulnerabilities": ["survivor_of_trafficking", "disability"],
             "review_due": later, "reporting": {"grace_hours": 48}}
    response = await registry.patch(f"/v1/cases/{case['id']}", json=patch, headers=ALICE)
    assert response.status_code == 200, response.text

    opened, edit = await history(registry, case["id"])
    assert (opened["kind"], opened["actor"], opened["actor_role"]) == (
        "transition", "alice", "caseworker")
    assert edit["kind"] == "update"
    assert (edit["actor"], edit["actor_role"]) == ("alice", "caseworker")
    assert edit["fields"] == ["person.family_name", "person.phone", "reporting.grace_hours",
                              "review_due", "vulnerabilities"]
    assert edit["changes"] == {
        "reporting.grace_hours": {"from": 24, "to": 48},
        "review_due": {"from": case["review_due"], "to": later},
    }
    text = str(edit)
    for personal in ("Khalil", "+447400123456", "7400123456", "disability", "'K'"):
        assert personal not in text


async def test_a_patch_of_values_the_case_already_has_records_nothing(registry):
    case = await case_in(registry, CaseStatus.active)
    same = {"programme": case["programme"], "person": {"phone": case["person"]["phone"]}}
    response = await registry.patch(f"/v1/cases/{case['id']}", json=same, headers=ALICE)
    assert response.status_code == 200
    assert response.json()["version"] == case["version"]
    assert [h["kind"] for h in await history(registry, case["id"])] == ["transition"]


async def test_a_reassignment_shows_who_reassigned_as_supervisor_and_to_whom(registry):
    case = await case_in(registry, CaseStatus.active)
    response = await registry.patch(f"/v1/cases/{case['id']}", json={"caseworker": "bob"},
                                    headers=SUPERVISOR)
    assert response.status_code == 200, response.text
    entries = (await registry.get(f"/v1/cases/{case['id']}/history",
                                  headers=SUPERVISOR)).json()
    assert entries[-1]["kind"] == "update"
    assert (entries[-1]["actor"], entries[-1]["actor_role"]) == ("sam", "supervisor")
    assert entries[-1]["changes"] == {"caseworker": {"from": "alice", "to": "bob"}}


async def test_transitions_edits_and_delegations_are_listed_in_time_order(registry,
                                                                          fixed_clock):
    case = await case_in(registry, CaseStatus.active)
    url = f"/v1/cases/{case['id']}"
    fixed_clock.shift(timedelta(minutes=1))
    await registry.patch(url, json={"programme": "family_support"}, headers=ALICE)
    fixed_clock.shift(timedelta(minutes=1))
    await registry.post(f"{url}/transitions", json={"to": "suspended", "reason": "in hospital"},
                        headers=ALICE)
    fixed_clock.shift(timedelta(minutes=1))
    until = (date.today() + timedelta(days=14)).isoformat()
    delegated = await registry.post(f"{url}/delegations", headers=SUPERVISOR, json={
        "to": "bob", "until": until, "reason": "alice on leave"})
    assert delegated.status_code == 201, delegated.text
    fixed_clock.shift(timedelta(minutes=1))
    revoked = await registry.delete(f"{url}/delegations/{delegated.json()['id']}",
                                    headers=SUPERVISOR)
    assert revoked.status_code == 204

    entries = await history(registry, case["id"])
    assert [(e["kind"], e["actor_role"]) for e in entries] == [
        ("transition", "caseworker"), ("update", "caseworker"), ("transition", "caseworker"),
        ("delegation", "supervisor"), ("delegation", "supervisor")]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    assert entries[1]["changes"] == {
        "programme": {"from": "community_case_management", "to": "family_support"}}
    assert entries[3]["changes"] == {"delegations.bob": {"from": None, "to": until}}
    assert entries[3]["reason"] == "alice on leave"
    assert entries[4]["changes"] == {"delegations.bob": {"from": until, "to": None}}
