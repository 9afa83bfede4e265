"""Input a client may send, however odd, is a 4xx naming what is wrong, never a 500:
header values, digits in other scripts, naive or extreme instants, huge integers,
control characters and lone surrogates."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import quote

import pytest
from registry import reference
from registry.enums import CaseStatus

from tests.conftest import auth
from tests.registry.factories import case_body, case_in

CASEWORKER = auth("caseworker", sub="alice")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def raw(value: str | bytes) -> bytes:
    """A header value as UTF-8 bytes on the wire (httpx sends only ASCII ``str``)."""
    return value if isinstance(value, bytes) else value.encode()


def query(params: dict[str, str]) -> str:
    """A query string with every character sent as UTF-8, lone surrogates included."""
    return "&".join(f"{k}={quote(v, safe='', errors='surrogatepass')}" for k, v in params.items())


async def patch(registry, case: dict, if_match: str | bytes):
    return await registry.patch(f"/v1/cases/{case['id']}", json={"programme": "new_programme"},
                                headers=CASEWORKER | {"If-Match": raw(if_match)})


# --- If-Match -------------------------------------------------------------------------

@pytest.mark.parametrize("if_match", [
    '"9223372036854775808"',  # 2^63: beyond BIGINT
    '"18446744073709551616"',  # 2^64
    '"' + "9" * 400 + '"',
    '"²"', '"١"', '"１"',  # digits, but not the ASCII "1" this service handed out
    '"1.0"', '"-1"', '""', '"abc"',
    'W/"1"',  # weak: never matches under If-Match's strong comparison
    '"²"'.encode(), b'"\xff"',  # bytes beyond ASCII, as a client may put on the wire
], ids=lambda v: repr(v))
async def test_an_if_match_naming_no_version_we_handed_out_is_412(registry, if_match):
    case = await case_in(registry, CaseStatus.active)
    response = await patch(registry, case, if_match)
    assert response.status_code == 412, response.text
    assert "If-Match" in response.json()["detail"]
    current = (await registry.get(f"/v1/cases/{case['id']}", headers=CASEWORKER)).json()
    assert (current["version"], current["programme"]) == (1, case["programme"])


@pytest.mark.parametrize("if_match", [
    "1", '"1', '1"', "W/1", '"1" "2"', "*, \"1\"", "", "  ", ", ,", '"a"b"', "'1'",
    ", ".join(['"1"'] * 33),
], ids=lambda v: repr(v[:20]))
async def test_an_if_match_that_is_not_entity_tags_is_422_naming_it(registry, if_match):
    case = await case_in(registry, CaseStatus.active)
    response = await patch(registry, case, if_match)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "If-Match"


@pytest.mark.parametrize("if_match", [
    '"1"', "*", ' "1" ', '"7", "1"', 'W/"1", "1"', '"1",,', ', "1"', '"a,b", "1"',
    '"²", "1"',
])
async def test_an_if_match_naming_the_current_version_applies(registry, if_match):
    case = await case_in(registry, CaseStatus.active)
    response = await patch(registry, case, if_match)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'


async def test_if_match_is_checked_on_transitions_and_empty_patches_too(registry):
    case = await case_in(registry, CaseStatus.active)
    url = f"/v1/cases/{case['id']}"
    for if_match in ('"99999999999999999999"', '"²"'):
        moved = await registry.post(f"{url}/transitions",
                                    json={"to": "suspended", "reason": "in hospital"},
                                    headers=CASEWORKER | {"If-Match": raw(if_match)})
        assert moved.status_code == 412
        empty = await registry.patch(url, json={},
                                     headers=CASEWORKER | {"If-Match": raw(if_match)})
        assert empty.status_code == 412
    missing = await registry.patch(f"/v1/cases/{uuid.uuid4()}", json={},
                                   headers=CASEWORKER | {"If-Match": raw('"²"')})
    assert missing.status_code == 404


# --- references -----------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "²" * 10, "²" * 7, "٩" * 10, "９" * 10, "\x00" * 7, "\u200b" * 7, "ß" * 7, "𝟗" * 10,
    "9" * 10, "9" * 16,
])
def test_no_text_breaks_reference_parsing(text):
    assert reference.normalise(text) is None
    assert reference.normalise_keypad(text) is None


def test_a_keypad_reference_in_other_scripts_is_read_as_ascii():
    ref, keypad = reference.new_reference()
    for table in (ARABIC_INDIC, FULLWIDTH):
        assert reference.normalise_keypad(keypad.translate(table)) == keypad
        assert reference.normalise(ref.translate(table)) == ref


@pytest.mark.parametrize("text", [
    "²" * 10, "²²²²-²²²", "٠" * 10, "\x00", "\ud800", "9" * 16, "ＫＫＫＫ-ＫＫＫ",
], ids=repr)
async def test_a_reference_filter_of_any_characters_is_answered(registry, text):
    response = await registry.get("/v1/cases?" + query({"reference": text}), headers=CASEWORKER)
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert response.json()["items"] == []
    else:
        assert response.json()["errors"][0]["field"] == "reference"


async def test_a_reference_filter_in_arabic_indic_digits_finds_the_case(registry):
    case = await case_in(registry, CaseStatus.active)
    for table in (ARABIC_INDIC, FULLWIDTH):
        found = await registry.get("/v1/cases", headers=CASEWORKER, params={
            "reference": case["keypad_reference"].translate(table)})
        assert [c["id"] for c in found.json()["items"]] == [case["id"]]


# --- list cursors and filters ---------------------------------------------------------

def cursor_of(raw: str | bytes) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


SOME_ID = "00000000-0000-0000-0000-000000000001"


@pytest.mark.parametrize("cursor", [
    cursor_of(f"2026-12-01T12:00:00|{SOME_ID}"),  # naive
    cursor_of(f"0001-01-01T00:00:00+14:00|{SOME_ID}"),  # before year 1 in UTC
    cursor_of(f"9999-12-31T23:59:59-14:00|{SOME_ID}"),  # after 9999 in UTC
    cursor_of(f"0001-01-01T00:00:00+00:00|{SOME_ID}"),
    cursor_of(f"2026-12-01T12:00:00+00:00|{'9' * 40}"),
    cursor_of("2026-12-01T12:00:00+00:00"),
    cursor_of(f"२०२६-१२-०१T12:00:00+00:00|{SOME_ID}"),  # Devanagari digits
    cursor_of(b"\xff\xfe\x00garbage"),
    "not a cursor!", "é", "=", "A", "\x00", "%",
], ids=repr)
async def test_a_cursor_we_did_not_hand_out_is_422_naming_it(registry, cursor):
    response = await registry.get("/v1/cases?" + query({"cursor": cursor}), headers=CASEWORKER)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "cursor"


async def test_a_cursor_we_handed_out_still_pages(registry):
    first = await case_in(registry, CaseStatus.active)
    second = await case_in(registry, CaseStatus.active)
    page = (await registry.get("/v1/cases", params={"limit": 1},
                               headers=CASEWORKER)).json()
    assert [c["id"] for c in page["items"]] == [first["id"]]
    rest = (await registry.get("/v1/cases", params={"cursor": page["next_cursor"]},
                               headers=CASEWORKER)).json()
    assert [c["id"] for c in rest["items"]] == [second["id"]]


@pytest.mark.parametrize(("params", "status"), [
    ({"review_due_before": "0001-01-01"}, 200),
    ({"review_due_before": "9999-12-31"}, 200),
    ({"review_due_before": "10000-01-01"}, 422),
    ({"review_due_before": "2027-02-30"}, 422),
    ({"review_due_before": "٢٠٢٧-٠١-٠١"}, 422),
    ({"review_due_before": "9" * 30}, 422),
    ({"review_due_before": "-1"}, 422),
    ({"limit": "9" * 30}, 422),
    ({"limit": "²"}, 422),
    ({"limit": "٣"}, 422),
    ({"status": "ACTIVE"}, 422),
    ({"caseworker": "alice\x00"}, 422),
    ({"caseworker": "\ud800"}, 200),  # the server reads it as U+FFFD
    ({"caseworker": "x" * 129}, 422),
    ({"caseworker": "José"}, 200),
], ids=repr)
async def test_list_filters_at_their_extremes(registry, params, status):
    response = await registry.get("/v1/cases?" + query(params), headers=CASEWORKER)
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["errors"][0]["field"] == next(iter(params))


async def test_a_review_due_before_far_ahead_lists_every_case(registry):
    case = await case_in(registry, CaseStatus.active)
    listed = await registry.get("/v1/cases", params={"review_due_before": "9999-12-31"},
                                headers=CASEWORKER)
    assert case["id"] in [c["id"] for c in listed.json()["items"]]


# --- bodies and paths -----------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "field"), [
    ({"person__given_name": "Am\x00ina"}, "person.given_name"),
    ({"person__family_name": "\ud800"}, "person.family_name"),
    ({"caseworker": "bob\x00"}, "caseworker"),
    ({"reporting__rrule": "FREQ=WEEKLY;BYDAY=MO\x00"}, "reporting.rrule"),
    ({"reporting__window_hours": 2**64}, "reporting.window_hours"),
    ({"reporting__starts_on": "٢٠٢٦-١٢-٠٧"}, "reporting.starts_on"),
    ({"reporting__starts_on": "0001-01-01"}, "reporting.starts_on"),
    ({"reporting__starts_on": "9999-12-27"}, "reporting.starts_on"),
    ({"reporting__timezone": "Europe/London\x00"}, "reporting.timezone"),
    ({"person__nationality": "\x00\x00"}, "person.nationality"),
    ({"person__preferred_language": "ar\n"}, "person.preferred_language"),
    ({"review_due": "+10000-01-01"}, "review_due"),
], ids=lambda v: repr(v)[:40])
async def test_hostile_body_values_are_422_naming_the_field(registry, overrides, field):
    # Serialised by hand: json.dumps keeps a lone surrogate as the escape \ud800.
    body = json.dumps(case_body(**overrides))
    response = await registry.post("/v1/cases", content=body, headers=CASEWORKER | {
        "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_a_transition_reason_with_a_nul_is_422(registry):
    case = await case_in(registry, CaseStatus.active)
    response = await registry.post(f"/v1/cases/{case['id']}/transitions", headers=CASEWORKER,
                                   json={"to": "suspended", "reason": "in\x00hospital"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reason"


@pytest.mark.parametrize("case_id", ["not-a-uuid", "²" * 32, "0" * 400, "%00"])
async def test_a_case_id_that_is_not_a_uuid_is_422(registry, case_id):
    response = await registry.get(f"/v1/cases/{case_id}", headers=CASEWORKER)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "case_id"


# --- what the OpenAPI promises --------------------------------------------------------

DOCUMENTED = {
    ("post", "/v1/cases"): {401, 403, 413, 422},
    ("get", "/v1/cases"): {401, 403, 422},
    ("get", "/v1/cases/{case_id}"): {401, 403, 404, 422},
    ("patch", "/v1/cases/{case_id}"): {401, 403, 404, 409, 412, 413, 422},
    ("post", "/v1/cases/{case_id}/transitions"): {401, 403, 404, 409, 412, 413, 422},
    ("get", "/v1/cases/{case_id}/history"): {401, 403, 404, 422},
    ("post", "/v1/cases/{case_id}/delegations"): {401, 403, 404, 409, 413, 422},
    ("delete", "/v1/cases/{case_id}/delegations/{delegation_id}"): {401, 403, 404, 409, 422},
    ("get", "/v1/desk/cases"): {401, 403, 404, 422},
}


async def test_the_openapi_lists_each_case_route_s_errors_as_problem_details(registry):
    paths = (await registry.get("/openapi.json")).json()["paths"]
    for (method, path), statuses in DOCUMENTED.items():
        responses = paths[path][method]["responses"]
        assert {int(s) for s in responses if int(s) >= 400} == statuses, (method, path)
        for status in statuses:
            assert set(responses[str(status)]["content"]) == {"application/problem+json"}
    if_match = next(p for p in paths["/v1/cases/{case_id}"]["patch"]["parameters"]
                    if p["name"] == "if-match")
    assert "412" in if_match["description"]
