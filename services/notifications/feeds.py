"""The feeds notifications follows, as it reads them: the registry's cases and
checkin's expected check-ins, opt-outs and follow-ups. Each payload is parsed into
notifications' own read model first (``parse_registry_change``,
``parse_checkin_change``), never indexed raw; the read models take only the keys
notifications uses and ignore the rest, so a publisher may add keys freely.

An event type notifications does not know raises ``UnknownEvent`` (skipped and counted
by the feed); a known one whose payload does not parse, or whose ``schema_version`` is
not one notifications knows, is an error that stops the feed there. Checkin's events
that notifications knows and has no use for (check-ins, PINs, outages) parse to
``NotNeeded``.

Statuses, outcomes and kinds other services own are kept as strings here (compared
with ``notifications.enums``' read vocabularies): a member added upstream must not stop
the feed of a service that only acts on a few of them."""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from notifications.enums import CheckinEventType, RegistryEventType
from shared.changefeed import Change, UnknownEvent


class _ReadModel(BaseModel):
    """Lengths are those the local copies' columns hold: a longer value is a payload
    error here, not a database error later."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class _Versioned(_ReadModel):
    # Events stored before versions were written are version 1.
    schema_version: Literal[1] = 1


# --- the registry's feed ---------------------------------------------------------------


REGISTRY_EVENTS = frozenset(RegistryEventType)


class PersonContact(_ReadModel):
    phone_encrypted: str
    phone_hash: str = Field(max_length=64)
    preferred_language: str = Field(max_length=8)


class ReportingContact(_ReadModel):
    channels: list[str]
    timezone: str = Field(max_length=64)


class DelegationCopy(_ReadModel):
    """Cover for leave: ``to`` may see the case up to and including ``until`` (UTC)."""

    to: str = Field(min_length=1, max_length=128)
    until: date


class CaseChange(_Versioned):
    """Every ``case.*`` event carries the whole case as it now is; notifications keeps
    how to reach the person, and nothing that names them, plus whose caseload it is in.
    ``delegations`` is absent from events written before issue 11: none then."""

    id: uuid.UUID
    version: int
    status: str = Field(max_length=16)
    programme: str = Field(max_length=64)
    caseworker: str = Field(min_length=1, max_length=128)
    delegations: list[DelegationCopy] = []
    person: PersonContact
    reporting: ReportingContact


class CaseErased(_Versioned):
    """``case.erased``: the person's data is erased in the registry and the case closed
    for good at ``version``; notifications erases its own (``notifications.erasure``)."""

    id: uuid.UUID
    version: int
    status: str = Field(max_length=16)


def parse_registry_change(change: Change) -> CaseChange | CaseErased:
    """The registry's event as notifications reads it; ``UnknownEvent`` for a type it
    does not know, a ``pydantic.ValidationError`` for a payload it cannot read."""
    if change.type not in REGISTRY_EVENTS:
        raise UnknownEvent(change.type)
    if change.type == RegistryEventType.case_erased:
        return CaseErased.model_validate(change.data)
    return CaseChange.model_validate(change.data)


# --- checkin's feed ----------------------------------------------------------------------


class ExpectedCheckinChange(_Versioned):
    """``expected_checkin.planned`` and ``.outcome``: a window and where it stands."""

    id: uuid.UUID
    case_id: uuid.UUID
    opens_at: AwareDatetime
    closes_at: AwareDatetime
    grace_ends_at: AwareDatetime
    status: str = Field(max_length=16)


class ExpectedCheckinWithdrawn(_Versioned):
    """``expected_checkin.cancelled``: nothing is expected of the person for it."""

    id: uuid.UUID


class OptedOut(_Versioned):
    """``contact.opted_out``: the number said STOP; its cases are re-planned."""

    opted_out: ClassVar[bool] = True
    phone_hash: str = Field(max_length=64)
    case_ids: list[uuid.UUID] = []


class OptedIn(OptedOut):
    """``contact.opted_in``: START."""

    opted_out: ClassVar[bool] = False


class FollowUpChange(_Versioned):
    """``follow_up.*``: enough to not ask a caseworker twice about the same number."""

    id: uuid.UUID
    case_id: uuid.UUID
    kind: str = Field(max_length=32)
    status: str = Field(max_length=16)


class NotNeeded(_Versioned):
    """A checkin event notifications knows and has no use for."""


CheckinChange = (ExpectedCheckinChange | ExpectedCheckinWithdrawn | OptedOut | FollowUpChange
                 | NotNeeded)
CHECKIN_EVENTS: dict[str, type[CheckinChange]] = {
    CheckinEventType.expected_checkin_planned: ExpectedCheckinChange,
    CheckinEventType.expected_checkin_outcome: ExpectedCheckinChange,
    CheckinEventType.expected_checkin_cancelled: ExpectedCheckinWithdrawn,
    CheckinEventType.contact_opted_out: OptedOut,
    CheckinEventType.contact_opted_in: OptedIn,
    CheckinEventType.follow_up_opened: FollowUpChange,
    CheckinEventType.follow_up_acknowledged: FollowUpChange,
    CheckinEventType.follow_up_closed: FollowUpChange,
    CheckinEventType.checkin_recorded: NotNeeded,
    CheckinEventType.pin_issued: NotNeeded,
    CheckinEventType.outage_declared: NotNeeded,
}


def parse_checkin_change(change: Change) -> CheckinChange:
    """Checkin's event as notifications reads it; ``UnknownEvent`` for a type it does
    not know, a ``pydantic.ValidationError`` for a payload it cannot read."""
    model = CHECKIN_EVENTS.get(change.type)
    if model is None:
        raise UnknownEvent(change.type)
    return model.model_validate(change.data)
