"""Creating, reading, listing and editing cases, as a caseworker would."""

from __future__ import annotations

import sqlalchemy as sa
from registry import reference

from tests.conftest import auth
from tests.registry.factories import case_body

CASEWORKER = auth("caseworker", sub="alice")
SUPERVISOR = auth("supervisor", sub="sam")


async def create(registry, **overrides) -> dict:
    response = await registry.post("/v1/cases", json=case_body(**overrides), headers=CASEWORKER)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_answers_the_case_with_a_reference_to_read_aloud(registry):
    response = await registry.post("/v1/cases", json=case_body(), headers=CASEWORKER)
    assert response.status_code == 201
    case = response.json()
    assert case["status"] == "active"
    assert case["caseworker"] == "alice"
    assert reference.normalise(case["reference"]) == case["reference"]
    assert not set(case["reference"]) & set("0O1IL")
    assert reference.normalise_keypad(case["keypad_reference"]) == case["keypad_reference"]
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/v1/cases/{case['id']}"
    assert case["person"]["phone"] == "+447911123456"
    assert case["reporting"]["window_opens"] == "09:00"

    again = await registry.get(f"/v1/cases/{case['id']}", headers=CASEWORKER)
    assert again.status_code == 200
    assert again.json() == case


async def test_phone_is_normalised_to_e164(registry):
    case = await create(registry, person__phone="+44 7911 123-456")
    assert case["person"]["phone"] == "+447911123456"


async def test_unknown_case_is_404(registry):
    response = await registry.get(
        "/v1/cases/00000000-0000-0000-0000-000000000000", headers=CASEWORKER
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_list_filters_and_pages(registry):
    mine = [await create(registry) for _ in range(5)]
    other = await registry.post("/v1/cases", json=case_body(caseworker="bob"), headers=SUPERVISOR)
    assert other.status_code == 201
    soon = await create(registry, review_due="2099-01-01")

    seen, cursor = [], None
    while True:
        params = {"caseworker": "alice", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await registry.get("/v1/cases", params=params, headers=CASEWORKER)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["id"] for c in mine] + [soon["id"]]

    before = await registry.get("/v1/cases", params={"review_due_before": "2098-01-01",
                                                     "caseworker": "alice"}, headers=CASEWORKER)
    assert {c["id"] for c in before.json()["items"]} == {c["id"] for c in mine}

    await registry.post(f"/v1/cases/{mine[0]['id']}/transitions",
                        json={"to": "suspended", "reason": "in hospital"}, headers=CASEWORKER)
    suspended = await registry.get("/v1/cases", params={"status": "suspended"},
                                   headers=CASEWORKER)
    assert [c["id"] for c in suspended.json()["items"]] == [mine[0]["id"]]


async def test_find_by_reference_in_any_form(registry):
    case = await create(registry)
    spoken = case["reference"].lower().replace("-", " ")
    for form in (case["reference"], spoken, case["keypad_reference"]):
        found = await registry.get("/v1/cases", params={"reference": form}, headers=CASEWORKER)
        assert [c["id"] for c in found.json()["items"]] == [case["id"]], form
    typo = case["keypad_reference"][:-1] + str((int(case["keypad_reference"][-1]) + 1) % 10)
    found = await registry.get("/v1/cases", params={"reference": typo}, headers=CASEWORKER)
    assert found.json()["items"] == []


async def test_patch_merges_and_bumps_the_etag(registry):
    case = await create(registry)
    response = await registry.patch(
        f"/v1/cases/{case['id']}",
        json={"person": {"preferred_language": "fr"}, "reporting": {"grace_hours": 48}},
        headers=CASEWORKER | {"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert response.headers["ETag"] == '"2"'
    assert updated["person"]["preferred_language"] == "fr"
    assert updated["person"]["given_name"] == "Amina"
    assert updated["reporting"]["grace_hours"] == 48
    assert updated["reporting"]["rrule"] == "FREQ=WEEKLY;BYDAY=MO"


async def test_patch_with_a_stale_etag_is_412_and_changes_nothing(registry):
    case = await create(registry)
    first = await registry.patch(f"/v1/cases/{case['id']}", json={"programme": "family_support"},
                                 headers=CASEWORKER | {"If-Match": '"1"'})
    assert first.status_code == 200
    stale = await registry.patch(f"/v1/cases/{case['id']}", json={"programme": "other_programme"},
                                 headers=CASEWORKER | {"If-Match": '"1"'})
    assert stale.status_code == 412
    current = (await registry.get(f"/v1/cases/{case['id']}", headers=CASEWORKER)).json()
    assert current["programme"] == "family_support"
    assert current["version"] == 2


async def test_patch_cannot_smuggle_a_status_change(registry):
    case = await create(registry)
    response = await registry.patch(f"/v1/cases/{case['id']}", json={"status": "closed"},
                                    headers=CASEWORKER)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "status"


async def test_invalid_merged_reporting_names_the_field(registry):
    case = await create(registry)
    response = await registry.patch(f"/v1/cases/{case['id']}",
                                    json={"reporting": {"rrule": "FREQ=SOMETIMES"}},
                                    headers=CASEWORKER)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reporting.rrule"


async def test_only_a_supervisor_reassigns(registry):
    case = await create(registry)
    refused = await registry.patch(f"/v1/cases/{case['id']}", json={"caseworker": "bob"},
                                   headers=CASEWORKER)
    assert refused.status_code == 403
    done = await registry.patch(f"/v1/cases/{case['id']}", json={"caseworker": "bob"},
                                headers=SUPERVISOR)
    assert done.status_code == 200
    assert done.json()["caseworker"] == "bob"
    refused = await registry.post("/v1/cases", json=case_body(caseworker="bob"),
                                  headers=CASEWORKER)
    assert refused.status_code == 403


async def test_the_raw_row_holds_no_plaintext_phone(registry, registry_app):
    case = await create(registry)
    async with registry_app.state.sessionmaker() as session:
        row = (await session.execute(sa.text(
            "SELECT p.* FROM people p JOIN cases c ON c.person_id = p.id WHERE c.id = :id"
        ), {"id": case["id"].replace("-", "") if session.bind.dialect.name == "sqlite"
            else case["id"]})).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    for form in ("+447911123456", "447911123456", "7911123456"):
        assert form not in stored
    assert row["phone_hash"] == registry_app.state.vault.lookup_hash("+447911123456")
    assert registry_app.state.vault.decrypt(row["phone_encrypted"]) == "+447911123456"


async def test_patch_refuses_null_and_an_empty_patch_changes_nothing(registry):
    case = await create(registry)
    url = f"/v1/cases/{case['id']}"
    refused = await registry.patch(url, json={"person": {"given_name": None}},
                                   headers=CASEWORKER)
    assert refused.status_code == 422
    assert "given_name" in refused.text
    same = await registry.patch(url, json={}, headers=CASEWORKER | {"If-Match": '"1"'})
    assert same.status_code == 200
    assert same.json()["version"] == 1


async def test_a_feed_cursor_out_of_range_is_422(registry):
    response = await registry.get("/v1/changes", params={"after": "99999999999999999999999-1"},
                                  headers=auth("service"))
    assert response.status_code == 422
