"""vocabulary check constraints

Every column that holds a member of a closed vocabulary (``registry.enums``) may hold
only those values. The values are written out here, not imported: a migration states
the schema as it was on its day, and a later member comes with its own revision.

Revision ID: reg0002
Revises: reg0001
Create Date: 2026-12-01 21:30:00
"""
from collections.abc import Sequence

from shared.migrations import add_checks, drop_checks

revision: str = 'reg0002'
down_revision: str | Sequence[str] | None = 'reg0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("active", "suspended", "resolved", "closed")
OUTCOMES = ("regularised", "voluntary_return", "removed", "other")
SEXES = ("female", "male", "other", "unknown")

CHECKS = {
    "people": {"sex": SEXES},
    "cases": {"status": STATUSES, "outcome": OUTCOMES},
    "case_status_changes": {"from_status": STATUSES, "to_status": STATUSES,
                            "outcome": OUTCOMES},
}


def upgrade() -> None:
    add_checks(CHECKS)


def downgrade() -> None:
    drop_checks(CHECKS)
