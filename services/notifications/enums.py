"""Notifications' closed vocabularies. The database keeps their string values (with a
CHECK constraint on each column of its own that holds one); the API and the change
feed carry the same strings. Adding a member is a code change plus a migration that
widens the CHECK.

``CaseStatus``, ``ContactChannel``, ``CheckinOutcome``, ``FollowUpKind`` and
``FollowUpStatus`` are read vocabularies: the registry and checkin own them.
Notifications only compares against the members it acts on, and its copies of them
carry no CHECK, so a member added upstream never stops a feed here."""

from __future__ import annotations

from enum import StrEnum


class ReminderKind(StrEnum):
    """When a reminder goes, relative to the window it announces (``plan``)."""

    evening_before = "evening_before"
    window_opens = "window_opens"
    nudge = "nudge"


class ReminderStatus(StrEnum):
    """planned → sending → sent; or cancelled (no longer wanted), or failed (a permanent
    provider error, or its deadline passed before it could go)."""

    planned = "planned"
    sending = "sending"
    sent = "sent"
    cancelled = "cancelled"
    failed = "failed"


class Channel(StrEnum):
    """How a reminder reaches the person."""

    sms = "sms"
    voice = "voice"


class Provider(StrEnum):
    """Where reminders go (``WAYMARK_NOTIFY_PROVIDER``)."""

    log = "log"
    twilio = "twilio"


class DeliveryStatus(StrEnum):
    """Twilio's message and call statuses, as its status callbacks report them. A
    status only moves forward (``RANK``); a callback with any other status is
    acknowledged and changes nothing."""

    accepted = "accepted"
    scheduled = "scheduled"
    queued = "queued"
    initiated = "initiated"
    sending = "sending"
    ringing = "ringing"
    sent = "sent"
    in_progress = "in-progress"
    answered = "answered"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"
    completed = "completed"
    busy = "busy"
    no_answer = "no-answer"
    canceled = "canceled"
    read = "read"


# A status only moves forward, so a late or repeated callback never undoes a later one.
RANK: dict[DeliveryStatus, int] = {
    DeliveryStatus.accepted: 1, DeliveryStatus.scheduled: 1, DeliveryStatus.queued: 1,
    DeliveryStatus.initiated: 2, DeliveryStatus.sending: 2,
    DeliveryStatus.ringing: 3, DeliveryStatus.sent: 3,
    DeliveryStatus.in_progress: 4, DeliveryStatus.answered: 4,
    DeliveryStatus.delivered: 5, DeliveryStatus.undelivered: 5, DeliveryStatus.failed: 5,
    DeliveryStatus.completed: 5, DeliveryStatus.busy: 5, DeliveryStatus.no_answer: 5,
    DeliveryStatus.canceled: 5,
    DeliveryStatus.read: 6,
}
FINAL = 5  # from this rank on, checkin hears "delivered" or "undelivered"
NOT_REACHED = frozenset({DeliveryStatus.undelivered, DeliveryStatus.failed, DeliveryStatus.busy,
                         DeliveryStatus.no_answer, DeliveryStatus.canceled})


class ReportedStatus(StrEnum):
    """A reminder's progress as ``reminder.status`` events tell checkin."""

    sent = "sent"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"


class UndeliverableReason(StrEnum):
    """Why ``reminder.undeliverable`` asks the caseworker to agree another way."""

    opted_out = "opted_out"
    invalid_number = "invalid_number"


class EventType(StrEnum):
    """What notifications publishes on its change feed (``notifications.events``)."""

    reminder_status = "reminder.status"
    reminder_undeliverable = "reminder.undeliverable"


# --- read vocabularies -------------------------------------------------------------------


class CaseStatus(StrEnum):
    """The registry's case lifecycle; reminders go only to ``active`` cases."""

    active = "active"
    suspended = "suspended"
    resolved = "resolved"
    closed = "closed"


class ContactChannel(StrEnum):
    """The channels a person agreed to report on (the registry's)."""

    sms = "sms"
    voice = "voice"
    in_person = "in_person"


class CheckinOutcome(StrEnum):
    """Where checkin says an expected check-in stands; only ``pending`` gets reminders."""

    pending = "pending"
    on_time = "on_time"
    late = "late"
    missed = "missed"
    excused = "excused"


class FollowUpKind(StrEnum):
    missed_checkin = "missed_checkin"
    pin_locked = "pin_locked"
    opted_out = "opted_out"
    contact_unreachable = "contact_unreachable"


class FollowUpStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    closed = "closed"


class RegistryEventType(StrEnum):
    """The registry's events notifications follows."""

    case_created = "case.created"
    case_updated = "case.updated"
    case_status_changed = "case.status_changed"
    case_erased = "case.erased"


class CheckinEventType(StrEnum):
    """Checkin's events, as notifications knows them (the last three it has no use for)."""

    expected_checkin_planned = "expected_checkin.planned"
    expected_checkin_outcome = "expected_checkin.outcome"
    expected_checkin_cancelled = "expected_checkin.cancelled"
    contact_opted_out = "contact.opted_out"
    contact_opted_in = "contact.opted_in"
    follow_up_opened = "follow_up.opened"
    follow_up_acknowledged = "follow_up.acknowledged"
    follow_up_closed = "follow_up.closed"
    checkin_recorded = "checkin.recorded"
    pin_issued = "pin.issued"
    outage_declared = "outage.declared"


class AuditAction(StrEnum):
    """What a person did with a case's data here, as the audit trail names it
    (``shared.audit``)."""

    notifications_read = "notifications.read"
    # This service's copy erased, on the registry's ``case.erased`` (role ``service``).
    case_erased = "case.erased"
