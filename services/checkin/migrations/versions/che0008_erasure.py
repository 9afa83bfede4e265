"""retention and erasure: the case copy's number hash and date of birth may be NULL

After ``case.erased`` the copy keeps no number hash or date of birth, and says when it
was erased; each window keeps the age group it counted in; stored answers name the
cases they read, so their bodies go with an erased case.

Revision ID: che0008
Revises: che0007
Create Date: 2026-12-02 01:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

import shared.db

revision: str = 'che0008'
down_revision: str | Sequence[str] | None = 'che0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _autoincrement(on: bool) -> None:
    # Erasure deletes feed events; SQLite would hand out the highest deleted id again,
    # below a consumer's cursor, unless the table is AUTOINCREMENT (a rebuild).
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table('change_events', recreate='always',
                                  table_kwargs={'sqlite_autoincrement': on}):
            pass


def upgrade() -> None:
    _autoincrement(True)
    with op.batch_alter_table('case_copies', schema=None) as batch_op:
        batch_op.alter_column('phone_hash', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
                              nullable=True)
        batch_op.alter_column('date_of_birth', existing_type=sa.Date(), nullable=True)
        batch_op.add_column(sa.Column('erased_at', shared.db.UTCDateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table('expected_checkins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('age_group', sqlmodel.sql.sqltypes.AutoString(length=8),
                                      nullable=True))
    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subjects', sa.Text(), nullable=True))


def downgrade() -> None:
    # Only possible while no case has been erased: erased copies hold NULLs.
    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.drop_column('subjects')
    with op.batch_alter_table('expected_checkins', schema=None) as batch_op:
        batch_op.drop_column('age_group')
    with op.batch_alter_table('case_copies', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.alter_column('date_of_birth', existing_type=sa.Date(), nullable=False)
        batch_op.alter_column('phone_hash', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
                              nullable=False)
    _autoincrement(False)
