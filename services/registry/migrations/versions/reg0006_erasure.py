"""retention and erasure: personal columns may be NULL, cases record when they were erased

An erased case keeps its row and its anonymous record; the person's names, date of
birth and phone (ciphertext and lookup hash), and the free-text reasons of its history
and delegations, become NULL. ``cases.erased_at`` says when. History entries of kind
``erasure`` record who erased it, when and why.

Revision ID: reg0006
Revises: reg0005
Create Date: 2026-12-02 01:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

import shared.db
from shared.migrations import add_checks, drop_checks, sqlite_autoincrement

revision: str = 'reg0006'
down_revision: str | Sequence[str] | None = 'reg0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("transition", "update", "delegation")
KINDS_NOW = (*KINDS, "erasure")
PERSONAL = (
    ("given_name", sqlmodel.sql.sqltypes.AutoString(length=100)),
    ("family_name", sqlmodel.sql.sqltypes.AutoString(length=100)),
    ("date_of_birth", sa.Date()),
    ("phone_encrypted", sa.Text()),
    ("phone_hash", sqlmodel.sql.sqltypes.AutoString(length=64)),
)


def _nullable(nullable: bool) -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        for name, type_ in PERSONAL:
            batch_op.alter_column(name, existing_type=type_, nullable=nullable)
    for table in ('case_status_changes', 'case_delegations'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('reason',
                                  existing_type=sqlmodel.sql.sqltypes.AutoString(length=500),
                                  nullable=nullable)


def upgrade() -> None:
    sqlite_autoincrement('change_events', on=True)
    _nullable(True)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', shared.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_erased_at'), ['erased_at'], unique=False)
    drop_checks({"case_field_changes": {"kind": KINDS}})
    add_checks({"case_field_changes": {"kind": KINDS_NOW}})


def downgrade() -> None:
    # Only possible while no case has been erased: erased rows hold NULLs.
    op.execute("DELETE FROM case_field_changes WHERE kind = 'erasure'")
    drop_checks({"case_field_changes": {"kind": KINDS_NOW}})
    add_checks({"case_field_changes": {"kind": KINDS}})
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_erased_at'))
        batch_op.drop_column('erased_at')
    _nullable(False)
    sqlite_autoincrement('change_events', on=False)
