"""statement audit: the audit trail's action vocabulary gains 'statement.produced'

Widens ``ck_audit_entries_action`` (made by che0007's create_audit_trail) so that
producing a person's attendance statement can be recorded. Self-contained: it touches
that one constraint and nothing else. On SQLite the constraint is changed by rebuilding
the table (batch mode), which drops its triggers: the append-only triggers are made
again, as shared.migrations.append_only says a rebuild must.

Downgrading narrows the constraint again; while the trail holds a 'statement.produced'
entry (append-only, so it always will) PostgreSQL refuses, and should: the trail is
never rewritten to fit an older schema.

Revision ID: che0012
Revises: che0011
Create Date: 2026-12-03 09:40:00
"""
from collections.abc import Sequence

from alembic import op

from shared.migrations import append_only

revision: str = 'che0012'
down_revision: str | Sequence[str] | None = 'che0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The vocabulary as che0007 shipped it; written out, as every revision states its day's schema.
BEFORE = (
    'pin.issued',
    'checkins.read',
    'checkin.recorded',
    'expected_checkin.excused',
    'follow_ups.listed',
    'follow_up.acknowledged',
    'follow_up.closed',
    'desk.looked_up',
    'case.erased',
)
AFTER = (*BEFORE, 'statement.produced')


def _actions(actions: tuple[str, ...]) -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_audit_entries_action'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_audit_entries_action'),
            f"action IN ({', '.join(repr(a) for a in actions)})")
    if op.get_bind().dialect.name == 'sqlite':
        append_only('audit_entries')


def upgrade() -> None:
    _actions(AFTER)


def downgrade() -> None:
    _actions(BEFORE)
