"""What ``waymark demo`` needs around the play itself: its databases (refused when they
hold cases, wiped with ``--replace``, migrated), SQLite without a disk flush per
commit, and its progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from shared.db import sync_url

SERVICES = ("registry", "checkin", "notifications")
# Where each service keeps its cases: a database with rows here is not the demo's to wipe.
CASE_TABLES = {"registry": "cases", "checkin": "case_copies", "notifications": "contacts"}


class DemoError(Exception):
    """Something the person at the keyboard should read: said in one sentence."""


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_path(url: str) -> Path | None:
    path = sync_url(url).split("///", 1)[-1]
    return None if path in ("", ":memory:") else Path(path)


def holds_cases(service: str, url: str) -> bool:
    """Whether the service's database already holds cases."""
    if _is_sqlite(url) and ((path := _sqlite_path(url)) is None or not path.exists()):
        return False
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(CASE_TABLES[service]):
                return False
            return bool(conn.execute(sa.text(
                f"SELECT 1 FROM {CASE_TABLES[service]} LIMIT 1")).first())
    finally:
        engine.dispose()


def prepare_databases(urls: dict[str, str], *, replace: bool) -> None:
    """Refuse databases that hold cases unless ``replace``; then wipe (``replace``)
    and migrate each to its latest revision."""
    from alembic import command

    from shared.migrations import alembic_config, upgrade

    full = []
    for service in SERVICES:
        try:
            if holds_cases(service, urls[service]):
                full.append(service)
        except sa.exc.OperationalError as error:  # not running, no such database ...
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise DemoError(f"cannot open the {service} database: {reason}") from None
    if full and not replace:
        raise DemoError(
            f"the {', '.join(full)} database(s) already hold cases "
            f"({', '.join(urls[s] for s in full)}); the demo does not overwrite them. Run "
            f"`waymark demo --replace` to erase them and start again, or point "
            f"WAYMARK_<SERVICE>_DATABASE_URL elsewhere.")
    for service in SERVICES:
        url = urls[service]
        if replace and _is_sqlite(url) and (path := _sqlite_path(url)) is not None:
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
        elif replace:
            command.downgrade(alembic_config(service, url), "base")
        upgrade(service, url)


def default_urls() -> dict[str, str]:
    """Each service's configured database (``WAYMARK_<SERVICE>_DATABASE_URL`` or its
    default under ``var/``): where ``waymark run`` will look."""
    from checkin.config import CheckinSettings
    from notifications.config import NotificationsSettings
    from registry.config import RegistrySettings

    return {"registry": RegistrySettings().database_url,
            "checkin": CheckinSettings().database_url,
            "notifications": NotificationsSettings().database_url}


async def fsync_less(engine: Any) -> None:
    """SQLite in WAL mode with ``synchronous=NORMAL``: commits no longer wait for the
    disk (a power cut may lose the last ones, never corrupt the file). Thousands of
    small commits are the demo's cost; a demo cut short is simply run again. The
    services themselves keep their own, durable setting under ``waymark run``."""
    if engine.dialect.name != "sqlite":
        return

    def pragma(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sa.event.listen(engine.sync_engine, "connect", pragma)
    await engine.dispose()  # connections opened before the listener get it too


class Progress:
    """A one-line progress bar on stderr. Hand-written rather than tqdm: tqdm times
    itself with ``time.time``, which the simulated clock stops and jumps, so its rates
    and estimates would be nonsense; this one reads the monotonic clock."""

    WIDTH = 30

    def __init__(self, label: str, total: int, *, enabled: bool, stream: Any = None) -> None:
        import sys
        import time

        self.label, self.total, self.enabled = label, max(total, 1), enabled
        self.stream = stream or sys.stderr
        self._now = time.monotonic
        self.began = self._drawn = self._now()
        self.done = 0

    def update(self, done: int, note: str = "") -> None:
        self.done = done
        if not self.enabled:
            return
        now = self._now()
        tty = self.stream.isatty()
        # On a terminal, redrawn in place; in a log, a line every 10 % or so.
        if (now - self._drawn < (0.1 if tty else 10.0)) and done < self.total:
            return
        self._drawn = now
        filled = self.WIDTH * min(done, self.total) // self.total
        line = (f"{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                f"{100 * done // self.total:3d}% {note} {now - self.began:5.1f} s ")
        self.stream.write(f"\r{line}" if tty else f"{line}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.update(self.total)
            if self.stream.isatty():
                self.stream.write("\n")
            self.stream.flush()
