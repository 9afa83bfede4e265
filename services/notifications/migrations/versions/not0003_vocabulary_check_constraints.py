"""vocabulary check constraints

Every column of notifications' own that holds a member of a closed vocabulary
(``notifications.enums``) may hold only those values. The values are written out
here, not imported: a migration states the schema as it was on its day, and a later
member comes with its own revision. The copies of other services' vocabularies
(contacts, expected check-ins, follow-ups) carry no CHECK: a member added upstream
must not stop a feed here.

Revision ID: not0003
Revises: not0002
Create Date: 2026-12-01 21:50:00
"""
from collections.abc import Sequence

from shared.migrations import add_checks, drop_checks

revision: str = 'not0003'
down_revision: str | Sequence[str] | None = 'not0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNELS = ("sms", "voice")
CHECKS = {
    "reminders": {
        "kind": ("evening_before", "window_opens", "nudge"),
        "channel": CHANNELS,
        "status": ("planned", "sending", "sent", "cancelled", "failed"),
        "provider": ("log", "twilio"),
        "delivery_status": (
            "accepted", "scheduled", "queued", "initiated", "sending", "ringing", "sent",
            "in-progress", "answered", "delivered", "undelivered", "failed", "completed",
            "busy", "no-answer", "canceled", "read"),
    },
    "logged_messages": {"channel": CHANNELS},
    "change_events": {"type": ("reminder.status", "reminder.undeliverable")},
}


def upgrade() -> None:
    add_checks(CHECKS)


def downgrade() -> None:
    drop_checks(CHECKS)
