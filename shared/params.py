"""Types for values that arrive in query strings and headers, where a client can send
anything: each either parses to something the database can hold or is a 422 naming
the field, never a 500 further down."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

# The instants a query may name: wide enough for any real record, narrow enough that
# converting to UTC, adding a window's hours or storing it can never overflow.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _as_utc(value: datetime) -> datetime:
    try:
        moment = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise ValueError("must be between 1900 and 9000") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError("must be between 1900 and 9000")
    return moment


UTCInstant = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""An instant with its offset (``2026-12-07T09:00:00Z``), converted to UTC; a naive
or out-of-range value is a validation error naming the field."""


def ascii_digits(value: str, *, max_length: int) -> bool:
    """True for 1 to ``max_length`` ASCII digits. ``str.isdigit`` alone also accepts
    ``²`` and Arabic-Indic digits, which ``int()`` then rejects or reads differently."""
    return 0 < len(value) <= max_length and value.isascii() and value.isdigit()
