"""vocabulary check constraints

Every column that holds a member of a closed vocabulary (``checkin.enums``) may hold
only those values. The values are written out here, not imported: a migration states
the schema as it was on its day, and a later member comes with its own revision.

Revision ID: che0004
Revises: che0003
Create Date: 2026-12-01 21:45:00
"""
from collections.abc import Sequence

from shared.migrations import add_checks, drop_checks

revision: str = 'che0004'
down_revision: str | Sequence[str] | None = 'che0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNELS = ("sms", "voice", "in_person")
CHECKS = {
    "case_copies": {"status": ("active", "suspended", "resolved", "closed")},
    "pin_failures": {"channel": CHANNELS},
    "expected_checkins": {
        "status": ("pending", "on_time", "late", "missed", "excused"),
        "reminder_status": ("sent", "delivered", "undelivered", "failed")},
    "checkins": {"channel": CHANNELS, "timing": ("on_time", "late", "unscheduled"),
                 "identity_confirmed_by": ("document", "known_to_officer")},
    "outages": {"channel": (*CHANNELS, "all")},
    "follow_ups": {
        "kind": ("missed_checkin", "pin_locked", "opted_out", "contact_unreachable"),
        "status": ("open", "acknowledged", "closed")},
    "change_events": {"type": (
        "expected_checkin.planned", "expected_checkin.cancelled", "expected_checkin.outcome",
        "checkin.recorded", "pin.issued", "outage.declared", "follow_up.opened",
        "follow_up.acknowledged", "follow_up.closed", "contact.opted_out",
        "contact.opted_in")},
}


def upgrade() -> None:
    add_checks(CHECKS)


def downgrade() -> None:
    drop_checks(CHECKS)
