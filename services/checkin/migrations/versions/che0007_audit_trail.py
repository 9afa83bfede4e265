"""audit trail: append-only, hash-chained audit_entries and the one-row audit_head

The tables, the append-only triggers and the head at entry 0 come from
shared.migrations.create_audit_trail; this revision names the service's actions.

Revision ID: che0007
Revises: che0006
Create Date: 2026-12-02 00:56:31.706743
"""
from collections.abc import Sequence

from shared.migrations import create_audit_trail, drop_audit_trail

revision: str = 'che0007'
down_revision: str | Sequence[str] | None = 'che0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_trail(actions=(
        'pin.issued',
        'checkins.read',
        'checkin.recorded',
        'expected_checkin.excused',
        'follow_ups.listed',
        'follow_up.acknowledged',
        'follow_up.closed',
        'desk.looked_up',
        'case.erased',
    ))


def downgrade() -> None:
    drop_audit_trail()
