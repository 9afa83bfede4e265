"""Two dispatcher processes on one PostgreSQL outbox: every reminder handed to the
provider exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from shared.db import sync_url, utcnow
from shared.migrations import upgrade
from tests.checkin.helpers import VAULT
from tests.conftest import requires_postgres
from tests.support import cohort
from tests.support.twilio_server import TwilioServer

ROOT = Path(__file__).resolve().parents[2]
COUNT = 10_000


@requires_postgres
def test_two_dispatchers_send_10000_due_reminders_exactly_once(empty_database):
    url = empty_database("notifications_two_dispatchers")
    upgrade("notifications", url)
    cohort.seed(url, count=COUNT, due_at=utcnow() - timedelta(minutes=1), vault=VAULT)
    with TwilioServer() as server:
        env = {**os.environ, "WAYMARK_ENV": "test", "WAYMARK_NOTIFICATIONS_DATABASE_URL": url,
               "WAYMARK_NOTIFY_PROVIDER": "twilio", "TWILIO_API_BASE": server.url,
               "TWILIO_ACCOUNT_SID": server.account_sid, "WAYMARK_NOTIFY_RATE": "0"}
        workers = [subprocess.Popen(
            [sys.executable, "-m", "waymark.cli", "dispatch", "--until-idle"], env=env, cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [worker.communicate(timeout=300) for worker in workers]
        received = server.stats()
    for worker, (_, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err
    sent = [json.loads(out.strip().splitlines()[-1])["sent"] for out, _ in results]
    assert sum(sent) == COUNT and min(sent) > 0  # both took a share
    assert received["created"] == COUNT and received["duplicates"] == 0
    engine = sa.create_engine(sync_url(url))
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.text(
            "SELECT status, count(*) FROM reminders GROUP BY status")).all())
        distinct = conn.execute(sa.text(
            "SELECT count(DISTINCT provider_id) FROM reminders")).scalar_one()
    engine.dispose()
    assert statuses == {"sent": COUNT} and distinct == COUNT
