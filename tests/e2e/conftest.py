"""What the end-to-end tests share: a free port and an empty database per service."""

from __future__ import annotations

import os

import pytest

from tests.e2e.test_waymark_run import SERVICES, free_port


@pytest.fixture
def service_env(empty_database, tmp_path) -> dict[str, str]:
    env = dict(os.environ)
    for service in SERVICES:
        key = service.upper()
        env[f"WAYMARK_{key}_PORT"] = str(free_port())
        env[f"WAYMARK_{key}_DATABASE_URL"] = empty_database(f"e2e_{service}")
    return env
