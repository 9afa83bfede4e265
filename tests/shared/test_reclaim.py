"""``shared.db.reclaim``: after an erasure commits, SQLite's write-ahead log is
checkpointed and emptied, PostgreSQL's tables are vacuumed; a test's connection inside
a rolled-back transaction is left alone. And ``secure_delete`` is on for every SQLite
connection."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import sqlalchemy as sa

from shared.db import after_commit, make_engine, reclaim, run_after_commit
from tests.conftest import requires_postgres


def _size(path: Path) -> int:
    return path.stat().st_size


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


async def _table(engine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
        await conn.execute(sa.text("INSERT INTO t VALUES (1, 'Zanelisiwe')"))
        await conn.execute(sa.text("UPDATE t SET name = NULL"))


async def test_reclaim_checkpoints_and_empties_the_sqlite_log(tmp_path: Path):
    path = tmp_path / "r.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        await _table(engine)
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA secure_delete")).scalar() == 1
        wal = Path(f"{path}-wal")
        assert _size(wal) > 0
        await reclaim(engine, ["t"])
        assert _size(wal) == 0
        assert b"Zanelisiwe" not in _bytes(path)
    finally:
        await engine.dispose()


async def test_reclaim_leaves_a_connection_in_a_test_transaction_alone(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        async with engine.connect() as conn:
            await conn.begin()
            await reclaim(conn, ["t"])  # returns at once: nothing is committed to reclaim
            await conn.rollback()
    finally:
        await engine.dispose()


async def test_after_commit_callbacks_run_once_per_key_and_failures_are_logged(caplog):
    ran: list[str] = []

    class Session:
        info: dict = {}

    session = Session()

    async def first() -> None:
        ran.append("first")

    async def broken() -> None:
        raise RuntimeError("no")

    after_commit(session, first, key="k")  # type: ignore[arg-type]
    after_commit(session, first, key="k")  # type: ignore[arg-type]
    after_commit(session, broken)  # type: ignore[arg-type]
    await run_after_commit(session)  # type: ignore[arg-type]
    await run_after_commit(session)  # type: ignore[arg-type]
    assert ran == ["first"]
    assert "after-commit work failed: RuntimeError" in caplog.text


@requires_postgres
async def test_reclaim_vacuums_on_postgresql(empty_database):
    engine = make_engine(empty_database(f"reclaim_{uuid.uuid4().hex[:6]}"))
    try:
        await _table(engine)
        await reclaim(engine, ["t"])
        async with engine.connect() as conn:
            for _ in range(50):  # statistics reach the view a moment later
                count = (await conn.execute(sa.text(
                    "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 't'"
                ))).scalar()
                if count:
                    break
                await conn.rollback()
                await asyncio.sleep(0.1)
        assert count == 1
    finally:
        await engine.dispose()
