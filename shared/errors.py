"""One error model for every service: RFC 9457 problem details."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("waymark.errors")

PROBLEM_JSON = "application/problem+json"


class WaymarkError(Exception):
    """Base of every error a service answers on purpose. One handler renders them."""

    status: int = 500
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.headers = headers
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "about:blank", "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        return body


class BadRequest(WaymarkError):
    status, title = 400, "Bad request"


class Unauthorized(WaymarkError):
    status, title = 401, "Not authenticated"


class Forbidden(WaymarkError):
    status, title = 403, "Forbidden"


class NotFound(WaymarkError):
    status, title = 404, "Not found"


class Conflict(WaymarkError):
    status, title = 409, "Conflict"


class Gone(WaymarkError):
    """The resource existed and is gone for good (an erased case's statement)."""

    status, title = 410, "Gone"


class PreconditionFailed(WaymarkError):
    status, title = 412, "Precondition failed"


class PayloadTooLarge(WaymarkError):
    status, title = 413, "Payload too large"


class ValidationFailed(WaymarkError):
    status, title = 422, "Validation failed"

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message}])


class ServiceUnavailable(WaymarkError):
    status, title = 503, "Service unavailable"


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error leaves a Waymark service."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] | None = None


_MEANING = {
    400: "The request is malformed.",
    401: "No valid bearer token.",
    403: "The token's roles do not allow this.",
    404: "No such resource, or not one the caller may see.",
    409: "The resource's state does not allow this.",
    410: "The resource is gone for good: the person's data was erased.",
    412: "If-Match does not name the current version.",
    413: "The body is too large.",
    422: "A field is invalid; `errors` names each one.",
    503: "A service this depends on is unavailable.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the errors an endpoint really gives, each as
    ``application/problem+json``: ``@router.get(..., responses=problem_responses(401, 404))``."""
    return {status: {"description": _MEANING[status]} for status in statuses}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite an OpenAPI document so every error response (FastAPI's own 422 included)
    is ``application/problem+json`` with the ``Problem`` schema, as the one handler
    really answers."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in Problem.model_json_schema(
            ref_template="#/components/schemas/{model}").pop("$defs", {}).items():
        components[name] = definition
    components["Problem"] = {k: v for k, v in Problem.model_json_schema(
        ref_template="#/components/schemas/{model}").items() if k != "$defs"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {
                        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
                    response["description"] = _MEANING.get(int(status), response["description"])
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def problem_response(error: WaymarkError, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    return JSONResponse(
        error.to_problem(instance), status_code=error.status, headers=error.headers,
        media_type=PROBLEM_JSON,
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


# json's messages, said so that someone fixing a request by hand knows what to look for.
_JSON_PROBLEMS = {
    "Expecting value": "a value is missing or is not JSON (strings need double quotes; "
                       "true, false and null are lower case)",
    "Expecting property name enclosed in double quotes": "a key is not in double quotes, "
                                                         "or there is a comma too many",
    "Expecting ':' delimiter": "a key is not followed by a colon",
    "Expecting ',' delimiter": "a comma is missing between two items",
    "Extra data": "there is more after the end of the JSON value",
    "Unterminated string starting at": "a string is not closed",
    "Invalid control character at": "a string holds a raw line break or control character",
    "Invalid \\escape": "a string holds an invalid backslash escape",
}


_WHOLE_BODY = {
    "missing": "A JSON body is required.",
    "model_attributes_type": "The body must be a JSON object.",
    "dict_type": "The body must be a JSON object.",
}


def _json_problem(err: dict[str, Any], body: Any) -> dict[str, str]:
    reason = str(err.get("ctx", {}).get("error", ""))
    words = _JSON_PROBLEMS.get(reason, reason.lower() or "it cannot be read")
    where = ""
    position = err.get("loc", (None, None))[-1]
    if isinstance(body, str) and isinstance(position, int):
        line = body.count("\n", 0, position) + 1
        column = position - (body.rfind("\n", 0, position) + 1) + 1
        where = f" (line {line}, column {column})"
    return {"field": "body", "message": f"The body is not valid JSON: {words}{where}."}


def _as_waymark_error(exc: Exception) -> WaymarkError:
    if isinstance(exc, WaymarkError):
        return exc
    if isinstance(exc, RequestValidationError):
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            problem = _json_problem(exc.errors()[0], exc.body)
            return ValidationFailed(problem["message"], errors=[problem])
        errors = []
        for err in exc.errors():
            if tuple(err.get("loc", ())) == ("body",) and err.get("type") in _WHOLE_BODY:
                errors.append({"field": "body", "message": _WHOLE_BODY[err["type"]]})
                continue
            message = err.get("msg", "invalid")
            # pydantic prefixes messages of custom validators; the field says where.
            message = message.removeprefix("Value error, ")
            errors.append({"field": _field_name(tuple(err.get("loc", ()))), "message": message})
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        return ValidationFailed(f"Invalid input: {fields}", errors=errors)
    if isinstance(exc, StarletteHTTPException):
        generic = WaymarkError(
            None if exc.status_code in (404, 405) else str(exc.detail),
            status=exc.status_code, headers=getattr(exc, "headers", None),
            title={404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error"),
        )
        return generic
    return WaymarkError()


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """The one handler: every error leaves as ``application/problem+json``."""
    error = _as_waymark_error(exc)
    if error.status >= 500:
        # Type and route only: exception messages may echo request data.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return problem_response(error, request)


def install_error_handler(app: FastAPI) -> None:
    for exc_type in (WaymarkError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, handle_error)
