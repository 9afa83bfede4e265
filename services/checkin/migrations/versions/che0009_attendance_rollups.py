"""attendance rollups: record keys, windows stamped with what summaries count them under

Every case and every expected check-in gets a random record key 0-255 (the cell-key
method's), cases a serial (their number in the rollups' bitmaps); windows get their
local opening date and the dimensions they count under (``checkin.rollups``); the
rollup table is built from them.

Existing windows are stamped with their case's current values (the history before
this revision was not kept), the channel and reporting centre of the check-in that
settled them, and the age group on their local opening date. Keys are drawn by the
database's random(), row by row.

Revision ID: che0009
Revises: che0008
Create Date: 2026-12-02 02:00:00
"""
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

revision: str = 'che0009'
down_revision: str | Sequence[str] | None = 'che0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

String = sqlmodel.sql.sqltypes.AutoString
STAMPS = (('programme', 64), ('sex', 16), ('nationality', 8), ('vulnerabilities', 500),
          ('channel', 16), ('reporting_centre', 120))
AGE_GROUPS = ((65, "65+"), (50, "50-64"), (35, "35-49"), (25, "25-34"), (18, "18-24"), (0, "0-17"))


def _random_key() -> sa.ColumnElement:
    if op.get_bind().dialect.name == 'postgresql':
        return sa.text('floor(random() * 256)::smallint')
    return sa.text('abs(random()) % 256')


def _age_group(born, day) -> str:
    if born is None:
        return 'unknown'
    age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    return next((label for lowest, label in AGE_GROUPS if age >= lowest), '0-17')


def _stamp_windows(conn: sa.Connection) -> None:
    """Stamp existing windows in Python (time zones), a few thousand at a time."""
    rows = conn.execute(sa.text(
        'SELECT e.id, e.opens_at, e.age_group, c.programme, c.sex, c.nationality, '
        'c.vulnerabilities, c.timezone, c.date_of_birth, k.channel, k.reporting_centre '
        'FROM expected_checkins e JOIN case_copies c ON c.case_id = e.case_id '
        'LEFT JOIN checkins k ON k.id = e.checkin_id')).all()
    window = sa.table('expected_checkins', sa.column('id'), sa.column('local_date'),
                      sa.column('age_group'), *(sa.column(n) for n, _ in STAMPS))
    update = window.update().where(window.c.id == sa.bindparam('b_id'))
    batch = []
    for r in rows:
        # Plain SQL: SQLite hands back text, PostgreSQL values.
        opens_at = r.opens_at
        if isinstance(opens_at, str):
            opens_at = datetime.fromisoformat(opens_at)
        if opens_at.tzinfo is None:
            opens_at = opens_at.replace(tzinfo=UTC)
        local = opens_at.astimezone(ZoneInfo(r.timezone)).date()
        flags = json.loads(r.vulnerabilities) if isinstance(r.vulnerabilities, str) \
            else r.vulnerabilities
        born = date.fromisoformat(r.date_of_birth) if isinstance(r.date_of_birth, str) \
            else r.date_of_birth
        batch.append({'b_id': r.id, 'local_date': local,
                      'age_group': r.age_group or _age_group(born, local),
                      'programme': r.programme, 'sex': r.sex, 'nationality': r.nationality,
                      'vulnerabilities': '|'.join(sorted(set(flags or ()))),
                      'channel': r.channel or 'none',
                      'reporting_centre': r.reporting_centre or 'none'})
        if len(batch) >= 5000:
            conn.execute(update, batch)
            batch = []
    if batch:
        conn.execute(update, batch)


# The rollups' layout at this revision (``checkin.rollups`` then), kept here so that a
# later change of that module does not change what this revision builds.
STAMP_NAMES = ('programme', 'sex', 'age_group', 'nationality', 'vulnerabilities', 'channel',
               'reporting_centre')
CUBES = ((), ('programme', 'sex', 'age_group', 'nationality'),
         ('programme', 'sex', 'age_group', 'vulnerabilities'),
         ('programme', 'channel', 'reporting_centre'), STAMP_NAMES)
OUTCOMES = ('on_time', 'late', 'missed', 'excused', 'pending')


def _period_start(grain: str, day: date) -> date:
    if grain == 'week':
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if grain == 'month' else day


def _build_rollups(conn: sa.Connection) -> None:
    """Every rollup row from the stamped windows: per cube, grain and period, the
    count and record-key sum per outcome and the bitmap of the cases' serials."""
    from pyroaring import BitMap

    acc: dict[str, dict] = {}
    rows = conn.execute(sa.text(
        'SELECT e.status, e.record_key, e.local_date, '
        + ', '.join(f'e.{n}' for n in STAMP_NAMES) + ', c.serial '
        'FROM expected_checkins e JOIN case_copies c ON c.case_id = e.case_id '
        'WHERE e.local_date IS NOT NULL'))
    for r in rows:
        day = date.fromisoformat(r.local_date) if isinstance(r.local_date, str) else r.local_date
        stamps = tuple(str(v) if v is not None else 'none' for v in r[3:3 + len(STAMP_NAMES)])
        for cube, dims in enumerate(CUBES):
            kept = tuple(v if n in dims else '*' for n, v in zip(STAMP_NAMES, stamps, strict=True))
            for grain in ('day', 'week', 'month'):
                start = _period_start(grain, day)
                key = '\x1f'.join((str(cube), grain, start.isoformat(), *kept))
                row = acc.get(key)
                if row is None:
                    row = acc[key] = {
                        'key': key, 'cube': cube, 'grain': grain, 'period': start,
                        **dict(zip(STAMP_NAMES, kept, strict=True)), 'cases': BitMap(),
                        **dict.fromkeys(OUTCOMES, 0), **{f'{o}_keys': 0 for o in OUTCOMES}}
                row[r.status] += 1
                row[f'{r.status}_keys'] = (row[f'{r.status}_keys'] + r.record_key) % 256
                row['cases'].add(r.serial)
    table = sa.table('attendance_rollups', *(sa.column(n) for n in (
        'key', 'cube', 'grain', 'period', *STAMP_NAMES, 'cases', *OUTCOMES,
        *(f'{o}_keys' for o in OUTCOMES))))
    built = list(acc.values())
    for row in built:
        row['cases'] = row['cases'].serialize()
    for chunk in range(0, len(built), 2000):
        conn.execute(table.insert(), built[chunk:chunk + 2000])


def upgrade() -> None:
    conn = op.get_bind()
    op.create_table(
        'attendance_rollups',
        sa.Column('key', String(length=900), nullable=False),
        sa.Column('cube', sa.SmallInteger(), nullable=False),
        sa.Column('grain', String(length=8), nullable=False),
        sa.Column('period', sa.Date(), nullable=False),
        sa.Column('programme', String(length=64), nullable=False),
        sa.Column('sex', String(length=16), nullable=False),
        sa.Column('age_group', String(length=8), nullable=False),
        sa.Column('nationality', String(length=8), nullable=False),
        sa.Column('vulnerabilities', String(length=500), nullable=False),
        sa.Column('channel', String(length=16), nullable=False),
        sa.Column('reporting_centre', String(length=120), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False)
          for outcome in ('on_time', 'late', 'missed', 'excused', 'pending')
          for name in (outcome, f'{outcome}_keys')),
        sa.Column('cases', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_attendance_rollups')),
    )
    op.create_index('ix_attendance_rollups_cube_grain_period', 'attendance_rollups',
                    ['cube', 'grain', 'period'], unique=False)
    with op.batch_alter_table('case_copies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_key', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('serial', sa.Integer(), nullable=True))
    with op.batch_alter_table('expected_checkins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_key', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('local_date', sa.Date(), nullable=True))
        for name, length in STAMPS:
            batch_op.add_column(sa.Column(name, String(length=length), nullable=True))
    conn.execute(sa.text(f'UPDATE case_copies SET record_key = {_random_key()}'))
    conn.execute(sa.text(f'UPDATE expected_checkins SET record_key = {_random_key()}'))
    # Serials in the order the copies were made; the key and serial name a case in bitmaps.
    ids = conn.execute(sa.text('SELECT case_id FROM case_copies ORDER BY updated_at, case_id'))
    serials = [{'serial': n, 'case_id': case_id} for n, (case_id,) in enumerate(ids, 1)]
    if serials:
        conn.execute(sa.text('UPDATE case_copies SET serial = :serial WHERE case_id = :case_id'),
                     serials)
    _stamp_windows(conn)
    with op.batch_alter_table('case_copies', schema=None) as batch_op:
        batch_op.alter_column('record_key', existing_type=sa.SmallInteger(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_case_copies_serial'), ['serial'])
    with op.batch_alter_table('expected_checkins', schema=None) as batch_op:
        batch_op.alter_column('record_key', existing_type=sa.SmallInteger(), nullable=False)
    _build_rollups(conn)


def downgrade() -> None:
    with op.batch_alter_table('expected_checkins', schema=None) as batch_op:
        for name, _ in reversed(STAMPS):
            batch_op.drop_column(name)
        batch_op.drop_column('local_date')
        batch_op.drop_column('record_key')
    with op.batch_alter_table('case_copies', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_case_copies_serial'), type_='unique')
        batch_op.drop_column('serial')
        batch_op.drop_column('record_key')
    op.drop_index('ix_attendance_rollups_cube_grain_period', table_name='attendance_rollups')
    op.drop_table('attendance_rollups')
