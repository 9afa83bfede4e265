"""What every service's FastAPI app has: the error handler, a request body limit,
request ids, ``/healthz``, ``/readyz`` and ``/metrics`` (``shared.metrics``)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.changefeed import FeedConsumer
from shared.config import ServiceSettings
from shared.db import database_ready, make_engine, make_sessionmaker
from shared.errors import (
    PayloadTooLarge,
    document_problems,
    install_error_handler,
    problem_response,
)
from shared.logging import configure_logging
from shared.logging import request_id as current_request_id
from shared.metrics import HttpMetrics, metrics_router, process_stopped
from shared.shutdown import install_hard_stop


class BodySizeLimit:
    """Answers 413 before a handler runs when a body is larger than ``max_bytes``,
    whether or not the client declared its length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(f"The request body is larger than {self.max_bytes} bytes.")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await problem_response(too_large)(scope, receive, send)
            return
        # Read the body up front so the limit holds for chunked uploads too.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await problem_response(too_large)(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# What a proxy or a client may send as ``X-Request-ID``; anything else is replaced, so a
# header cannot smuggle text (or a line break) into the logs and the audit trail.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestId:
    """Gives every request an id: the caller's ``X-Request-ID`` when it is 1 to 128
    letters, digits or ``._:-``, else a new one. It is kept in ``request.state`` (the
    audit trail records it), in every log line written while serving the request,
    on every call ``shared.http`` clients make for it, and echoed in the response's
    ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = current_request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)


def _document_problems(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


health_router = APIRouter(tags=["health"])


@health_router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@health_router.get("/readyz", responses={503: {"description": "The database does not answer."}})
async def readyz(request: Request) -> JSONResponse:
    """503 when the database does not answer. Otherwise 200, with each change feed the
    service follows: its cursor, the unknown event types it skipped, and whether it is
    stalled at a change it cannot apply (which event, why, since when). A stalled feed
    does not make the service unready: people must still be able to check in while an
    engineer looks, so it is reported here (``"status": "feed stalled"``) and in the log
    rather than by taking the service out of rotation."""
    if not await database_ready(request.app.state.engine):
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    feeds = {consumer.feed: consumer.status() for consumer in _feed_consumers(request.app)}
    stalled = any(feed["stalled"] for feed in feeds.values())
    body: dict[str, Any] = {"status": "feed stalled" if stalled else "ready"}
    if feeds:
        body["feeds"] = feeds
    return JSONResponse(jsonable_encoder(body))


def _feed_consumers(app: FastAPI) -> list[FeedConsumer]:
    # Whatever consumers the app keeps on its state: no registration step to forget.
    return [value for value in vars(app.state).get("_state", {}).values()
            if isinstance(value, FeedConsumer)]


def install_common(app: FastAPI, *, max_body_bytes: int) -> None:
    install_error_handler(app)
    _document_problems(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    # Outermost, so even a 413 carries the id and is counted.
    app.add_middleware(RequestId)
    app.add_middleware(HttpMetrics)
    app.include_router(health_router)
    app.include_router(metrics_router)
    install_hard_stop(app)


@asynccontextmanager
async def service_lifespan(app: FastAPI, settings: ServiceSettings) -> AsyncIterator[None]:
    """What every service opens at start-up and closes at shutdown: logging, the start-up
    warnings, the database engine and its sessionmaker (on ``app.state``)."""
    configure_logging(settings.service_name, settings.log_level)
    settings.warn_if_insecure()
    app.state.engine = make_engine(settings.database_url)
    app.state.sessionmaker = make_sessionmaker(app.state.engine)
    try:
        yield
    finally:
        await app.state.engine.dispose()
        process_stopped()
