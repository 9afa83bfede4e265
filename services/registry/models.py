"""Registry tables, on the registry's own metadata."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import relationship
from sqlmodel import Field, Relationship, SQLModel

from registry.enums import AuditAction, CaseStatus, HistoryKind, Outcome, Sex
from shared.audit import AuditEntryBase, AuditHeadBase, audit_indexes
from shared.auth import Role
from shared.changefeed import ChangeEventBase, event_order_index
from shared.db import UTCDateTime, new_metadata, one_of, utcnow, vocabulary


class RegistryModel(SQLModel):
    metadata = new_metadata()


class Person(RegistryModel, table=True):
    """The person a case concerns. Names and date of birth are personal data: never
    logged, never shown to the ``authority`` role; names never leave the registry (the
    date of birth goes to services on the change feed, for age-group summaries). No
    biometrics, no location: there is no column for them and there never will be.

    Names, date of birth and phone are NULL once the case is erased
    (``registry.erasure``, ``Case.erased_at``); what remains says nothing that
    identifies the person (sex, nationality, language)."""

    __tablename__ = "people"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    given_name: str | None = Field(default=None, max_length=100, nullable=True)
    family_name: str | None = Field(default=None, max_length=100, nullable=True)
    date_of_birth: date | None = Field(default=None, nullable=True)
    sex: Sex = Field(sa_type=vocabulary(16))
    nationality: str = Field(max_length=2)
    preferred_language: str = Field(max_length=8)
    # Fernet ciphertext; the plaintext number is never stored.
    phone_encrypted: str | None = Field(default=None, sa_type=sa.Text, nullable=True)
    # HMAC-SHA256 of the E.164 number, for lookup by number.
    phone_hash: str | None = Field(default=None, max_length=64, index=True, nullable=True)

    __table_args__ = (one_of("sex", Sex),)


class Delegation(RegistryModel, table=True):
    """A supervisor's cover for leave: ``delegate`` may see and change the case up to
    and including ``until`` (a UTC date). Revoking deletes the row; the history keeps
    who delegated, to whom, until when and who revoked."""

    __tablename__ = "case_delegations"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", index=True)
    delegate: str = Field(max_length=128, index=True)
    until: date
    # NULL once the case is erased (free text can say anything about the person).
    reason: str | None = Field(default=None, max_length=500, nullable=True)
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("case_id", "delegate"),)


class Case(RegistryModel, table=True):
    __tablename__ = "cases"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    reference: str = Field(max_length=8, unique=True)
    keypad_reference: str = Field(max_length=10, unique=True)
    person_id: uuid.UUID = Field(foreign_key="people.id", unique=True)
    programme: str = Field(max_length=64, index=True)
    vulnerabilities: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    status: CaseStatus = Field(default=CaseStatus.active, sa_type=vocabulary(16), index=True)
    outcome: Outcome | None = Field(default=None, sa_type=vocabulary(32))
    caseworker: str = Field(max_length=128, index=True)
    review_due: date = Field(index=True)
    # Bumped on every write; the ETag clients send back in If-Match.
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # When the person's data was erased (``registry.erasure``); the case is then closed
    # for good and only its anonymous record remains.
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)

    person: Person = Relationship(sa_relationship_kwargs={"lazy": "joined", "innerjoin": True})
    reporting: ReportingRequirement = Relationship(
        sa_relationship_kwargs={"lazy": "joined", "innerjoin": True, "uselist": False}
    )
    # Every delegation not revoked, expired ones included (``current_delegations`` are
    # those still running): a handful per case at most, loaded with it.
    delegations: list[Delegation] = Relationship(sa_relationship=relationship(
        Delegation, lazy="selectin", cascade="all, delete-orphan", uselist=True,
        order_by=Delegation.delegate))

    @property
    def current_delegations(self) -> list[Delegation]:
        """Delegations that still run today (UTC): ``until`` is the last day of cover."""
        today = utcnow().date()
        return [d for d in self.delegations if d.until >= today]

    __table_args__ = (
        sa.Index("ix_cases_created_at_id", "created_at", "id"),
        one_of("status", CaseStatus),
        one_of("outcome", Outcome),
    )


class ReportingRequirement(RegistryModel, table=True):
    """When and how the person reports: an RFC 5545 RRULE in their own time zone, a
    window that opens at a local time, and a grace period after it."""

    __tablename__ = "reporting_requirements"

    case_id: uuid.UUID = Field(foreign_key="cases.id", primary_key=True)
    channels: list[str] = Field(sa_type=sa.JSON)
    rrule: str = Field(max_length=500)
    window_opens: time
    window_hours: int
    grace_hours: int
    timezone: str = Field(max_length=64)
    starts_on: date


class CaseStatusChange(RegistryModel, table=True):
    """The case's history: every transition, with who made it, when and why."""

    __tablename__ = "case_status_changes"

    id: int | None = Field(default=None, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", index=True)
    from_status: CaseStatus | None = Field(default=None, sa_type=vocabulary(16))
    to_status: CaseStatus = Field(sa_type=vocabulary(16))
    outcome: Outcome | None = Field(default=None, sa_type=vocabulary(32))
    # NULL once the case is erased.
    reason: str | None = Field(default=None, max_length=500, nullable=True)
    actor: str = Field(max_length=128)
    # The role the actor wrote as; NULL only for rows written before reg0003.
    actor_role: Role | None = Field(default=None, sa_type=vocabulary(16))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (
        one_of("from_status", CaseStatus),
        one_of("to_status", CaseStatus),
        one_of("outcome", Outcome),
        one_of("actor_role", Role),
    )


class CaseFieldChange(RegistryModel, table=True):
    """The rest of the case's history: a ``PATCH`` or a delegation, with who made it, as
    which role, and when. ``fields`` names every field that changed; ``shown`` holds
    ``{"from": ..., "to": ...}`` only for fields that say nothing about the person
    (``registry.history.SHOWN``): a person's old name, number, date of birth or
    vulnerabilities never outlive the change in here."""

    __tablename__ = "case_field_changes"

    id: int | None = Field(default=None, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", index=True)
    kind: HistoryKind = Field(sa_type=vocabulary(16))
    fields: list[str] = Field(sa_type=sa.JSON)
    shown: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    reason: str | None = Field(default=None, max_length=500)
    actor: str = Field(max_length=128)
    actor_role: Role = Field(sa_type=vocabulary(16))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (one_of("kind", HistoryKind), one_of("actor_role", Role))


class ChangeEvent(ChangeEventBase, RegistryModel, table=True):
    __tablename__ = "change_events"
    # No CHECK on ``type``: the table is the shared feed's, which its own tests write
    # to; what the registry publishes is closed by ``registry.events``. Erasure deletes
    # events (``registry.erasure``): on SQLite, AUTOINCREMENT so a deleted id is never
    # handed out again below a consumer's cursor (PostgreSQL never reuses one).
    __table_args__ = (event_order_index(), {"sqlite_autoincrement": True})


class AuditEntry(AuditEntryBase, RegistryModel, table=True):
    """The audit trail (``shared.audit``): append-only, chained, no personal data."""

    __tablename__ = "audit_entries"
    __table_args__ = (*audit_indexes(), one_of("action", AuditAction), one_of("role", Role))


class AuditHead(AuditHeadBase, RegistryModel, table=True):
    __tablename__ = "audit_head"
