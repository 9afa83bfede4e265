"""Request and response models. Requests are validated here and never go straight
into ``table=True`` models (those skip validation)."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrulestr
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from registry.enums import CaseStatus, Channel, HistoryKind, Outcome, Sex, Vulnerability
from shared.auth import Role

# ISO 3166-1 alpha-2: phonenumbers keeps the inhabited list current (with XK for
# Kosovo); it lacks territories without a phone plan, added here. "XX" means stateless
# or nationality unknown, which is common in this field and must not block a case.
NATIONALITIES = frozenset(phonenumbers.SUPPORTED_REGIONS) | {
    "AQ", "BV", "GS", "HM", "PN", "TF", "UM", "XX"}
_ZONES = frozenset(available_timezones())
_FREQUENCIES = {DAILY, WEEKLY, MONTHLY, YEARLY}
_UNSUPPORTED_RRULE_PARTS = ("DTSTART", "BYHOUR", "BYMINUTE", "BYSECOND", "BYYEARDAY",
                            "BYWEEKNO", "BYEASTER", "BYSETPOS")
# The largest |n| in BYDAY=nXX that can occur, per frequency (none for DAILY/WEEKLY).
_MAX_BYDAY_ORDINAL = {DAILY: 0, WEEKLY: 0, MONTHLY: 5, YEARLY: 53}


def _phone(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number in international form (+ and country code)") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _nationality(value: str) -> str:
    code = value.upper()
    if code not in NATIONALITIES:
        raise ValueError("not an ISO 3166-1 alpha-2 country code (XX for stateless or unknown)")
    return code


def _timezone(value: str) -> str:
    try:
        # "localtime" and "Factory" are in the database but mean the host's zone.
        if value not in _ZONES or ("/" not in value and value != "UTC"):
            raise ZoneInfoNotFoundError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not an IANA time zone (for example Europe/London)") from None
    return value


def _plausible_birth(value: date) -> date:
    # Not pydantic's PastDate: it reads the system clock in Rust, which neither a test's
    # frozen clock nor anything else in Python sees.
    if value >= date.today():
        raise ValueError("Date should be in the past")
    if value < date(1900, 1, 1):
        raise ValueError("must be after 1900-01-01")
    return value


def _not_in_past(value: date) -> date:
    if value < date.today():
        raise ValueError("must not be in the past")
    return value


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("lists each value once")
    return values


def _text(value: str) -> str:
    # A NUL is refused by PostgreSQL and a lone surrogate (valid in JSON's \ud800) by
    # every UTF-8 encoder: caught here, they are a 422 naming the field, not a 500.
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n\r" for ch in value):
        raise ValueError("holds a control character or a lone surrogate")
    return value


def _plausible_start(value: date) -> date:
    # Every consumer walks the rule from its start (dateutil cannot jump ahead), so a
    # start centuries away makes each schedule lookup iterate for seconds.
    if not date(2000, 1, 1) <= value <= date(2099, 12, 31):
        raise ValueError("must be between 2000-01-01 and 2099-12-31")
    return value


def _programme(value: str) -> str:
    return value.strip().lower()


Phone = Annotated[str, AfterValidator(_phone)]
Nationality = Annotated[str, Field(min_length=2, max_length=2), AfterValidator(_nationality)]
TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_timezone)]
Text = Annotated[str, AfterValidator(_text)]
"""Free text as people type it: any script, but no control characters."""
Name = Annotated[Text, Field(min_length=1, max_length=100)]
Caseworker = Annotated[Text, Field(min_length=1, max_length=128)]
Reason = Annotated[Text, Field(min_length=3, max_length=500)]
Rrule = Annotated[Text, Field(min_length=6, max_length=500)]
Language = Annotated[str, Field(min_length=2, max_length=8, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$")]
Programme = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,63}$"), AfterValidator(_programme)]
ReviewDate = Annotated[date, AfterValidator(_not_in_past)]
BirthDate = Annotated[date, AfterValidator(_plausible_birth)]
StartDate = Annotated[date, AfterValidator(_plausible_start)]
Channels = Annotated[list[Channel], Field(min_length=1), AfterValidator(_unique)]
Vulnerabilities = Annotated[list[Vulnerability], AfterValidator(_unique)]


def check_rrule(rule: str, starts_on: date, window_opens: time) -> str:
    """Parse an RRULE and make sure it occurs; returns it without an ``RRULE:`` prefix."""
    rule = rule.strip().removeprefix("RRULE:")
    if "\n" in rule or any(part in rule.upper() for part in _UNSUPPORTED_RRULE_PARTS):
        raise ValueError("one RRULE line; the time comes from window_opens and the start from "
                         "starts_on")
    dtstart = datetime.combine(starts_on, window_opens)
    try:
        parsed = rrulestr(rule, dtstart=dtstart)
    except Exception as exc:  # dateutil raises ValueError, TypeError, IndexError...
        raise ValueError(f"not an RFC 5545 RRULE: {exc}") from None
    if parsed._freq not in _FREQUENCIES:
        raise ValueError("reporting more often than daily is not supported")
    # dateutil scans to the year 9999 for a rule that never occurs, on the event loop.
    # The checks below rule out every such rule among the parts we accept, so the
    # search for the first occurrence stays short.
    max_ordinal = _MAX_BYDAY_ORDINAL[parsed._freq]
    if any(abs(n) > max_ordinal for _, n in parsed._bynweekday or ()):
        raise ValueError("BYDAY has an ordinal this frequency cannot reach")
    months = parsed._bymonth or tuple(range(1, 13))
    monthdays = [*parsed._bymonthday, *parsed._bynmonthday]
    if monthdays and not any(abs(d) <= _days_in_month(m) for m in months for d in monthdays):
        raise ValueError("never occurs")
    try:
        first = parsed.after(dtstart, inc=True)
    except Exception:
        first = None
    if first is None:
        raise ValueError("never occurs")
    return rule


def _cover_date(value: date) -> date:
    # Cover for leave ends: a delegation for ever is an assignment, which is PATCH's.
    if value < date.today():
        raise ValueError("must not be in the past")
    if value > date.today() + timedelta(days=366):
        raise ValueError("at most a year ahead; reassign the case instead")
    return value


def _days_in_month(month: int) -> int:
    return (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Patch(Strict):
    """A partial update: absent means unchanged; null is refused (every field we hold
    is required), so a typo'd null never silently does nothing."""

    @model_validator(mode="after")
    def _no_nulls(self) -> Patch:
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise PydanticCustomError("null", "{fields}: leave a field out to keep it; "
                                      "null is not a value", {"fields": ", ".join(sorted(nulls))})
        return self


class PersonIn(Strict):
    given_name: Name
    family_name: Name
    date_of_birth: BirthDate
    sex: Sex
    nationality: Nationality
    preferred_language: Language
    phone: Phone


class PersonPatch(Patch):
    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: BirthDate | None = None
    sex: Sex | None = None
    nationality: Nationality | None = None
    preferred_language: Language | None = None
    phone: Phone | None = None


class ReportingIn(Strict):
    channels: Channels
    timezone: TimeZone
    starts_on: StartDate
    window_opens: time
    window_hours: int = Field(ge=1, le=72)
    grace_hours: int = Field(ge=0, le=168)
    # Declared last: its validator reads starts_on and window_opens.
    rrule: Rrule

    @field_validator("rrule")
    @classmethod
    def _rrule_occurs(cls, value: str, info) -> str:
        starts_on = info.data.get("starts_on") or date.today()
        window_opens = info.data.get("window_opens") or time(9)
        return check_rrule(value, starts_on, window_opens)

    @field_validator("window_opens")
    @classmethod
    def _whole_minutes(cls, value: time) -> time:
        if value.second or value.microsecond or value.tzinfo:
            raise ValueError("a local time in whole minutes, like 09:00")
        return value


class ReportingPatch(Patch):
    """Any subset of the reporting requirement; merged and re-validated as a whole."""

    channels: Channels | None = None
    timezone: TimeZone | None = None
    starts_on: StartDate | None = None
    window_opens: time | None = None
    window_hours: int | None = Field(default=None, ge=1, le=72)
    grace_hours: int | None = Field(default=None, ge=0, le=168)
    rrule: Rrule | None = None


class CaseCreate(Strict):
    person: PersonIn
    programme: Programme
    vulnerabilities: Vulnerabilities = []
    reporting: ReportingIn
    review_due: ReviewDate
    # Defaults to the caller; only a supervisor may name someone else.
    caseworker: Caseworker | None = None


class CasePatch(Patch):
    person: PersonPatch | None = None
    programme: Programme | None = None
    vulnerabilities: Vulnerabilities | None = None
    reporting: ReportingPatch | None = None
    review_due: ReviewDate | None = None
    caseworker: Caseworker | None = None


class TransitionIn(Strict):
    to: CaseStatus
    reason: Reason
    outcome: Outcome | None = None


class PersonRead(BaseModel):
    """The person. Once the case is erased (``CaseRead.erased_at``), names, date of
    birth and phone are ``null``: what remains identifies nobody."""

    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    sex: Sex
    nationality: str
    preferred_language: str
    phone: str | None


class ReportingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    channels: list[Channel]
    rrule: str
    window_opens: time
    window_hours: int
    grace_hours: int
    timezone: str
    starts_on: date

    @field_serializer("window_opens")
    def _hh_mm(self, value: time) -> str:
        return value.strftime("%H:%M")


class DelegationIn(Strict):
    """Cover for leave: ``to`` may see and change the case up to and including
    ``until`` (a UTC date, today or later). Delegating again to the same caseworker
    replaces the date and the reason."""

    to: Caseworker
    until: Annotated[date, AfterValidator(_cover_date)]
    reason: Reason


class DelegationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    to: str = Field(validation_alias="delegate")
    until: date
    reason: str | None  # null once the case is erased
    created_by: str
    created_at: datetime


class CaseRead(BaseModel):
    id: uuid.UUID
    reference: str
    keypad_reference: str
    status: CaseStatus
    outcome: Outcome | None
    programme: str
    vulnerabilities: list[Vulnerability]
    caseworker: str
    # Delegations still running today; expired ones are not listed.
    delegations: list[DelegationRead]
    review_due: date
    person: PersonRead
    reporting: ReportingRead
    version: int
    created_at: datetime
    updated_at: datetime
    # When the person's data was erased; null for a case not erased.
    erased_at: datetime | None = None


class ErasureIn(Strict):
    """Why the person's data is erased (the request, its date, who asked): kept in the
    case's history as the erasure's reason. Say why, never who the person is: the
    reason outlives everything else about them."""

    reason: Reason


class CaseList(BaseModel):
    items: list[CaseRead]
    next_cursor: str | None


class DeskCase(BaseModel):
    """What a reporting desk sees of a case found by its reference: enough to greet
    the person and confirm who is at the counter, nothing more (no phone, date of
    birth, nationality, vulnerabilities, history or caseworker)."""

    id: uuid.UUID
    reference: str
    # null once the case is erased
    given_name: str | None
    family_initial: str | None
    status: CaseStatus


class HistoryEntry(BaseModel):
    """One entry of a case's history. A ``transition`` fills the status keys; an
    ``update`` or a ``delegation`` lists ``fields`` changed and, for fields that are not
    about the person, ``changes`` (``{"field": {"from": ..., "to": ...}}``)."""

    kind: HistoryKind
    at: datetime
    actor: str
    # None only for entries written before actors' roles were recorded.
    actor_role: Role | None
    from_status: CaseStatus | None = None
    to_status: CaseStatus | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    fields: list[str] = []
    changes: dict[str, dict[str, Any]] = {}
