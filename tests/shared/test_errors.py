"""Every error leaves as RFC 9457 problem details that say what is wrong in words, and
the OpenAPI document says so too."""

from __future__ import annotations

import pytest

from tests.conftest import auth, token

CASEWORKER = auth("caseworker")


@pytest.mark.parametrize(("body", "words"), [
    (b'{"person": ', "a value is missing or is not JSON"),
    (b'{"programme": "x",}', "a key is not in double quotes, or there is a comma too many"),
    (b'{"programme": "x" "y"}', "a comma is missing between two items"),
    (b'{"programme": "x}', "a string is not closed"),
    (b'{"a": 1} {"b": 2}', "there is more after the end of the JSON value"),
    (b"{'programme': 'x'}", "a key is not in double quotes"),
])
async def test_a_body_that_is_not_json_is_explained_in_words(registry, body, words):
    response = await registry.post("/v1/cases", content=body,
                                   headers=CASEWORKER | {"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == "body"
    assert words in error["message"] and "(line 1, column " in error["message"]
    assert response.json()["detail"] == error["message"]


async def test_the_position_of_a_json_error_is_a_line_and_column(registry):
    body = b'{\n  "person": {\n    "sex": female\n  }\n}'
    response = await registry.post("/v1/cases", content=body,
                                   headers=CASEWORKER | {"Content-Type": "application/json"})
    assert "(line 3, column 12)" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(("body", "message"), [
    (b"", "A JSON body is required."),
    (b"[1, 2]", "The body must be a JSON object."),
    (b'"a case"', "The body must be a JSON object."),
])
async def test_a_body_of_the_wrong_shape_says_so(registry, body, message):
    response = await registry.post("/v1/cases", content=body,
                                   headers=CASEWORKER | {"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "body", "message": message}]


async def test_openapi_documents_errors_as_problem_details(registry):
    document = (await registry.get("/openapi.json")).json()
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])
    assert "HTTPValidationError" not in document["components"]["schemas"]
    errors = [(path, method, status, response)
              for path, operations in document["paths"].items()
              for method, operation in operations.items()
              for status, response in operation["responses"].items() if status >= "400"]
    assert errors
    for path, method, status, response in errors:
        assert list(response["content"]) == ["application/problem+json"], (path, method, status)


@pytest.mark.parametrize("sub", ["ali\x00ce", "alice\nERROR forged line", "", "x" * 129])
async def test_a_token_subject_no_database_or_log_should_hold_is_401(registry, sub):
    headers = {"Authorization": f"Bearer {token('caseworker', sub=sub)}"}
    response = await registry.get("/v1/cases", headers=headers)
    assert response.status_code == 401
    assert "subject" in response.json()["detail"]
