"""PostgreSQL restarted under load, on a throwaway cluster this test makes with the
machine's ``initdb`` and ``pg_ctl`` (never the shared server): while it is down every
service answers ``/readyz`` 503; once it is back they are ready again without being
restarted, and every case the registry accepted (201) reaches checkin and
notifications."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from shared.migrations import upgrade
from tests.conftest import auth, requires_postgres
from tests.e2e.cluster import Cluster, eventually, phones, starts_tomorrow
from tests.e2e.test_replicas import copy_versions, registry_versions
from tests.e2e.test_waymark_run import SERVICES, free_port
from tests.registry.factories import case_body

pytestmark = [requires_postgres, pytest.mark.slow]


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class ThrowawayPostgres:
    bin: Path
    data: Path
    port: int
    user: tuple[int, int] | None  # (uid, gid) to run as: initdb refuses root

    def run(self, *args: str) -> None:
        user = self.user

        def drop() -> None:
            if user is not None:
                os.setgid(user[1])
                os.setuid(user[0])

        subprocess.run([str(self.bin / args[0]), *args[1:]], check=True, preexec_fn=drop,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.data.parent)

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.data.parent / "log"), "-w",
                 "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 "
                       f"-k {self.data.parent} -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def database(self, name: str) -> str:
        url = f"postgresql://postgres@127.0.0.1:{self.port}"
        with psycopg.connect(f"{url}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{url}/{name}"


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("no initdb/pg_ctl on this machine (install the PostgreSQL server)")
    user = None
    root = Path(tempfile.mkdtemp(prefix="waymark-pg-"))
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip("running as root and no postgres user to run initdb as")
        user = (entry.pw_uid, entry.pw_gid)
        os.chown(root, *user)
    cluster = ThrowawayPostgres(bin_dir, root / "data", free_port(), user)
    try:
        cluster.run("initdb", "-D", str(cluster.data), "-A", "trust", "-U", "postgres",
                    "-E", "UTF8", "--no-sync")
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(root, ignore_errors=True)


class Load(threading.Thread):
    """Opens cases through the registry as fast as it answers, keeping what it said."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.accepted, self.refused = url, [], 0
        self.stopping = threading.Event()

    def run(self) -> None:
        tomorrow = starts_tomorrow(self.url)
        numbers = phones(100_000)
        with httpx.Client(base_url=self.url, headers=auth("caseworker"), timeout=10) as http:
            while not self.stopping.is_set():
                try:
                    response = http.post("/v1/cases", json=case_body(
                        person__phone=next(numbers), reporting__starts_on=tomorrow))
                except httpx.TransportError:
                    self.refused += 1
                    continue
                if response.status_code == 201:
                    self.accepted.append(response.json()["id"])
                else:
                    assert response.status_code >= 500, response.text
                    self.refused += 1
                    time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


def ready(url: str) -> int | None:
    try:
        return httpx.get(f"{url}/readyz", timeout=3).status_code
    except httpx.TransportError:
        return None


def test_postgres_restarted_under_load_services_unready_then_recover_nothing_lost(
        throwaway_postgres, tmp_path):
    urls = {}
    for service in SERVICES:
        urls[service] = throwaway_postgres.database(f"waymark_{service}")
        upgrade(service, urls[service])
    cluster = Cluster(urls, tmp_path)
    load = None
    try:
        registry = cluster.replica("registry")
        checkin = cluster.replica("checkin", WAYMARK_REGISTRY_URL=registry.url)
        notifications = cluster.replica("notifications", WAYMARK_REGISTRY_URL=registry.url,
                                        WAYMARK_CHECKIN_URL=checkin.url)
        replicas = (registry, checkin, notifications)
        load = Load(registry.url)
        load.start()
        eventually(lambda: len(load.accepted) >= 10, timeout=20, what="cases accepted")

        throwaway_postgres.stop()
        accepted_before = len(load.accepted)
        eventually(lambda: all(ready(r.url) == 503 for r in replicas), timeout=15,
                   what="every service reporting not ready")
        time.sleep(1)
        throwaway_postgres.start()
        eventually(lambda: all(ready(r.url) == 200 for r in replicas), timeout=30,
                   what="every service ready again on its own")
        assert all(r.process.poll() is None for r in replicas)  # nobody restarted them
        eventually(lambda: len(load.accepted) >= accepted_before + 10, timeout=20,
                   what="cases accepted again")
        load.stop()

        expected = registry_versions(registry.url, load.accepted)
        assert len(expected) == len(load.accepted)  # every 201 is there
        eventually(lambda: copy_versions(cluster) == expected, timeout=60,
                   what="checkin holding every accepted case")

        def contacts() -> bool:
            rows = cluster.rows("notifications", "SELECT case_id FROM contacts")
            return {str(r.case_id) for r in rows} == set(expected)

        eventually(contacts, timeout=60, what="notifications holding every accepted case")
        print(f"{len(load.accepted)} cases accepted ({accepted_before} before the restart), "
              f"{load.refused} refused while the database was down")
        assert load.refused > 0  # the load did meet the outage
    finally:
        if load is not None:
            load.stop()
        cluster.stop()
