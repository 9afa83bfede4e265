"""Logs never carry phone numbers, PINs or names."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from shared.logging import JsonFormatter, redact
from tests.conftest import auth
from tests.registry.factories import case_body


@pytest.mark.parametrize(("text", "leaked"), [
    ("sms from +447911123456", "447911123456"),
    ("caller +44 7911 123456 hung up", "7911 123456"),
    ("PIN 482913 rejected", "482913"),
    ("From=%2B447911123456&Body=CHECKIN+482913", "482913"),
    ("dial 07911123456.", "07911123456"),
    ("dial +44-7911-123456", "7911-123456"),
    ("dial +1 (415) 555-2671", "555-2671"),
    ("pin:482913", "482913"),
])
def test_redact_masks_numbers_and_pins(text, leaked):
    assert leaked not in redact(text)


@pytest.mark.parametrize("kept", [
    "127.0.0.1:8001", "2026-11-23T04:17:10.316", "54b13c4f-e89e-4cad-9956-1adbe26f44e3",
    "applied 12 change(s)", "GET /v1/cases?limit=50 HTTP/1.1",
])
def test_redact_keeps_what_operators_need(kept):
    assert redact(kept) == kept


def test_the_formatter_redacts_messages_and_exceptions():
    try:
        raise ValueError("bad number +447911123456")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "for %s", ("+447911123456",),
                                   exc_info=True)
        import sys
        record.exc_info = sys.exc_info()
    line = JsonFormatter("test").format(record)
    assert "447911123456" not in line
    assert json.loads(line)["level"] == "error"


async def test_a_case_lifecycle_logs_no_personal_data(empty_database, capsys):
    """The app at DEBUG, through its own JSON handler: what an operator would see. On a
    database of its own: the app commits, and other tests list the shared one."""
    from asgi_lifespan import LifespanManager
    from registry.app import create_app

    from shared.migrations import upgrade
    from tests.conftest import registry_settings

    url = empty_database("registry_logging")
    upgrade("registry", url)
    settings = registry_settings(url)
    settings.log_level = "DEBUG"
    app = create_app(settings)
    async with LifespanManager(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://registry") as registry:
        await exercise(registry)
        logging.getLogger("waymark.test").debug("marker: the app logged through here")
    text = capsys.readouterr().err
    assert "marker: the app logged through here" in text  # the capture works
    assert "development secret" in text  # and caught the app's own start-up warning
    for secret in ("+447911123456", "7911123456", "612345678", "Amina", "1990-04-02"):
        assert secret not in text


async def exercise(registry) -> None:
    body = case_body(person__given_name="Amina")
    created = await registry.post("/v1/cases", json=body, headers=auth("caseworker"))
    case_id = created.json()["id"]
    await registry.patch(f"/v1/cases/{case_id}", json={"person": {"phone": "+33612345678"}},
                         headers=auth("caseworker"))
    await registry.post("/v1/cases", json=case_body(person__phone="+44 12"),
                        headers=auth("caseworker"))
    await registry.post(f"/v1/cases/{case_id}/transitions",
                        json={"to": "closed", "reason": "duplicate"}, headers=auth("caseworker"))


def _record(logger: str, msg: str, args: tuple = ()) -> logging.LogRecord:
    return logging.LogRecord(logger, logging.INFO, __file__, 1, msg, args, None)


def test_a_line_written_while_serving_a_request_names_the_request():
    from shared.logging import request_id

    formatter = JsonFormatter("registry")
    token = request_id.set("story-7")
    try:
        inside = json.loads(formatter.format(_record("waymark.x", "inside")))
    finally:
        request_id.reset(token)
    outside = json.loads(formatter.format(_record("waymark.x", "outside")))
    assert inside["request_id"] == "story-7"
    assert "request_id" not in outside


async def test_calls_to_another_service_carry_the_request_id_and_the_answer_echoes_it(
        database_urls):
    """The registry, asked with an id, answers with it; a ``shared.http`` client used
    while serving that id passes it on to the next service."""
    from asgi_lifespan import LifespanManager
    from registry.app import create_app

    from shared.http import make_client
    from shared.logging import request_id
    from tests.conftest import client_for, registry_settings

    app = create_app(registry_settings(database_urls["registry"]))
    async with LifespanManager(app), client_for(app, "registry") as client:
        answered = await client.get("/healthz", headers={"X-Request-ID": "story-7"})
        assert answered.headers["X-Request-ID"] == "story-7"
        made_up = await client.get("/healthz")
        assert len(made_up.headers["X-Request-ID"]) == 32

    seen: list[str | None] = []

    async def next_service(scope, receive, send):
        seen.append(dict(scope["headers"]).get(b"x-request-id", b"").decode() or None)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with make_client("http://checkin",
                           transport=httpx.ASGITransport(app=next_service)) as onward:
        token = request_id.set("story-7")
        try:
            await onward.get("/v1/changes")
        finally:
            request_id.reset(token)
        await onward.get("/v1/changes")  # a feed poll, outside any request
    assert seen == ["story-7", None]


@pytest.mark.parametrize(("path", "level", "shown"), [
    ("/v1/changes?after=0-0&limit=100", "INFO", False),
    ("/readyz", "INFO", False),
    ("/v1/cases", "INFO", True),
    ("/v1/changes?after=0-0&limit=100", "DEBUG", True),
])
def test_feed_polls_and_probes_stay_out_of_the_log_unless_debugging(path, level, shown):
    from shared.logging import configure_logging

    root = logging.getLogger()
    before = root.level, list(root.handlers)
    try:
        configure_logging("registry", level)
        record = _record("uvicorn.access", '%s - "%s %s HTTP/%s" %d',
                         ("127.0.0.1:5000", "GET", path, "1.1", 200))
        assert logging.getLogger("uvicorn.access").filter(record) is shown
        assert logging.getLogger("apscheduler").isEnabledFor(logging.INFO) is (level == "DEBUG")
    finally:
        root.setLevel(before[0])
        root.handlers[:] = before[1]


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_a_terminal_gets_one_readable_redacted_line_anything_else_json():
    from shared.logging import ConsoleFormatter, formatter_for, request_id

    assert type(formatter_for("registry", _Stream(tty=True))) is ConsoleFormatter
    assert type(formatter_for("registry", _Stream(tty=False))) is JsonFormatter
    record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1,
                               "caller %s\nhung up", ("+447911123456",), None)
    token = request_id.set("story-1")
    try:
        line = ConsoleFormatter("checkin").format(record)
    finally:
        request_id.reset(token)
    assert "\n" not in line and "447911123456" not in line
    assert line.endswith("ERROR   checkin uvicorn.error [story-1] caller [redacted] hung up")
