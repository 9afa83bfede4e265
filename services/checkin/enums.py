"""Checkin's closed vocabularies. The database keeps their string values (with a CHECK
constraint on each column that holds one); the API and the change feed carry the same
strings. Adding a member is a code change plus a migration that widens the CHECK.

``CaseStatus`` and ``ReminderDelivery`` are read vocabularies: the registry and the
notifications service own them, and checkin must learn a new member before its
publisher sends it (an event carrying an unknown one cannot be applied)."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """Where an expected check-in stands. Only ``pending`` is undecided; ``missed`` opens
    a follow-up, never a sanction."""

    pending = "pending"
    on_time = "on_time"
    late = "late"
    missed = "missed"
    excused = "excused"


ATTENDED = (Outcome.on_time, Outcome.late)
# Still to attend: an excused window may yet be attended (the excusal then stands).
OUTSTANDING = (Outcome.pending, Outcome.excused)


class Channel(StrEnum):
    """How a check-in reached us. No biometric or location channel exists."""

    sms = "sms"
    voice = "voice"
    in_person = "in_person"


class OutageChannel(StrEnum):
    """What a declared outage took down: one channel or all of them."""

    sms = "sms"
    voice = "voice"
    in_person = "in_person"
    all = "all"


class Timing(StrEnum):
    """A check-in against its window: inside it, in the grace period, or in none."""

    on_time = "on_time"
    late = "late"
    unscheduled = "unscheduled"


class IdentityCheck(StrEnum):
    """How the officer confirmed who reported in person (never a biometric)."""

    document = "document"
    known_to_officer = "known_to_officer"


class FollowUpKind(StrEnum):
    missed_checkin = "missed_checkin"
    pin_locked = "pin_locked"
    opted_out = "opted_out"
    contact_unreachable = "contact_unreachable"


class FollowUpStatus(StrEnum):
    """``open`` and ``acknowledged`` are both open work; ``closed`` is done."""

    open = "open"
    acknowledged = "acknowledged"
    closed = "closed"


class SmsCommand(StrEnum):
    """What an inbound text asks for (``checkin.conversations.parse_sms``)."""

    pin = "pin"
    stop = "stop"
    start = "start"
    help = "help"
    status = "status"
    unknown = "unknown"


class VoiceStep(StrEnum):
    """What a keypad call is asking for."""

    language = "language"
    reference = "reference"
    pin = "pin"


class CaseStatus(StrEnum):
    """The registry's case lifecycle, as checkin's copy holds it."""

    active = "active"
    suspended = "suspended"
    resolved = "resolved"
    closed = "closed"


class ReminderDelivery(StrEnum):
    """A reminder's delivery, as the notifications service reports it."""

    sent = "sent"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"


# A reminder that reached the person outranks one that did not: a follow-up only says
# "not delivered" when none of the check-in's reminders got through.
REMINDER_RANK = {ReminderDelivery.failed: 1, ReminderDelivery.undelivered: 1,
                 ReminderDelivery.sent: 2, ReminderDelivery.delivered: 3}
NOT_DELIVERED = (ReminderDelivery.undelivered, ReminderDelivery.failed)


class UndeliverableReason(StrEnum):
    """Why notifications says a number cannot be reached (``reminder.undeliverable``), as
    checkin reads it; the event keeps the reason a plain string, so a new one upstream
    is read as "cannot receive them" rather than stopping the feed."""

    opted_out = "opted_out"
    invalid_number = "invalid_number"


class RegistryEvent(StrEnum):
    """The registry's events checkin applies (each ``case.*`` but ``case.erased`` carries
    the whole case; ``case.erased`` says the person's data must go)."""

    case_created = "case.created"
    case_updated = "case.updated"
    case_status_changed = "case.status_changed"
    case_erased = "case.erased"


class NotificationsEvent(StrEnum):
    """The notifications service's events checkin applies."""

    reminder_status = "reminder.status"
    reminder_undeliverable = "reminder.undeliverable"


class EventType(StrEnum):
    """What checkin publishes on its change feed (``checkin.events``)."""

    expected_checkin_planned = "expected_checkin.planned"
    expected_checkin_cancelled = "expected_checkin.cancelled"
    expected_checkin_outcome = "expected_checkin.outcome"
    checkin_recorded = "checkin.recorded"
    pin_issued = "pin.issued"
    outage_declared = "outage.declared"
    follow_up_opened = "follow_up.opened"
    follow_up_acknowledged = "follow_up.acknowledged"
    follow_up_closed = "follow_up.closed"
    contact_opted_out = "contact.opted_out"
    contact_opted_in = "contact.opted_in"


class AuditAction(StrEnum):
    """What a person did with a case's data here, as the audit trail names it
    (``shared.audit``). The person's own check-ins by phone are not in it: no one
    else looked at anything."""

    pin_issued = "pin.issued"
    checkins_read = "checkins.read"
    checkin_recorded = "checkin.recorded"
    expected_checkin_excused = "expected_checkin.excused"
    follow_ups_listed = "follow_ups.listed"
    follow_up_acknowledged = "follow_up.acknowledged"
    follow_up_closed = "follow_up.closed"
    desk_looked_up = "desk.looked_up"
    # A statement of the case's attendance made for the person (any format).
    statement_produced = "statement.produced"
    # This service's copy erased, on the registry's ``case.erased`` (role ``service``).
    case_erased = "case.erased"


class Period(StrEnum):
    """The calendar periods a summary can be broken down by (``group_by=period``)."""

    week = "week"
    month = "month"


class Audience(StrEnum):
    """Who reads a summary: exact counts, or counts protected by the cell-key method."""

    exact = "exact"
    cell_key = "cell_key"


class StatementFormat(StrEnum):
    """What a person's attendance statement is written as (``checkin.statements``)."""

    html = "html"
    csv = "csv"
    pdf = "pdf"
