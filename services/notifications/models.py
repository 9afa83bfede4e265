"""Notifications tables, on the notifications service's own metadata."""

from __future__ import annotations

from sqlmodel import SQLModel

from shared.db import new_metadata


class NotificationsModel(SQLModel):
    metadata = new_metadata()
