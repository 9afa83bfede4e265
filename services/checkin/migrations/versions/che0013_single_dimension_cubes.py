"""single-dimension cubes: rollups by sex, by age group and by nationality alone

A summary grouped by one of these read the programme × sex × age group × nationality
cube and unioned a bitmap per row; these cubes answer it from a few rows. Their rows
are built from that cube's (each window counts in both), with the key layout of
``checkin.rollups`` at this revision written out.

Revision ID: che0013
Revises: che0012
Create Date: 2026-12-03 10:20:00
"""
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

revision: str = 'che0013'
down_revision: str | Sequence[str] | None = 'che0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMPS = ('programme', 'sex', 'age_group', 'nationality', 'vulnerabilities', 'channel',
          'reporting_centre')
OUTCOMES = ('on_time', 'late', 'missed', 'excused', 'pending')
SOURCE = 1  # programme × sex × age group × nationality
NEW = {5: 'sex', 6: 'age_group', 7: 'nationality'}
COUNTS = (*OUTCOMES, *(f'{o}_keys' for o in OUTCOMES))


def upgrade() -> None:
    from pyroaring import BitMap

    conn = op.get_bind()
    keys = dict(conn.execute(sa.text(
        'SELECT serial, record_key FROM case_copies WHERE serial IS NOT NULL')).all())
    built: dict[str, dict] = {}
    rows = conn.execute(sa.text(
        f"SELECT grain, period, {', '.join(STAMPS)}, {', '.join(COUNTS)}, cases "
        f'FROM attendance_rollups WHERE cube = {SOURCE}'))
    for r in rows:
        grain, period = r[0], r[1]
        period = period if isinstance(period, str) else period.isoformat()
        stamps = dict(zip(STAMPS, r[2:2 + len(STAMPS)], strict=True))
        counts = r[2 + len(STAMPS):2 + len(STAMPS) + len(COUNTS)]
        cases = BitMap.deserialize(bytes(r[-1]))
        for cube, kept in NEW.items():
            values = tuple(stamps[n] if n == kept else '*' for n in STAMPS)
            key = '\x1f'.join((str(cube), grain, period, *values))
            row = built.get(key)
            if row is None:
                row = built[key] = {'key': key, 'cube': cube, 'grain': grain,
                                    'period': period, **dict(zip(STAMPS, values, strict=True)),
                                    **dict.fromkeys(COUNTS, 0), 'cases': BitMap()}
            for name, value in zip(COUNTS, counts, strict=True):
                row[name] += value
            row['cases'] |= cases
    table = sa.table('attendance_rollups', *(sa.column(n) for n in (
        'key', 'cube', 'grain', 'period', *STAMPS, *COUNTS, 'cases', 'people',
        'people_keys')))
    out = []
    for row in built.values():
        for name in COUNTS[len(OUTCOMES):]:
            row[name] %= 256
        cases = row['cases']
        row['period'] = date.fromisoformat(row['period'])
        row.update(cases=cases.serialize(), people=len(cases),
                   people_keys=sum(keys.get(s, 0) for s in cases) % 256)
        out.append(row)
    for chunk in range(0, len(out), 2000):
        conn.execute(table.insert(), out[chunk:chunk + 2000])


def downgrade() -> None:
    op.execute(f"DELETE FROM attendance_rollups WHERE cube IN ({', '.join(map(str, NEW))})")
