"""caseloads: the case copy keeps the case's delegations

Existing copies were made before the registry's events were read for this key, so
they are marked stale (version 0) and the registry's feed is read again from the
start: each case's events re-apply in order (the copy is an upsert by version) and
fill ``delegations``. Until that catch-up ends a delegate gets 404 for such a case;
the assigned caseworker and supervisors are not affected.

Revision ID: che0006
Revises: che0005
Create Date: 2026-12-01 23:25:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'che0006'
down_revision: str | Sequence[str] | None = 'che0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('case_copies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delegations', sa.JSON(), nullable=False,
                                      server_default='[]'))
    with op.batch_alter_table('case_copies', schema=None) as batch_op:
        batch_op.alter_column('delegations', server_default=None)
    op.execute("UPDATE case_copies SET version = 0")
    op.execute("DELETE FROM feed_cursors WHERE feed = 'registry'")


def downgrade() -> None:
    with op.batch_alter_table('case_copies', schema=None) as batch_op:
        batch_op.drop_column('delegations')
