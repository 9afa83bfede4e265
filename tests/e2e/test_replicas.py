"""Two replicas of every service on one PostgreSQL database per service: cases created
and changed through both registry replicas, both checkin and both notifications
replicas following the feeds, both dispatchers sending the same due reminders and both
checkin job runners settling the same missed windows. Nothing is applied, sent or
opened twice.

Real processes cannot have their clock moved, so two things the test cannot wait for
are moved in the databases instead: the planned reminders' due times (to now) and
some windows (into the past, grace over). Everything else goes over HTTP."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest

from tests.conftest import auth, requires_postgres
from tests.e2e.cluster import Cluster, eventually, phones, starts_tomorrow
from tests.registry.factories import case_body
from tests.support.twilio_server import TwilioServer

pytestmark = [requires_postgres, pytest.mark.slow]

CASES = 16
MISSED = 6  # cases whose first window is moved into the past


def twilio_env(server: TwilioServer) -> dict[str, str]:
    return {"WAYMARK_NOTIFY_PROVIDER": "twilio", "TWILIO_API_BASE": server.url,
            "TWILIO_ACCOUNT_SID": server.account_sid, "TWILIO_AUTH_TOKEN": server.auth_token}


def new_case(url: str, phone: str) -> dict:
    tomorrow = starts_tomorrow(url)
    response = httpx.post(f"{url}/v1/cases", headers=auth("caseworker"), timeout=10,
                          json=case_body(person__phone=phone, reporting__starts_on=tomorrow))
    assert response.status_code == 201, response.text
    return response.json()


def registry_versions(url: str, ids: list[str]) -> dict[str, int]:
    return {case_id: httpx.get(f"{url}/v1/cases/{case_id}", headers=auth("caseworker"),
                               timeout=10).json()["version"] for case_id in ids}


def copy_versions(cluster: Cluster) -> dict[str, int]:
    return {str(r.case_id): r.version
            for r in cluster.rows("checkin", "SELECT case_id, version FROM case_copies")}


def test_two_replicas_of_each_service_apply_send_and_open_everything_once(
        databases, twilio, tmp_path):
    cluster = Cluster(databases, tmp_path, extra=twilio_env(twilio))
    try:
        registries = [cluster.replica("registry") for _ in range(2)]
        checkins = [cluster.replica("checkin", WAYMARK_REGISTRY_URL=r.url) for r in registries]
        for registry, checkin in zip(registries, checkins, strict=True):
            cluster.replica("notifications", WAYMARK_REGISTRY_URL=registry.url,
                            WAYMARK_CHECKIN_URL=checkin.url)

        # Cases opened and changed through both registry replicas, alternately.
        ids = [new_case(registries[i % 2].url, phone)["id"]
               for i, phone in enumerate(phones(CASES))]
        for i, case_id in enumerate(ids):
            response = httpx.patch(f"{registries[(i + 1) % 2].url}/v1/cases/{case_id}",
                                   json={"person": {"preferred_language": "en"}},
                                   headers=auth("caseworker"), timeout=10)
            assert response.status_code == 200, response.text
        expected = registry_versions(registries[0].url, ids)
        assert set(expected.values()) == {2}

        # Both checkin replicas follow the feed: every copy at the registry's version.
        eventually(lambda: copy_versions(cluster) == expected, timeout=30,
                   what="checkin's copies reaching the registry's versions")
        windows = cluster.rows("checkin", """
            SELECT case_id, opens_at, count(*) AS n FROM expected_checkins
            GROUP BY case_id, opens_at""")
        assert {r.n for r in windows} == {1}
        assert {str(r.case_id) for r in windows} == set(ids)

        # Both notifications replicas plan each window's "window opens" reminder once.
        def planned():
            rows = cluster.rows("notifications", """
                SELECT r.expected_checkin_id, count(*) AS n FROM reminders r
                WHERE r.kind = 'window_opens' AND r.status = 'planned'
                GROUP BY r.expected_checkin_id""")
            return rows if len(rows) == len(windows) else None

        reminders = eventually(planned, timeout=30, what="every window's reminder planned")
        assert {r.n for r in reminders} == {1}

        # Each case's first one due now (the text says "open now", the same every week,
        # so one per person keeps the server's duplicate count meaningful): both
        # dispatchers race for them.
        due = cluster.execute("notifications", """
            UPDATE reminders SET due_at = now() - interval '1 second',
                                 next_attempt_at = now() - interval '1 second'
            WHERE id IN (SELECT DISTINCT ON (case_id) id FROM reminders
                         WHERE kind = 'window_opens' AND status = 'planned'
                         ORDER BY case_id, due_at)""")
        assert due == CASES
        eventually(lambda: twilio.stats()["created"] >= due, timeout=30,
                   what=f"{due} reminders reaching Twilio")
        eventually(lambda: cluster.rows("notifications", """
            SELECT count(*) AS n FROM reminders
            WHERE kind = 'window_opens' AND status = 'sent'""")[0].n == due, timeout=15,
            what="every sent reminder recorded")
        stats = twilio.stats()
        assert stats["created"] == due and stats["duplicates"] == 0, stats
        [sent] = cluster.rows("notifications", """
            SELECT count(DISTINCT provider_id) AS n FROM reminders
            WHERE kind = 'window_opens' AND status = 'sent'""")
        assert sent.n == due

        # Some first windows are over, grace and all: both job runners race to settle
        # them and open a follow-up for each.
        missed = ids[:MISSED]
        moved = cluster.execute("checkin", """
            UPDATE expected_checkins SET opens_at = now() - interval '3 hours',
                   closes_at = now() - interval '2 hours',
                   grace_ends_at = now() - interval '1 hour'
            WHERE id IN (SELECT DISTINCT ON (case_id) id FROM expected_checkins
                         WHERE case_id = ANY(CAST(:ids AS uuid[]))
                         ORDER BY case_id, opens_at)""", ids=missed)
        assert moved == MISSED

        def opened():
            response = httpx.get(f"{checkins[0].url}/v1/follow-ups", timeout=10,
                                 headers=auth("supervisor"), params={"limit": 500})
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            return items if len(items) >= MISSED else None

        eventually(opened, timeout=30, what="a follow-up per missed window")
        # Both runners have had several more ticks: still one each.
        time.sleep(2)
        items = opened()
        by_window = Counter(item["expected_checkin_id"] for item in items)
        assert len(items) == MISSED and set(by_window.values()) == {1}, by_window
        assert {item["case_id"] for item in items} == set(missed)
        assert {item["kind"] for item in items} == {"missed_checkin"}
        assert twilio.stats()["duplicates"] == 0
    finally:
        cluster.stop()
