"""caseloads: delegations of a case to another caseworker until a date

Revision ID: reg0004
Revises: reg0003
Create Date: 2026-12-01 22:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

import shared.db  # noqa: F401  (autogenerate renders shared.db.UTCDateTime)

revision: str = 'reg0004'
down_revision: str | Sequence[str] | None = 'reg0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('case_delegations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('delegate', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('until', sa.Date(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                            name=op.f('fk_case_delegations_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_delegations')),
    sa.UniqueConstraint('case_id', 'delegate', name=op.f('uq_case_delegations_case_id'))
    )
    with op.batch_alter_table('case_delegations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_delegations_case_id'), ['case_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_case_delegations_delegate'), ['delegate'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_delegations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_delegations_delegate'))
        batch_op.drop_index(batch_op.f('ix_case_delegations_case_id'))
    op.drop_table('case_delegations')
