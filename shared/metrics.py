"""Prometheus metrics: the mechanism every service shares (the ``/metrics`` route, the
HTTP middleware, the change-feed gauges, counting on commit). Each service defines
and increments its own domain counters where the work happens.

Guarantees:
- Labels never hold a personal value or a raw path: HTTP requests are labelled by the
  route's template (``/v1/cases/{case_id}``), ``unmatched`` for a path no route
  serves, and by method (``other`` for a method no route knows) and status.
- Several uvicorn workers: with ``PROMETHEUS_MULTIPROC_DIR`` set (before the process
  starts: prometheus-client chooses its storage when it is first imported),
  ``/metrics`` adds up the values of every worker, live or gone, from the files in
  that directory; gauges show the largest value among live workers. The directory
  must be empty when the service starts (``waymark serve`` and ``waymark run`` clear
  it) and each service needs its own. Without it, each process counts alone.
- A domain counter bumped with ``count_on_commit`` moves only once the transaction
  that did the work commits: a rolled-back check-in is never counted.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "waymark_http_requests_total", "HTTP requests answered, by route template and status.",
    ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "waymark_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
FEED_BEHIND_EVENTS = Gauge(
    "waymark_feed_behind_events",
    "Changes seen at the source but not yet applied, as of the consumer's last poll "
    "(a lower bound: at most one page is seen at a time).",
    ["feed"], multiprocess_mode="livemax")
FEED_BEHIND_SECONDS = Gauge(
    "waymark_feed_behind_seconds",
    "Age of the oldest change seen but not yet applied, as of the consumer's last poll; "
    "0 when caught up.", ["feed"], multiprocess_mode="livemax")
FEED_STALLED = Gauge(
    "waymark_feed_stalled",
    "1 while the consumer is stopped at a change it cannot apply (see /readyz).",
    ["feed"], multiprocess_mode="livemax")


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def clear_multiprocess_dir(path: Path) -> None:
    """Create ``path`` if needed and remove the value files of earlier processes, so a
    restarted server does not add its predecessors' pids to its own."""
    path.mkdir(parents=True, exist_ok=True)
    for file in path.glob("*.db"):
        file.unlink(missing_ok=True)


def render() -> bytes:
    """The exposition text: every worker's values in multiprocess mode, else this
    process's."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def process_stopped() -> None:
    """At a worker's shutdown: drop its live gauges (its counters are kept and still
    added up)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())


metrics_router = APIRouter(tags=["health"])


@metrics_router.get("/metrics", response_class=Response,
                    responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                                     "description": "Prometheus text format."}})
async def metrics() -> Response:
    """Counters, latencies and feed lag in Prometheus text format. Open like
    ``/healthz``: it holds counts by route, channel, status and feed, never a personal
    value; keep it off the public ingress and let only the cluster's scraper reach it."""
    return Response(render(), media_type=CONTENT_TYPE_LATEST)


def _walk(routes: Any, prefix: str) -> Iterator[str]:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            yield from _walk(route.original_router.routes, prefix + route.include_context.prefix)
        elif hasattr(route, "path"):
            yield prefix + route.path


def _templates(app: Any) -> list[tuple[re.Pattern[str], str]]:
    cached = getattr(app.state, "metrics_templates", None)
    if cached is None:
        cached = app.state.metrics_templates = [
            (compile_path(template)[0], template)
            for template in sorted(set(_walk(app.router.routes, "")))]
    return cached


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return route.path
    # Answered before routing (a 413 from the body limit): find the route it was for.
    app = scope.get("app")
    if app is not None and hasattr(app, "router"):
        for pattern, template in _templates(app):
            if pattern.match(scope["path"]):
                return template
    return UNMATCHED


class HttpMetrics:
    """Counts every HTTP request by method, route template and status, and times it
    to the end of its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the response started: the server answers 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = _route_template(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)


# --- counting what a transaction did, once it commits -----------------------------------

_PENDING = "waymark_metrics_pending"


def count_on_commit(session: Any, counter: Counter, amount: float = 1, **labels: str) -> None:
    """Add ``amount`` to ``counter`` (with ``labels``) when ``session``'s transaction
    commits; nothing if it rolls back. ``session`` is an ``AsyncSession`` or a
    ``Session``."""
    sync = getattr(session, "sync_session", session)
    child = counter.labels(**labels) if labels else counter
    sync.info.setdefault(_PENDING, []).append((child, amount))


def _pending(session: Session) -> Iterator[tuple[Any, float]]:
    yield from session.info.pop(_PENDING, ())


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for child, amount in _pending(session):
        child.inc(amount)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
