"""Checkin tables, on the checkin service's own metadata."""

from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from checkin.enums import (
    AuditAction,
    CaseStatus,
    Channel,
    EventType,
    FollowUpKind,
    FollowUpStatus,
    IdentityCheck,
    OutageChannel,
    Outcome,
    ReminderDelivery,
    Timing,
)
from shared.audit import AuditEntryBase, AuditHeadBase, audit_indexes
from shared.auth import Role
from shared.changefeed import ChangeEventBase, FeedCursorBase, event_order_index
from shared.db import UTCDateTime, new_metadata, one_of, utcnow, vocabulary


class CheckinModel(SQLModel):
    metadata = new_metadata()


class CaseCopy(CheckinModel, table=True):
    """The few attributes of a registry case this service needs, kept current from the
    registry's change feed. No names and no phone number: the caller is matched by the
    keyed hash of their number. The date of birth is kept only to place the person in
    an age group for attendance summaries. Once the registry erases the case
    (``checkin.erasure``), number hash and date of birth are NULL and ``erased_at``
    says when; each window keeps the age group it had (``ExpectedCheckin.age_group``)."""

    __tablename__ = "case_copies"
    __table_args__ = (one_of("status", CaseStatus),)

    case_id: uuid.UUID = Field(primary_key=True)
    # The registry's version of the case: a change older than this is ignored.
    version: int
    reference: str = Field(max_length=8, unique=True)
    keypad_reference: str = Field(max_length=10, unique=True)
    status: CaseStatus = Field(sa_type=vocabulary(16), index=True)
    phone_hash: str | None = Field(default=None, max_length=64, index=True, nullable=True)
    language: str = Field(max_length=8)
    caseworker: str = Field(max_length=128, index=True)
    # Delegations running when the registry wrote its event, as
    # ``[{"to": sub, "until": "YYYY-MM-DD"}]``: whose caseload it is in besides the
    # caseworker's (``checkin.caseloads``).
    delegations: list[dict[str, str]] = Field(default_factory=list, sa_type=sa.JSON)
    programme: str = Field(max_length=64)
    sex: str = Field(max_length=16)
    nationality: str = Field(max_length=2)
    date_of_birth: date | None = Field(default=None, nullable=True)
    vulnerabilities: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    channels: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    rrule: str = Field(max_length=500)
    window_opens: time
    window_hours: int
    grace_hours: int
    timezone: str = Field(max_length=64)
    starts_on: date
    # The requirement the schedule was materialised from, and how far ahead it reaches.
    planned_rule: str | None = Field(default=None, max_length=700)
    planned_until: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # For summaries (``checkin.rollups``): a random key 0-255 fixed for the case's life
    # (the cell-key method's record key for people), and a serial number that, with the
    # key, names the case in the rollups' bitmaps. Neither says anything about the person.
    record_key: int = Field(default_factory=lambda: secrets.randbelow(256), sa_type=sa.SmallInteger)
    serial: int | None = Field(default=None, unique=True, nullable=True)


class FeedCursor(FeedCursorBase, CheckinModel, table=True):
    __tablename__ = "feed_cursors"


class ChangeEvent(ChangeEventBase, CheckinModel, table=True):
    __tablename__ = "change_events"
    # Erasure deletes events (``checkin.erasure``): on SQLite, AUTOINCREMENT so a
    # deleted id is never handed out again below a consumer's cursor.
    __table_args__ = (event_order_index(), one_of("type", EventType),
                      {"sqlite_autoincrement": True})


class Pin(CheckinModel, table=True):
    """A case's keypad PIN, stored only as HMAC-SHA256(server key, salt ‖ case ‖ PIN).

    Why a keyed hash and not bcrypt or argon2: a 6-digit PIN has a million values, so
    any hash slow enough to hurt an offline attacker (100 ms) still falls in about a
    day per case, while capping check-ins at a few dozen a second. The protection is
    the key (``WAYMARK_PIN_KEY``), which never lives in the database: without it a
    stolen table is useless, and with the online lockout guessing is hopeless. The
    per-case salt keeps equal PINs from looking equal."""

    __tablename__ = "pins"

    case_id: uuid.UUID = Field(primary_key=True)
    salt: str = Field(max_length=32)
    hash: str = Field(max_length=64)
    issued_at: datetime = Field(sa_type=UTCDateTime)
    issued_by: str = Field(max_length=128)
    # Telephone and SMS check-in are refused until then (five wrong PINs).
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set while wrong PINs are on record, so a right one clears them only when needed.
    last_failure_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PinFailure(CheckinModel, table=True):
    """One wrong PIN: five inside 15 minutes lock the case's remote check-in."""

    __tablename__ = "pin_failures"
    __table_args__ = (sa.Index("ix_pin_failures_case_id_at", "case_id", "at"),
                      one_of("channel", Channel))

    id: int | None = Field(
        default=None, primary_key=True, sa_type=sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    case_id: uuid.UUID
    channel: Channel = Field(sa_type=vocabulary(16))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Set when the PIN followed a case number typed from a phone that is not the case's
    # (the caller's number hash, or ``withheld``): it counts only against that route, so
    # a stranger can never lock the person's own phone or SMS. Empty for those.
    route: str | None = Field(default=None, max_length=64)


class PinLock(CheckinModel, table=True):
    """A lock, kept after it ends: whether a window closed while the person was locked
    out is decided later (by the job), when the lock may be over or lifted. ``route``
    as in ``PinFailure``: empty for the person's own phone and SMS."""

    __tablename__ = "pin_locks"
    __table_args__ = (sa.Index("ix_pin_locks_case_id_ends_at", "case_id", "ends_at"),)

    id: int | None = Field(
        default=None, primary_key=True, sa_type=sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    case_id: uuid.UUID
    route: str | None = Field(default=None, max_length=64)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)


class ExpectedCheckin(CheckinModel, table=True):
    """One window in which a person is expected to report, materialised from the
    reporting requirement in their time zone. Times are UTC; the window runs from
    ``opens_at`` to ``closes_at`` (on time), then to ``grace_ends_at`` (late), both ends
    included."""

    __tablename__ = "expected_checkins"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "opens_at", name="uq_expected_checkins_case_id_opens_at"),
        sa.Index("ix_expected_checkins_status_grace_ends_at", "status", "grace_ends_at"),
        one_of("status", Outcome), one_of("reminder_status", ReminderDelivery),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(index=True)
    opens_at: datetime = Field(sa_type=UTCDateTime, index=True)
    closes_at: datetime = Field(sa_type=UTCDateTime)
    grace_ends_at: datetime = Field(sa_type=UTCDateTime)
    status: Outcome = Field(default=Outcome.pending, sa_type=vocabulary(16))
    checkin_id: uuid.UUID | None = Field(default=None)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    excusal_reason: str | None = Field(default=None, max_length=500)
    excused_by: str | None = Field(default=None, max_length=128)
    outage_id: uuid.UUID | None = Field(default=None)
    # The last reminder's delivery status, as the notifications service reports it.
    reminder_status: ReminderDelivery | None = Field(default=None, sa_type=vocabulary(16))
    # What summaries count the window under (``checkin.rollups``), stamped when it is
    # planned and again when it is first decided, so a later change of the case does not
    # rewrite the past: the record key (random, 0-255, fixed for life), the local date it
    # opens on, and the case's programme, sex, age group on that date, nationality and
    # vulnerabilities ('|'-joined, sorted), the check-in's channel and reporting centre
    # (``none`` without one). NULL only on rows no flush has stamped yet.
    record_key: int = Field(default_factory=lambda: secrets.randbelow(256), sa_type=sa.SmallInteger)
    local_date: date | None = Field(default=None, nullable=True)
    programme: str | None = Field(default=None, max_length=64)
    sex: str | None = Field(default=None, max_length=16)
    age_group: str | None = Field(default=None, max_length=8)
    nationality: str | None = Field(default=None, max_length=8)
    vulnerabilities: str | None = Field(default=None, max_length=500)
    channel: str | None = Field(default=None, max_length=16)
    reporting_centre: str | None = Field(default=None, max_length=120)


class AttendanceRollup(CheckinModel, table=True):
    """Counts of expected check-ins by outcome for one period (a day, an ISO week or a
    month of local opening dates) and one combination of stamped dimensions, with the
    sum of their record keys modulo 256 per outcome, and the cases behind them as a
    roaring bitmap (``checkin.rollups`` keeps them; ``checkin.summaries`` reads them)."""

    __tablename__ = "attendance_rollups"
    __table_args__ = (sa.Index("ix_attendance_rollups_cube_grain_period", "cube", "grain",
                               "period"),)

    key: str = Field(primary_key=True, max_length=900)
    # Which of ``checkin.rollups.CUBES``: the dimensions kept (the others are ``*``).
    cube: int = Field(sa_type=sa.SmallInteger)
    grain: str = Field(max_length=8)
    period: date
    programme: str = Field(max_length=64)
    sex: str = Field(max_length=16)
    age_group: str = Field(max_length=8)
    nationality: str = Field(max_length=8)
    vulnerabilities: str = Field(max_length=500)
    channel: str = Field(max_length=16)
    reporting_centre: str = Field(max_length=120)
    on_time: int = 0
    late: int = 0
    missed: int = 0
    excused: int = 0
    pending: int = 0
    on_time_keys: int = 0
    late_keys: int = 0
    missed_keys: int = 0
    excused_keys: int = 0
    pending_keys: int = 0
    # The cases in ``cases``, and the sum of their record keys modulo 256: a group that
    # is one row needs no bitmap.
    people: int = 0
    people_keys: int = 0
    cases: bytes = Field(sa_type=sa.LargeBinary)


class RollupMove(CheckinModel, table=True):
    """Windows that moved from one rollup cell to another in one transaction, not yet
    folded into the rollups (``checkin.folding``): written beside the change, so the
    busy paths never wait on the rollups' shared rows. Each move is ``[old, new]``,
    a cell being its case id, record key, outcome, local date and stamps joined by a
    unit separator (``checkin.rollups.parse_cell``), or ``null``."""

    __tablename__ = "rollup_moves"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: int | None = Field(default=None, primary_key=True)
    moves: list = Field(sa_type=sa.JSON)


class Checkin(CheckinModel, table=True):
    """A report that reached us: by SMS, keypad call or in person. One that fits no
    open window is kept as an unscheduled contact (``expected_checkin_id`` empty)."""

    __tablename__ = "checkins"
    __table_args__ = (one_of("channel", Channel), one_of("timing", Timing),
                      one_of("identity_confirmed_by", IdentityCheck))

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(index=True)
    channel: Channel = Field(sa_type=vocabulary(16))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expected_checkin_id: uuid.UUID | None = Field(default=None, index=True)
    timing: Timing = Field(sa_type=vocabulary(16))
    reporting_centre: str | None = Field(default=None, max_length=120)
    identity_confirmed_by: IdentityCheck | None = Field(default=None, sa_type=vocabulary(32))
    recorded_by: str | None = Field(default=None, max_length=128)


class Reply(CheckinModel, table=True):
    """The answer given to a webhook or idempotent request, by its key (``sms:<MessageSid>``,
    ``voice:<CallSid>:<step>``, ``in_person:<hash of actor and Idempotency-Key>``): a retry
    gets the same answer and records nothing twice. The key is kept 400 days, the body
    only 7 (``body`` empty after that): a replay after that records nothing and is told
    nothing."""

    __tablename__ = "replies"

    key: str = Field(primary_key=True, max_length=200)
    status_code: int = Field(default=200)
    media_type: str = Field(default="application/xml", max_length=64)
    body: str | None = Field(default="", sa_type=sa.Text, nullable=True)
    # SHA-256 of the request an ``Idempotency-Key`` came with: the same key with another
    # request is refused rather than answered with the first one's answer.
    request_hash: str | None = Field(default=None, max_length=64)
    # The cases the request read (space-separated ids), so the answer's body goes when
    # one of them is erased (``checkin.erasure``). NULL for answers stored before che0008.
    subjects: str | None = Field(default=None, sa_type=sa.Text, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class VoiceCall(CheckinModel, table=True):
    """What a keypad call has established so far (its language; the case, once the
    caller is identified), so nothing about the caller travels in URLs."""

    __tablename__ = "voice_calls"

    call_sid: str = Field(primary_key=True, max_length=64)
    language: str | None = Field(default=None, max_length=8)
    case_id: uuid.UUID | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class Outage(CheckinModel, table=True):
    """A service outage a supervisor declared: check-ins missed during it are excused."""

    __tablename__ = "outages"
    __table_args__ = (one_of("channel", OutageChannel),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    channel: OutageChannel = Field(sa_type=vocabulary(16))
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=500)
    declared_by: str = Field(max_length=128)
    declared_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FollowUp(CheckinModel, table=True):
    """Something a caseworker should look at, never a sanction: a missed check-in, a
    PIN lock, a STOP or a number reminders cannot reach. Vulnerability flags are copied
    from the case when it opens."""

    __tablename__ = "follow_ups"
    __table_args__ = (sa.Index("ix_follow_ups_assigned_to_status", "assigned_to", "status"),
                      one_of("kind", FollowUpKind), one_of("status", FollowUpStatus))

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(index=True)
    kind: FollowUpKind = Field(sa_type=vocabulary(32))
    status: FollowUpStatus = Field(default=FollowUpStatus.open, sa_type=vocabulary(16))
    assigned_to: str = Field(max_length=128)
    expected_checkin_id: uuid.UUID | None = Field(default=None)
    vulnerabilities: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    detail: str = Field(default="", max_length=500)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=128)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: str | None = Field(default=None, max_length=128)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str | None = Field(default=None, max_length=2000)


class AuditEntry(AuditEntryBase, CheckinModel, table=True):
    """The audit trail (``shared.audit``): append-only, chained, no personal data."""

    __tablename__ = "audit_entries"
    __table_args__ = (*audit_indexes(), one_of("action", AuditAction), one_of("role", Role))


class AuditHead(AuditHeadBase, CheckinModel, table=True):
    __tablename__ = "audit_head"
