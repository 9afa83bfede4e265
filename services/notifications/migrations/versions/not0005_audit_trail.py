"""audit trail: append-only, hash-chained audit_entries and the one-row audit_head

The tables, the append-only triggers and the head at entry 0 come from
shared.migrations.create_audit_trail; this revision names the service's actions.

Revision ID: not0005
Revises: not0004
Create Date: 2026-12-02 00:56:35.301584
"""
from collections.abc import Sequence

from shared.migrations import create_audit_trail, drop_audit_trail

revision: str = 'not0005'
down_revision: str | Sequence[str] | None = 'not0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_trail(actions=(
        'notifications.read',
        'case.erased',
    ))


def downgrade() -> None:
    drop_audit_trail()
