"""who did what: the actor's role on transitions, and field changes in the history

Every transition now records the role its actor wrote as (rows written before this
revision keep NULL: their role was never known). ``case_field_changes`` holds every
other write (a PATCH, a delegation): which fields changed, values only for fields not
about the person, the actor and their role.

Revision ID: reg0003
Revises: reg0002
Create Date: 2026-12-01 22:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

import shared.db  # noqa: F401  (autogenerate renders shared.db.UTCDateTime)
from shared.migrations import add_checks, drop_checks

revision: str = 'reg0003'
down_revision: str | Sequence[str] | None = 'reg0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("caseworker", "officer", "supervisor", "authority", "service")
KINDS = ("transition", "update", "delegation")


def upgrade() -> None:
    op.create_table('case_field_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('shown', sa.JSON(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('actor_role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint(f"kind IN ({', '.join(repr(k) for k in KINDS)})",
                       name=op.f('ck_case_field_changes_kind')),
    sa.CheckConstraint(f"actor_role IN ({', '.join(repr(r) for r in ROLES)})",
                       name=op.f('ck_case_field_changes_actor_role')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                            name=op.f('fk_case_field_changes_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_field_changes'))
    )
    with op.batch_alter_table('case_field_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_field_changes_case_id'), ['case_id'],
                              unique=False)
    with op.batch_alter_table('case_status_changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor_role', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      nullable=True))
    add_checks({"case_status_changes": {"actor_role": ROLES}})


def downgrade() -> None:
    drop_checks({"case_status_changes": {"actor_role": ROLES}})
    with op.batch_alter_table('case_status_changes', schema=None) as batch_op:
        batch_op.drop_column('actor_role')
    with op.batch_alter_table('case_field_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_field_changes_case_id'))
    op.drop_table('case_field_changes')
