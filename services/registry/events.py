"""What the registry publishes on its change feed: one model per event type.

Every event carries the whole case as it now is (a snapshot), so a consumer applies
it as an idempotent upsert keyed on ``version``. Names are left out: no consumer
needs them. The phone number stays Fernet ciphertext, in the feed table and on the
wire; only a service holding ``WAYMARK_PHONE_KEYS`` (notifications, to send
reminders) can read it.

The contract: ``data`` is ``model_dump(mode="json")`` of these models, and nothing
else builds it. ``schema_version`` changes only when a key is removed or changes
meaning; consumers refuse a version they do not know. Adding a key keeps version 1
(consumers ignore keys they do not read).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from registry.enums import CaseStatus, EventType, Outcome, Sex, Vulnerability
from registry.schemas import ReportingRead


class _Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True, frozen=True)


class PersonSnapshot(_Snapshot):
    date_of_birth: date
    sex: Sex
    nationality: str
    preferred_language: str
    phone_encrypted: str
    phone_hash: str


class ReportingSnapshot(ReportingRead, _Snapshot):
    """The reporting requirement as the API shows it (``window_opens`` as ``HH:MM``):
    a change to ``ReportingRead`` is a change to this contract, which
    ``tests/registry/test_events.py`` pins key by key."""


class DelegationSnapshot(_Snapshot):
    """Cover for leave: ``to`` may act on the case up to and including ``until`` (a
    UTC date). A consumer compares ``until`` with its own date: no event marks the end
    of a delegation that simply runs out."""

    to: str = Field(validation_alias=AliasChoices("to", "delegate"))
    until: date


class CaseEvent(_Snapshot):
    """The case as it is after the change the event reports."""

    type: ClassVar[EventType]

    schema_version: Literal[1] = 1
    id: uuid.UUID
    reference: str
    keypad_reference: str
    version: int
    status: CaseStatus
    outcome: Outcome | None
    programme: str
    vulnerabilities: list[Vulnerability]
    caseworker: str
    # The delegations running when the event was written (added in issue 11, so
    # schema_version stays 1: consumers that ignore it still read every event).
    delegations: list[DelegationSnapshot] = Field(
        default=[], validation_alias=AliasChoices("current_delegations", "delegations"))
    review_due: date
    person: PersonSnapshot
    reporting: ReportingSnapshot


class CaseCreated(CaseEvent):
    """A case was opened (always ``active``, version 1)."""

    type = EventType.case_created


class CaseUpdated(CaseEvent):
    """A ``PATCH`` changed the person, the reporting requirement, the programme, the
    vulnerabilities, the review date or the caseworker, or a supervisor delegated the
    case or revoked a delegation; the status is unchanged."""

    type = EventType.case_updated


class CaseStatusChanged(CaseEvent):
    """A transition moved the case to ``status`` (with ``outcome`` when resolved)."""

    type = EventType.case_status_changed


class CaseErased(_Snapshot):
    """The person's data was erased (``registry.erasure``): each consumer erases its own
    copy when it reads this, idempotently. The case is ``closed`` for good at
    ``version``. Nothing personal is carried, and the registry's earlier events about
    the case, whose snapshots held the date of birth and the number, are deleted from
    its feed in the same transaction: a consumer that had not read them yet reads this
    one only, for a case it may never have seen (and must not break on that)."""

    type: ClassVar[EventType] = EventType.case_erased

    schema_version: Literal[1] = 1
    id: uuid.UUID
    version: int
    status: CaseStatus
    outcome: Outcome | None
    erased_at: datetime


EVENTS: dict[EventType, type[CaseEvent] | type[CaseErased]] = {
    model.type: model for model in (CaseCreated, CaseUpdated, CaseStatusChanged, CaseErased)}
"""Each event type's model: every member of ``EventType`` has one."""
