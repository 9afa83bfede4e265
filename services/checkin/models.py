"""Checkin tables, on the checkin service's own metadata."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.changefeed import ChangeEventBase, FeedCursorBase, event_order_index
from shared.db import UTCDateTime, new_metadata, utcnow


class CheckinModel(SQLModel):
    metadata = new_metadata()


class CaseCopy(CheckinModel, table=True):
    """The few attributes of a registry case this service needs, kept current from the
    registry's change feed. No names and no phone number: the caller is matched by the
    keyed hash of their number. The date of birth is kept only to place the person in
    an age group for attendance summaries."""

    __tablename__ = "case_copies"

    case_id: uuid.UUID = Field(primary_key=True)
    # The registry's version of the case: a change older than this is ignored.
    version: int
    reference: str = Field(max_length=8, unique=True)
    keypad_reference: str = Field(max_length=10, unique=True)
    status: str = Field(max_length=16, index=True)
    phone_hash: str = Field(max_length=64, index=True)
    language: str = Field(max_length=8)
    caseworker: str = Field(max_length=128, index=True)
    programme: str = Field(max_length=64)
    sex: str = Field(max_length=16)
    nationality: str = Field(max_length=2)
    date_of_birth: date
    vulnerabilities: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    channels: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    rrule: str = Field(max_length=500)
    window_opens: time
    window_hours: int
    grace_hours: int
    timezone: str = Field(max_length=64)
    starts_on: date
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FeedCursor(FeedCursorBase, CheckinModel, table=True):
    __tablename__ = "feed_cursors"


class ChangeEvent(ChangeEventBase, CheckinModel, table=True):
    __tablename__ = "change_events"
    __table_args__ = (event_order_index(),)
