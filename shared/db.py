"""Database helpers: engines, the session dependency, UTC timestamps, naming convention."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import AutoString

log = logging.getLogger("waymark.db")

# Deterministic constraint names, so Alembic can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> sa.MetaData:
    return sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops tzinfo)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Waymark stores UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def async_url(url: str) -> str:
    """Accept plain URLs in settings and pick the async driver."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def sync_url(url: str) -> str:
    """Migrations run synchronously (Alembic's simplest path), on psycopg 3; the
    services run on asyncpg, which costs less CPU per statement."""
    url = async_url(url)
    url = url.replace("sqlite+aiosqlite:", "sqlite:")
    return url.replace("postgresql+asyncpg:", "postgresql+psycopg:")


def ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite") and ":///" in url and ":memory:" not in url:
        path = url.split(":///", 1)[1].split("?", 1)[0]
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, begin transactions (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # Deleted and overwritten content is zeroed on its page, not left in free space:
    # an erased name or number must not stay readable in the file (see ``reclaim``).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    # IMMEDIATE: take the write lock up front. SQLite allows one writer; deferred
    # transactions that read, then write, fail with "database is locked" under
    # concurrency instead of waiting their turn. Savepoints also need this.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def install_sqlite_pragmas(engine: sa.Engine) -> None:
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    url = async_url(url)
    ensure_sqlite_dir(url)
    # hide_parameters: SQL errors must not echo names, dates of birth or numbers.
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if not url.startswith("sqlite"):
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
    engine = create_async_engine(url, **kwargs)
    install_sqlite_pragmas(engine.sync_engine)
    return engine


def make_sync_engine(url: str) -> sa.Engine:
    """A synchronous engine (psycopg 3, sqlite3) for CPU-heavy jobs run in a thread, so
    that they do not hold a worker's event loop while its requests wait: Python code
    in a thread gives the loop the interpreter every few milliseconds."""
    url = sync_url(url)
    ensure_sqlite_dir(url)
    engine = sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)
    install_sqlite_pragmas(engine)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request,
                      background: BackgroundTasks) -> AsyncIterator[AsyncSession]:
    """The only place that commits: one transaction per request, rolled back on error.
    Work registered with ``after_commit`` runs after the response has been sent (a
    ``VACUUM`` must not hold the client's answer back)."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            discard_after_commit(session)
            await session.rollback()
            raise
        if session.info.get("after_commit"):
            background.add_task(run_after_commit, _Committed(session.info))


class _Committed:
    """What ``run_after_commit`` needs of a session that is closed by then: its info."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = {"after_commit": info.pop("after_commit")}


# scope="function": commit before the response leaves, so a client never sees 201 for a
# write that then failed to commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def after_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]], *,
                 key: str | None = None) -> None:
    """Run ``callback`` once the session's transaction has committed (``get_session`` and
    ``shared.changefeed.FeedConsumer`` call ``run_after_commit``): for work that must
    not run inside a transaction, such as ``reclaim``. Callbacks with the same ``key``
    run once per transaction (the first one registered)."""
    callbacks = session.info.setdefault("after_commit", {})
    callbacks.setdefault(key if key is not None else object(), callback)


async def run_after_commit(session: Any) -> None:
    """The callbacks ``after_commit`` registered on ``session``, each once. The data is
    already committed: a callback that fails is logged, never raised."""
    callbacks = session.info.pop("after_commit", {})
    for callback in callbacks.values():
        try:
            await callback()
        except Exception as exc:
            log.error("after-commit work failed: %s", type(exc).__name__)


def discard_after_commit(session: AsyncSession) -> None:
    """Forget the callbacks of a transaction that rolled back."""
    session.info.pop("after_commit", None)


async def reclaim(bind: Any, tables: Iterable[str]) -> None:
    """Make erased data unreadable in the database's files, after the erasure committed
    (never inside a transaction):

    - SQLite (``secure_delete`` is on for every connection): a ``TRUNCATE`` checkpoint
      copies the write-ahead log into the database file and empties the log, so the
      erased values' old page images in the log are gone from the files;
    - PostgreSQL: ``VACUUM`` of ``tables``, so the dead row versions that still held
      the values are removed from the tables' pages (the WAL and backups are beyond
      the application's reach: README, "Retention and erasure").

    ``bind`` is what the sessionmaker is bound to: an engine in production; a test's
    connection inside an outer transaction that is rolled back has nothing committed
    to reclaim, and is left alone."""
    if not isinstance(bind, AsyncEngine):
        return
    names = sorted(set(tables))
    if bind.dialect.name == "postgresql":
        if not names:
            return
        async with bind.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            # INDEX_CLEANUP ON: index entries (a phone hash's among them) go too, even
            # when few rows are dead and VACUUM would otherwise skip the indexes.
            await conn.exec_driver_sql("VACUUM (INDEX_CLEANUP ON) "
                                       + ", ".join(f'"{name}"' for name in names))
    elif bind.dialect.name == "sqlite":
        async with bind.connect() as conn:
            await conn.run_sync(_sqlite_checkpoint)


def _sqlite_checkpoint(connection: sa.Connection) -> None:
    # On the DB-API cursor: a checkpoint cannot run inside the transaction SQLAlchemy
    # would begin (see _sqlite_begin).
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy, _, _ = cursor.fetchone()
        if busy:
            log.warning("WAL checkpoint could not complete (a reader was busy); "
                        "the next one will")
    finally:
        cursor.close()


async def database_ready(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False


def dialect_insert(session: AsyncSession) -> Any:
    """``insert`` of the session's dialect, for ``ON CONFLICT`` (PostgreSQL or SQLite)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def one_of(column: str, vocabulary: type[StrEnum]) -> sa.CheckConstraint:
    """CHECK that ``column`` holds a member of ``vocabulary`` (or NULL), named
    ``ck_<table>_<column>``; a new member comes with a migration that widens it."""
    values = ", ".join(f"'{member.value}'" for member in vocabulary)
    return sa.CheckConstraint(f"{column} IN ({values})", name=column)


def vocabulary(length: int) -> AutoString:
    """A vocabulary's column: its string value (SQLModel would make an ENUM type)."""
    return AutoString(length=length)
