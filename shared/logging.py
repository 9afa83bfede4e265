"""Logging that never writes phone numbers, PINs or names: one JSON object a line, or
one readable line when stderr is a terminal (a developer's ``waymark run``); uvicorn's
own lines (``uvicorn_log_config``) and the services' in the same format.

Code never passes personal data to a logger; this module is the second line of
defence: any run of digits long enough to be a phone number or a PIN is masked
in every record, whatever its source (uvicorn, httpx, a library's exception).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# Six or more digits, optionally with + and single spaces: a PIN (6 digits) or a phone
# number. Addresses, timestamps and UUIDs are kept (dots, dashes and hex break the run).
_DIGIT_RUN = re.compile(r"(?<![\w-])(?<!\d\.)\+?\d(?: ?\d){5,}(?![\w:-]|\.\d)")
# An international number as people write it: +44-7911-123456, +1 (415) 555-2671.
_INTERNATIONAL = re.compile(r"\+\d[\d ().\-]{5,}\d")
# Form and query fields that carry personal data, should a URL or body ever be logged.
_SENSITIVE_FIELD = re.compile(
    r"(?i)\b(from|to|caller|called|body|digits|pin|phone|given_name|family_name|"
    r"date_of_birth)=([^&\s]*)"
)


# The id of the request being served (``shared.web.RequestId``), for every log line
# written while serving it and every call made to another service on its behalf.
request_id: ContextVar[str | None] = ContextVar("waymark_request_id", default=None)


def redact(text: str) -> str:
    text = _SENSITIVE_FIELD.sub(lambda m: f"{m.group(1)}=[redacted]", text)
    text = _INTERNATIONAL.sub("[redacted]", text)
    return _DIGIT_RUN.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str = "waymark") -> None:
        super().__init__()
        self.service = service

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if (current := request_id.get()) is not None:
            entry["request_id"] = current
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and a redacted message; tracebacks can quote locals.
            entry["exc"] = f"{record.exc_info[0].__name__}: {redact(str(record.exc_info[1]))}"
        return entry

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), ensure_ascii=False)


class ConsoleFormatter(JsonFormatter):
    """The same fields, redacted the same way, as one line a person reads:
    ``01:31:18.123 INFO  registry uvicorn.access [<request id>] <message>``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = self.fields(record)
        line = (f"{entry['ts'][11:23]} {entry['level'].upper():<7} {entry['service']} "
                f"{entry['logger']}")
        if "request_id" in entry:
            line += f" [{entry['request_id']}]"
        line += f" {entry['msg']}"
        if "exc" in entry:
            line += f" ({entry['exc']})"
        return line.replace("\n", " ")  # one line, always


def formatter_for(service: str, stream: Any = None) -> JsonFormatter:
    """Readable lines on a terminal, JSON anywhere else (a file, a pipe, a collector)."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return ConsoleFormatter(service) if isatty is not None and isatty() else JsonFormatter(service)


# Lines nobody reads unless debugging: other services polling the change feed and
# probes asking for health, every few seconds each.
_ROUTINE_PATHS = frozenset({"/v1/changes", "/healthz", "/readyz", "/metrics"})


class RoutineAccess(logging.Filter):
    """Keeps uvicorn's access lines for the routine paths out of the log unless the
    level is DEBUG; a person's own requests stand out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        path = str(args[2]).split("?", 1)[0] if len(args) >= 3 else ""
        return path not in _ROUTINE_PATHS


def uvicorn_log_config(service: str, level: str = "INFO") -> dict[str, Any]:
    """uvicorn's ``log_config``: its own lines (``Started server process``, a worker's
    start and stop) through the same formatter from the first one, in every worker;
    the lifespan's ``configure_logging`` then adds the rest."""
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"waymark": {"()": "shared.logging.formatter_for", "service": service}},
        "filters": {"routine": {"()": "shared.logging.RoutineAccess"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "waymark",
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True, "filters": ["routine"]},
        },
    }


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route the root, uvicorn and library loggers through the redacting formatter
    (``formatter_for``: JSON, or readable lines on a terminal)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(service, sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler", "httpx", "alembic"):
        lib = logging.getLogger(name)
        lib.handlers[:] = []
        lib.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RoutineAccess) for f in access.filters):
        access.addFilter(RoutineAccess())
    # The scheduler says "Running job ..." and "executed successfully" at INFO on every
    # tick: kept for DEBUG; its warnings (a missed run) and errors always show.
    logging.getLogger("apscheduler").setLevel(
        logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING)
    # Libraries that log request bodies or SQL parameters below WARNING (twilio logs
    # every API request with its To/Body at INFO; aiosqlite logs statement arguments at
    # DEBUG): pinned, so even WAYMARK_LOG_LEVEL=DEBUG cannot leak a number or a name.
    for name in ("httpx", "httpcore", "twilio", "aiosqlite", "sqlalchemy", "psycopg",
                 "asyncpg", "asyncio", "multipart"):
        logging.getLogger(name).setLevel(logging.WARNING)
