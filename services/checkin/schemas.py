"""Request and response models. Requests are validated here and never go straight
into ``table=True`` models (those skip validation)."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from checkin.cases import reference_code
from checkin.enums import (
    CaseStatus,
    Channel,
    FollowUpKind,
    FollowUpStatus,
    IdentityCheck,
    OutageChannel,
    Outcome,
    ReminderDelivery,
    Timing,
)
from checkin.models import CaseCopy, Checkin, ExpectedCheckin, FollowUp, Outage
from shared.params import UTCInstant


def _storable(value: str) -> str:
    # NUL and unpaired surrogates parse from JSON but no database stores them: a 422
    # naming the field, not a 500 at the insert. Other control characters say nothing.
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n\r" for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _reference(value: str) -> str:
    if reference_code(value) is None:
        raise ValueError("not a case reference: ABCD-EFG, or the 10-digit keypad number")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1),
                 AfterValidator(_storable)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PinIssued(BaseModel):
    pin: str = Field(description="Shown once: only a keyed hash is stored.")


class InPersonCheckin(Strict):
    """An officer records that the person reported at the counter. There is no field
    for a photo, fingerprint or any other biometric, and unknown fields are refused."""

    case_id: uuid.UUID | None = None
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=7,
                                                max_length=16),
                         AfterValidator(_reference)] | None = None
    reporting_centre: Annotated[Text, StringConstraints(max_length=120)]
    identity_confirmed_by: IdentityCheck

    @model_validator(mode="after")
    def one_way_to_find_the_case(self) -> InPersonCheckin:
        if (self.case_id is None) == (self.reference is None):
            raise ValueError("give exactly one of case_id and reference")
        return self


class CheckinRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    channel: Channel
    received_at: datetime
    timing: Timing
    expected_checkin_id: uuid.UUID | None
    reporting_centre: str | None
    identity_confirmed_by: IdentityCheck | None

    @classmethod
    def of(cls, row: Checkin) -> CheckinRead:
        return cls.model_validate(row, from_attributes=True)


class NextWindow(BaseModel):
    """The next window to report in (``checkin.desk.next_window``): UTC instants and the
    person's time zone, in which the desk shows them."""

    opens_at: datetime
    closes_at: datetime
    grace_ends_at: datetime
    timezone: str = Field(description="IANA zone of the person's schedule")

    @classmethod
    def of(cls, row: ExpectedCheckin | None, timezone: str) -> NextWindow | None:
        if row is None:
            return None
        return cls(opens_at=row.opens_at, closes_at=row.closes_at,
                   grace_ends_at=row.grace_ends_at, timezone=timezone)


class InPersonCheckinRead(CheckinRead):
    """A check-in recorded at the counter, with the window after it, so the officer can
    tell the person when to come next (``null``: none planned)."""

    next_window: NextWindow | None


class DeskCase(BaseModel):
    """What the reporting desk reads here: the case's status and its next window
    (``null`` when none), and nothing else (the name is the registry's desk route's;
    no phone, history or other windows)."""

    reference: str
    status: CaseStatus
    next_window: NextWindow | None


class Excusal(BaseModel):
    reason: str | None  # null once the case is erased
    excused_by: str
    outage_id: uuid.UUID | None


class ExpectedCheckinRead(BaseModel):
    id: uuid.UUID
    opens_at: datetime
    closes_at: datetime
    grace_ends_at: datetime
    # The same moments in the person's time zone, as they were told them.
    opens_local: datetime
    closes_local: datetime
    grace_ends_local: datetime
    outcome: Outcome
    checkin: CheckinRead | None
    excusal: Excusal | None
    reminder_status: ReminderDelivery | None

    @classmethod
    def of(cls, row: ExpectedCheckin, zone: ZoneInfo,
           checkin: Checkin | None) -> ExpectedCheckinRead:
        excusal = None
        if row.excusal_reason is not None or row.excused_by is not None:
            excusal = Excusal(reason=row.excusal_reason, excused_by=row.excused_by or "",
                              outage_id=row.outage_id)
        return cls(
            id=row.id, opens_at=row.opens_at, closes_at=row.closes_at,
            grace_ends_at=row.grace_ends_at, opens_local=row.opens_at.astimezone(zone),
            closes_local=row.closes_at.astimezone(zone),
            grace_ends_local=row.grace_ends_at.astimezone(zone), outcome=row.status,
            checkin=CheckinRead.of(checkin) if checkin else None, excusal=excusal,
            reminder_status=row.reminder_status)


class CaseCheckins(BaseModel):
    case_id: uuid.UUID
    reference: str
    status: CaseStatus
    timezone: str
    expected: list[ExpectedCheckinRead]
    # Check-ins that fell in no open window: kept, never refused.
    unscheduled_contacts: list[CheckinRead]

    @classmethod
    def of(cls, case: CaseCopy, expected: list[ExpectedCheckin],
           checkins: list[Checkin]) -> CaseCheckins:
        zone = ZoneInfo(case.timezone)
        by_id = {c.id: c for c in checkins}
        return cls(
            case_id=case.case_id, reference=case.reference, status=case.status,
            timezone=case.timezone,
            expected=[ExpectedCheckinRead.of(e, zone, by_id.get(e.checkin_id)) for e in expected],
            unscheduled_contacts=[CheckinRead.of(c) for c in checkins
                                  if c.expected_checkin_id is None])


class ExcusalIn(Strict):
    reason: Annotated[Text, StringConstraints(max_length=500)]


class OutageIn(Strict):
    channel: OutageChannel
    starts_at: UTCInstant
    ends_at: UTCInstant
    reason: Annotated[Text, StringConstraints(max_length=500)]

    @model_validator(mode="after")
    def ends_after_start(self) -> OutageIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class OutageRead(BaseModel):
    id: uuid.UUID
    channel: OutageChannel
    starts_at: datetime
    ends_at: datetime
    reason: str
    declared_by: str
    declared_at: datetime

    @classmethod
    def of(cls, row: Outage) -> OutageRead:
        return cls.model_validate(row, from_attributes=True)


class OutageDeclared(OutageRead):
    # Missed check-ins excused at once; pending ones are excused as their grace ends.
    excused: int


class FollowUpRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    kind: FollowUpKind
    status: FollowUpStatus
    assigned_to: str
    expected_checkin_id: uuid.UUID | None
    vulnerabilities: list[str]
    detail: str
    opened_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    note: str | None

    @classmethod
    def of(cls, row: FollowUp) -> FollowUpRead:
        return cls.model_validate(row, from_attributes=True)


class FollowUpList(BaseModel):
    items: list[FollowUpRead]


class FollowUpClose(Strict):
    note: Annotated[Text, StringConstraints(max_length=2000)]
