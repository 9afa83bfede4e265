"""Checkin's counters move when a check-in is recorded or a follow-up opened, once
the transaction commits."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY

from shared.metrics import count_on_commit
from tests.checkin.helpers import FIRST_OPENS, OFFICER, add_case, follow_ups, run_jobs


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_in_person_check_in_counts_by_channel_and_timing(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app)
    clock.move_to(FIRST_OPENS + timedelta(hours=2))
    labels = {"channel": "in_person", "timing": "on_time"}
    before = value("waymark_checkins_total", **labels)
    body = {"case_id": str(case_id), "reporting_centre": "Croydon",
            "identity_confirmed_by": "document"}
    assert (await checkin.post("/v1/checkins", json=body, headers=OFFICER)).status_code == 201
    assert value("waymark_checkins_total", **labels) == before + 1
    # The officer's double submit is the same check-in: not counted again.
    assert (await checkin.post("/v1/checkins", json=body, headers=OFFICER)).status_code in (
        200, 201)
    assert value("waymark_checkins_total", **labels) == before + 1
    assert f'waymark_checkins_total{{channel="in_person",timing="on_time"}} {before + 1}' in (
        await checkin.get("/metrics")).text


async def test_a_missed_check_in_counts_a_follow_up_by_kind(checkin_app, clock):
    case_id = await add_case(checkin_app)
    before = value("waymark_follow_ups_opened_total", kind="missed_checkin")
    clock.move_to(FIRST_OPENS + timedelta(hours=35))  # past the grace period
    await run_jobs(checkin_app)
    assert len(await follow_ups(checkin_app, case_id)) == 1
    assert value("waymark_follow_ups_opened_total", kind="missed_checkin") == before + 1


async def test_a_rolled_back_transaction_counts_nothing(checkin_app):
    from checkin.metrics import FOLLOW_UPS_OPENED

    before = value("waymark_follow_ups_opened_total", kind="pin_locked")
    async with checkin_app.state.sessionmaker() as session:
        await session.begin()
        count_on_commit(session, FOLLOW_UPS_OPENED, kind="pin_locked")
        await session.rollback()
    assert value("waymark_follow_ups_opened_total", kind="pin_locked") == before
    async with checkin_app.state.sessionmaker() as session:
        await session.begin()
        count_on_commit(session, FOLLOW_UPS_OPENED, kind="pin_locked")
        await session.commit()
    assert value("waymark_follow_ups_opened_total", kind="pin_locked") == before + 1
