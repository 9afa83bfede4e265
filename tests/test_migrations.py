"""Each service's migrations build its database from empty, and the models have not
drifted from the revisions (``alembic check``), on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from shared.db import sync_url
from shared.migrations import alembic_config
from tests.conftest import SERVICES, requires_postgres

BACKENDS = ["sqlite", pytest.param("postgresql", marks=requires_postgres)]


@pytest.fixture
def fresh_url(request, tmp_path, empty_database):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return empty_database(f"migrations_{request.node.callspec.id.replace('-', '_')}")


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("fresh_url", BACKENDS, indirect=True)
def test_upgrade_from_empty_then_check_then_downgrade(service, fresh_url):
    config = alembic_config(service, fresh_url)
    command.upgrade(config, "head")
    command.check(config)  # raises if the models and the revisions disagree

    head = ScriptDirectory.from_config(config).get_current_head()
    engine = sa.create_engine(sync_url(fresh_url))
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == head
    command.downgrade(config, "base")
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_one_linear_history(service):
    script = ScriptDirectory.from_config(alembic_config(service, "sqlite://"))
    assert len(script.get_heads()) == 1
