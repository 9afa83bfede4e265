"""Checkin tables, on the checkin service's own metadata."""

from __future__ import annotations

from sqlmodel import SQLModel

from shared.db import new_metadata


class CheckinModel(SQLModel):
    metadata = new_metadata()
