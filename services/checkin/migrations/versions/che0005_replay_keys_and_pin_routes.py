"""replay keys kept without their bodies; PIN failures and locks by route

``replies.body`` may be emptied (kept 7 days) while the key stays (400 days), and
``replies.request_hash`` holds the SHA-256 digest of an idempotent request's body. Wrong PINs
after a case number typed from another phone count against that route
(``pin_failures.route``), and every lock is kept in ``pin_locks`` so a window that
closed during one is excused.

Revision ID: che0005
Revises: che0004
Create Date: 2026-12-01 22:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

import shared.db

revision: str = 'che0005'
down_revision: str | Sequence[str] | None = 'che0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pin_locks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('route', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('starts_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pin_locks'))
    )
    with op.batch_alter_table('pin_locks', schema=None) as batch_op:
        batch_op.create_index('ix_pin_locks_case_id_ends_at', ['case_id', 'ends_at'], unique=False)
    with op.batch_alter_table('pin_failures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('route', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE replies SET body = '' WHERE body IS NULL")
    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('request_hash')
    with op.batch_alter_table('pin_failures', schema=None) as batch_op:
        batch_op.drop_column('route')
    with op.batch_alter_table('pin_locks', schema=None) as batch_op:
        batch_op.drop_index('ix_pin_locks_case_id_ends_at')
    op.drop_table('pin_locks')
