"""rollup people: each rollup row keeps how many cases its bitmap holds and the sum of
their record keys, so a summary group that is a single row reads no bitmap

Backfilled from the bitmaps and the case copies' record keys.

Revision ID: che0011
Revises: che0010
Create Date: 2026-12-03 09:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

revision: str = 'che0011'
down_revision: str | Sequence[str] | None = 'che0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from pyroaring import BitMap

    with op.batch_alter_table('attendance_rollups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('people', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('people_keys', sa.Integer(), nullable=False,
                                      server_default='0'))
    conn = op.get_bind()
    keys = dict(conn.execute(sa.text(
        'SELECT serial, record_key FROM case_copies WHERE serial IS NOT NULL')).all())
    table = sa.table('attendance_rollups', sa.column('key'), sa.column('people'),
                     sa.column('people_keys'))
    update = table.update().where(table.c.key == sa.bindparam('k'))
    batch = []
    for key, cases in conn.execute(sa.text('SELECT key, cases FROM attendance_rollups')):
        bitmap = BitMap.deserialize(bytes(cases))
        batch.append({'k': key, 'people': len(bitmap),
                      'people_keys': sum(keys.get(s, 0) for s in bitmap) % 256})
        if len(batch) >= 5000:
            conn.execute(update, batch)
            batch = []
    if batch:
        conn.execute(update, batch)


def downgrade() -> None:
    with op.batch_alter_table('attendance_rollups', schema=None) as batch_op:
        batch_op.drop_column('people_keys')
        batch_op.drop_column('people')
