"""vocabulary check constraints

Every column that holds a member of a closed vocabulary (``registry.enums``) may hold
only those values. The values are written out here, not imported: a migration states
the schema as it was on its day, and a later member comes with its own revision.

Revision ID: reg0002
Revises: reg0001
Create Date: 2026-12-01 21:30:00
"""
from collections.abc import Sequence

from alembic import op

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


def _condition(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                batch_op.create_check_constraint(
                    op.f(f"ck_{table}_{column}"), _condition(column, values))


def downgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
