"""The registry's closed vocabularies. The database keeps their string values (with a
CHECK constraint on each column that holds one); the API and the change feed carry
the same strings. Adding a member is a code change plus a migration that widens the
CHECK, and consumers must learn it before the registry publishes it.

Channels and vulnerabilities are stored as JSON lists, which no portable CHECK can
inspect: ``registry.schemas`` is their only gate. Programme, nationality, language
and time zone are open on purpose (data, not code: a new programme or language needs
no release), each validated by its own rule in ``registry.schemas``."""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    """Where a case is in its lifecycle (``registry.service.TRANSITIONS``)."""

    active = "active"
    suspended = "suspended"
    resolved = "resolved"
    closed = "closed"


class Outcome(StrEnum):
    """How a resolved case ended. Only a resolved case has one; a closed case keeps the
    outcome it was resolved with, if any."""

    regularised = "regularised"
    voluntary_return = "voluntary_return"
    removed = "removed"
    other = "other"


class Sex(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"


class Channel(StrEnum):
    """How the person may report. No biometric or location channel exists."""

    sms = "sms"
    voice = "voice"
    in_person = "in_person"


class Vulnerability(StrEnum):
    """Flags that call for extra attention in follow-ups (UN Network on Migration)."""

    child = "child"
    unaccompanied_child = "unaccompanied_child"
    family_with_children = "family_with_children"
    pregnant = "pregnant"
    older_person = "older_person"
    disability = "disability"
    serious_medical_condition = "serious_medical_condition"
    mental_health = "mental_health"
    survivor_of_trafficking = "survivor_of_trafficking"
    survivor_of_torture_or_violence = "survivor_of_torture_or_violence"


class EventType(StrEnum):
    """What the registry publishes on its change feed (``registry.events``)."""

    case_created = "case.created"
    case_updated = "case.updated"
    case_status_changed = "case.status_changed"
    case_erased = "case.erased"


class HistoryKind(StrEnum):
    """What a history entry records (``registry.history``)."""

    transition = "transition"  # the status moved (or the case was opened)
    update = "update"  # a PATCH changed fields
    delegation = "delegation"  # a supervisor delegated the case or revoked a delegation
    erasure = "erasure"  # the person's data was erased (on request, or at the end of retention)


class AuditAction(StrEnum):
    """What a person did with a case's data, as the audit trail names it
    (``shared.audit``). Reads are actions too: every look leaves a trace."""

    case_created = "case.created"
    case_listed = "case.listed"
    case_read = "case.read"
    case_updated = "case.updated"
    case_transitioned = "case.transitioned"
    history_read = "history.read"
    delegation_created = "delegation.created"
    delegation_revoked = "delegation.revoked"
    desk_looked_up = "desk.looked_up"
    # By a supervisor on request, or by the retention job (``service``).
    case_erased = "case.erased"
