"""The audit trail's guarantees, on a real database built by the real migrations (the
registry's, as every service's trail is the same mechanism): the database refuses to
change or remove an entry; ``waymark audit verify`` passes on an untouched chain and,
after an entry is changed by hand (triggers disabled, as only someone with the
database's keys could), names the entry whose link no longer holds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import time_machine
from asgi_lifespan import LifespanManager

from shared.db import sync_url
from shared.migrations import upgrade
from tests.conftest import POSTGRES_URL, auth, client_for, registry_settings
from tests.registry.factories import case_body
from waymark.cli import main

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ALICE = auth("caseworker", sub="alice")


@pytest.fixture
def registry_url(empty_database, request) -> str:
    url = empty_database(f"audit_{request.node.name[-20:].lower()}".replace("[", "_")
                         .replace("]", "_").replace("-", "_"))
    upgrade("registry", url)
    return url


async def _reads(url: str, reads: int, *, concurrently: bool = False) -> str:
    """A case created and read ``reads`` times through the registry app; its id."""
    from registry.app import create_app

    app = create_app(registry_settings(url))
    async with LifespanManager(app), client_for(app, "registry") as client:
        created = await client.post("/v1/cases", json=case_body(), headers=ALICE)
        assert created.status_code == 201, created.text
        url_ = f"/v1/cases/{created.json()['id']}"
        if concurrently:
            responses = await asyncio.gather(*(client.get(url_, headers=ALICE)
                                               for _ in range(reads)))
        else:
            responses = [await client.get(url_, headers=ALICE) for _ in range(reads)]
        assert {r.status_code for r in responses} == {200}
        return created.json()["id"]


def trail_of(url: str, reads: int, **kwargs) -> None:
    with time_machine.travel(NOW, tick=True):
        asyncio.run(_reads(url, reads, **kwargs))


def verify(url: str, capsys, monkeypatch) -> tuple[int, str]:
    monkeypatch.setenv("WAYMARK_ENV", "test")
    monkeypatch.setenv("WAYMARK_REGISTRY_DATABASE_URL", url)
    code = main(["audit", "verify", "--service", "registry"])
    return code, capsys.readouterr().out


def by_hand(url: str, *statements: str) -> None:
    """Run SQL as the database's owner would, with the append-only triggers off."""
    engine = sa.create_engine(sync_url(url))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_entries DISABLE TRIGGER USER")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_entries_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_entries_no_delete")
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def test_an_untouched_chain_verifies(registry_url, capsys, monkeypatch):
    trail_of(registry_url, 5)
    code, out = verify(registry_url, capsys, monkeypatch)
    assert code == 0
    assert "registry: 6 entries, chain intact" in out


@pytest.mark.parametrize("statement", [
    "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 2",
    "DELETE FROM audit_entries WHERE seq = 2",
])
def test_the_database_refuses_to_change_or_remove_an_entry(registry_url, statement,
                                                           capsys, monkeypatch):
    trail_of(registry_url, 2)
    engine = sa.create_engine(sync_url(registry_url))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()
    assert verify(registry_url, capsys, monkeypatch)[0] == 0


def test_an_entry_changed_by_hand_breaks_the_link_of_the_entry_after_it(
        registry_url, capsys, monkeypatch):
    trail_of(registry_url, 5)
    by_hand(registry_url, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 3")
    code, out = verify(registry_url, capsys, monkeypatch)
    assert code == 1
    assert "registry: BROKEN at entry 4: entry 4 does not link to entry 3" in out


def test_an_entry_removed_by_hand_is_missing(registry_url, capsys, monkeypatch):
    trail_of(registry_url, 5)
    by_hand(registry_url, "DELETE FROM audit_entries WHERE seq = 2")
    code, out = verify(registry_url, capsys, monkeypatch)
    assert code == 1
    assert "BROKEN at entry 2: entry 2 is missing" in out


def test_the_last_entry_changed_or_removed_disagrees_with_the_head(
        registry_url, capsys, monkeypatch):
    trail_of(registry_url, 3)
    by_hand(registry_url, "DELETE FROM audit_entries WHERE seq = 4")
    code, out = verify(registry_url, capsys, monkeypatch)
    assert code == 1
    assert "the head names entry 4" in out


def test_concurrent_requests_never_fork_the_chain(registry_url, capsys, monkeypatch):
    trail_of(registry_url, 40, concurrently=True)
    code, out = verify(registry_url, capsys, monkeypatch)
    assert code == 0, out
    assert "41 entries, chain intact" in out


@pytest.mark.skipif(POSTGRES_URL is None, reason="TRUNCATE is PostgreSQL's")
def test_postgresql_refuses_to_truncate_the_trail(registry_url):
    trail_of(registry_url, 1)
    engine = sa.create_engine(sync_url(registry_url))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE audit_entries")
    engine.dispose()
