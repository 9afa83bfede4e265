"""rollup moves: outcome changes log where a window moved; a job folds them in

Until now every change to an expected check-in updated the attendance rollups in its
own transaction, so concurrent check-ins queued on the totals' rows. Changes now log
their moves in ``rollup_moves`` and ``checkin.folding`` applies them. Nothing to
backfill: the rollups are current at this revision.

Revision ID: che0010
Revises: che0009
Create Date: 2026-12-03 09:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

revision: str = 'che0010'
down_revision: str | Sequence[str] | None = 'che0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'rollup_moves',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('moves', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rollup_moves')),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    # Moves not folded yet are dropped with the table: fold them first (any summary does).
    op.drop_table('rollup_moves')
