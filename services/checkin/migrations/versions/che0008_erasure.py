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
from shared.migrations import sqlite_autoincrement

revision: str = 'che0008'
down_revision: str | Sequence[str] | None = 'che0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    sqlite_autoincrement('change_events', on=True)
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
    sqlite_autoincrement('change_events', on=False)
