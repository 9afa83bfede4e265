"""retention and erasure: a contact's number, and message texts, may be NULL

After ``case.erased`` the contact keeps no number (ciphertext) or lookup hash and says
when it was erased; reminders and logged messages keep their rows without text.

Revision ID: not0006
Revises: not0005
Create Date: 2026-12-02 01:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

import shared.db

revision: str = 'not0006'
down_revision: str | Sequence[str] | None = 'not0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.alter_column('phone_encrypted', existing_type=sa.Text(), nullable=True)
        batch_op.alter_column('phone_hash', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
                              nullable=True)
        batch_op.add_column(sa.Column('erased_at', shared.db.UTCDateTime(timezone=True),
                                      nullable=True))
    for table in ('reminders', 'logged_messages'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('body', existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    # Only possible while no case has been erased: erased rows hold NULLs.
    for table in ('logged_messages', 'reminders'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('body', existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.alter_column('phone_hash', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
                              nullable=False)
        batch_op.alter_column('phone_encrypted', existing_type=sa.Text(), nullable=False)
