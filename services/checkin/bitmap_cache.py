"""The rollups' case bitmaps, kept deserialised in the worker's memory between summaries.

Why: a summary whose groups span several rollup rows (a year by programme and sex
spans twelve months of every finer combination) unions their bitmaps, and at national
scale reading and deserialising them is most of its time: thousands of bitmaps, about
10 µs each in pyroaring, plus their bytes from the database. Rollup rows of past
periods rarely change, so the same bitmaps are asked for again and again.

Guarantees:

- a cached bitmap is used only for the version of its row it was read from
  (PostgreSQL's ``xmin``, which every UPDATE of the row changes), so a summary never
  counts a stale bitmap: a row the fold has changed since is read again;
- SQLite has no row version: there nothing is cached and every bitmap is read;
- the cache holds at most ``WAYMARK_SUMMARY_CACHE_MIB`` of bitmaps (their serialised
  size, about what they take in memory), the least recently used leaving first; 0
  turns it off. Each worker process has its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from pyroaring import BitMap
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.models import AttendanceRollup

ROLLUP = AttendanceRollup.__table__  # type: ignore[attr-defined]
# PostgreSQL's row version: a new one for every UPDATE.
VERSION = sa.cast(sa.literal_column("attendance_rollups.xmin"), sa.Text)
# The most bitmaps read by key (a parameter each, under PostgreSQL's 65,535); more, or
# more than half of those asked for, are read by the summary's own condition.
CHUNK = 10_000
# What a cached bitmap costs beyond its bytes: the objects and the entry.
OVERHEAD = 200


class BitmapCache:
    """Deserialised bitmaps by (rollup key, row version), least recently used first out
    once ``budget`` bytes are held."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.held = 0
        self._items: OrderedDict[str, tuple[str, BitMap, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str, version: str) -> BitMap | None:
        item = self._items.get(key)
        if item is None or item[0] != version:
            return None
        self._items.move_to_end(key)
        return item[1]

    def put(self, key: str, version: str, bitmap: BitMap, size: int) -> None:
        cost = size + OVERHEAD
        if cost > self.budget:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.held -= old[2]
        self._items[key] = (version, bitmap, cost)
        self.held += cost
        while self.held > self.budget:
            _, (_, _, freed) = self._items.popitem(last=False)
            self.held -= freed


async def read(session: AsyncSession, cache: BitmapCache | None,
               columns: Sequence[Any], where: Any) -> list[tuple[tuple[Any, ...], BitMap]]:
    """``(columns' values, bitmap)`` of every rollup row ``where`` selects, from
    ``cache`` where it holds the row's current version."""
    dialect = (await session.connection()).dialect.name
    if cache is None or cache.budget <= 0 or dialect != "postgresql":
        return [(tuple(row[:-1]), BitMap.deserialize(row[-1])) for row in (
            await session.execute(sa.select(*columns, ROLLUP.c.cases).where(where))).all()]
    found: list[tuple[tuple[Any, ...], BitMap]] = []
    missing: dict[str, list[tuple[Any, ...]]] = {}
    for *values, key, version in (await session.execute(
            sa.select(*columns, ROLLUP.c.key, VERSION).where(where))).all():
        bitmap = cache.get(key, version)
        if bitmap is None:
            missing.setdefault(key, []).append(tuple(values))
        else:
            found.append((tuple(values), bitmap))
    if not missing:
        return found
    # Read again with their versions: a row changed since the first read is counted as
    # it is now, as a summary without the cache would have read it. Many missing (a
    # cold cache) are read by the same condition, in index order, rather than by key.
    few = len(missing) <= CHUNK and 2 * len(missing) <= len(found) + len(missing)
    for key, version, data in (await session.execute(
            sa.select(ROLLUP.c.key, VERSION, ROLLUP.c.cases).where(
                ROLLUP.c.key.in_(list(missing)) if few else where))).all():
        if key in missing:
            bitmap = BitMap.deserialize(data)
            cache.put(key, version, bitmap, len(data))
            found.extend((values, bitmap) for values in missing[key])
    return found
