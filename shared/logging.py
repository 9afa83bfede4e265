"""JSON logging that never writes phone numbers, PINs or names.

Code never passes personal data to a logger; this module is the second line of
defence: any run of digits long enough to be a phone number or a PIN is masked
in every record, whatever its source (uvicorn, httpx, a library's exception).
"""

from __future__ import annotations

import json
import logging
import re
import sys
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


def redact(text: str) -> str:
    text = _SENSITIVE_FIELD.sub(lambda m: f"{m.group(1)}=[redacted]", text)
    text = _INTERNATIONAL.sub("[redacted]", text)
    return _DIGIT_RUN.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str = "waymark") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and a redacted message; tracebacks can quote locals.
            entry["exc"] = f"{record.exc_info[0].__name__}: {redact(str(record.exc_info[1]))}"
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route the root, uvicorn and library loggers through the redacting JSON formatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler", "httpx", "alembic"):
        lib = logging.getLogger(name)
        lib.handlers[:] = []
        lib.propagate = True
    # Libraries that log request bodies or SQL parameters below WARNING (twilio logs
    # every API request with its To/Body at INFO; aiosqlite logs statement arguments at
    # DEBUG): pinned, so even WAYMARK_LOG_LEVEL=DEBUG cannot leak a number or a name.
    for name in ("httpx", "httpcore", "twilio", "aiosqlite", "sqlalchemy", "psycopg",
                 "asyncpg", "asyncio", "multipart"):
        logging.getLogger(name).setLevel(logging.WARNING)
