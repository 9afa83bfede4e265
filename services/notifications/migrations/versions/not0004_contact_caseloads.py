"""caseloads: the contact copy keeps the case's caseworker and delegations

Existing contacts were copied before the registry's events were read for these keys,
so their copy is marked stale (version 0) and the registry's feed is read again from
the start: each case's events re-apply in order (the copy is an idempotent upsert by
version) and fill ``caseworker`` and ``delegations``. Until that catch-up ends, a
caseworker gets 404 for such a case; supervisors are not affected.

Revision ID: not0004
Revises: not0003
Create Date: 2026-12-01 22:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

revision: str = 'not0004'
down_revision: str | Sequence[str] | None = 'not0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('caseworker', sqlmodel.sql.sqltypes.AutoString(length=128),
                                      nullable=True))
        batch_op.add_column(sa.Column('delegations', sa.JSON(), nullable=False,
                                      server_default='[]'))
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.alter_column('delegations', server_default=None)
    op.execute("UPDATE contacts SET version = 0")
    op.execute("DELETE FROM feed_cursors WHERE feed = 'registry'")


def downgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('delegations')
        batch_op.drop_column('caseworker')
