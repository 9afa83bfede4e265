"""audit trail: append-only, hash-chained audit_entries and the one-row audit_head

The tables, the append-only triggers and the head at entry 0 come from
shared.migrations.create_audit_trail; this revision names the service's actions.

Revision ID: reg0005
Revises: reg0004
Create Date: 2026-12-02 00:56:28.500270
"""
from collections.abc import Sequence

from shared.migrations import create_audit_trail, drop_audit_trail

revision: str = 'reg0005'
down_revision: str | Sequence[str] | None = 'reg0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_trail(actions=(
        'case.created',
        'case.listed',
        'case.read',
        'case.updated',
        'case.transitioned',
        'history.read',
        'delegation.created',
        'delegation.revoked',
        'desk.looked_up',
        'case.erased',
    ))


def downgrade() -> None:
    drop_audit_trail()
