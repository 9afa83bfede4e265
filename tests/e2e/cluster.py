"""Real ``waymark serve`` processes for the replica and failure tests: each service's
database migrated once, any number of replicas of a service on ports of their own,
killed (SIGKILL) and started again at will, and direct reads of a service's database
for the counts no API exposes (a case copy's version, rows per window)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from shared.db import sync_url
from tests.e2e.test_waymark_run import SERVICES, free_port

ROOT = Path(__file__).resolve().parents[2]

# Feeds polled and jobs run often, so a test sees them act within seconds.
FAST = {
    "WAYMARK_ENV": "test",
    "WAYMARK_CHECKIN_FEED_POLL_SECONDS": "0.3",
    "WAYMARK_NOTIFICATIONS_FEED_POLL_SECONDS": "0.3",
    "WAYMARK_CHECKIN_JOBS_SECONDS": "0.5",
    "WAYMARK_DISPATCH_SECONDS": "0.3",
    "WAYMARK_NOTIFY_RATE": "0",
}


@dataclass
class Replica:
    service: str
    env: dict[str, str]
    cwd: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True) -> Replica:
        key = self.service.upper()
        env = {**self.env, f"WAYMARK_{key}_PORT": str(self.port)}
        self.log = self.cwd / f"{self.service}-{self.port}.log"
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "waymark.cli", "serve", self.service], env=env,
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.tail()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.service} on {self.port} never became ready: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or committed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self, lines: int = 20) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text().splitlines()[-lines:])


@dataclass
class Cluster:
    """Replicas of the three services over one database per service."""

    urls: dict[str, str]  # database URLs
    cwd: Path
    extra: dict[str, str] = field(default_factory=dict)
    replicas: list[Replica] = field(default_factory=list)
    # Variables of the test's own environment the services must not inherit.
    unset: tuple[str, ...] = ()

    def env(self, **overrides: str) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if k not in self.unset}
        env = {**inherited, **FAST, **self.extra, **overrides}
        for service in SERVICES:
            env[f"WAYMARK_{service.upper()}_DATABASE_URL"] = self.urls[service]
        return env

    def replica(self, service: str, *, start: bool = True, **env: str) -> Replica:
        replica = Replica(service, self.env(**env), self.cwd)
        self.replicas.append(replica)
        return replica.start() if start else replica

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()

    def rows(self, service: str, query: str, **params: Any) -> list[sa.Row]:
        engine = sa.create_engine(sync_url(self.urls[service]))
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(query), params))
        finally:
            engine.dispose()

    def execute(self, service: str, statement: str, **params: Any) -> int:
        engine = sa.create_engine(sync_url(self.urls[service]))
        try:
            with engine.begin() as conn:
                return conn.execute(sa.text(statement), params).rowcount
        finally:
            engine.dispose()


def eventually(check: Callable[[], Any], *, timeout: float, what: str,
               every: float = 0.3) -> Any:
    """``check()``'s first truthy value within ``timeout`` seconds, else a failure that
    says what never happened and what was seen last."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout} s (last seen: {last!r})")


def phones(count: int, start: int = 0) -> Iterator[str]:
    """A number of its own per person, so a duplicate send shows at the fake Twilio."""
    for index in range(start, start + count):
        yield f"+4479111{index:05d}"


def served_at(url: str) -> datetime:
    """The time by the clock of the service at ``url``: its ``Date`` header (UTC, to
    the second, rounded down)."""
    served = parsedate_to_datetime(httpx.get(f"{url}/healthz", timeout=10).headers["date"])
    return served.astimezone(UTC)


def starts_tomorrow(url: str) -> str:
    """The day after today by the services' own clock (the ``Date`` header of the
    running registry at ``url``), for a reporting requirement whose windows all lie
    ahead. Real processes cannot share a test's frozen clock, so the test reads theirs,
    whatever date it runs on (libfaketime moves both)."""
    return (served_at(url).date() + timedelta(days=1)).isoformat()
