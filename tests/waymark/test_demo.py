"""``waymark demo`` at a small size (12 cases, 3 weeks, a start pinned across the change
to British Summer Time) into temporary SQLite databases: what a user would notice in
what it prints, the chart it writes and the databases it leaves."""

from __future__ import annotations

import shutil
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from checkin.models import ExpectedCheckin, FollowUp
from notifications.models import LoggedMessage, Reminder
from sqlalchemy.orm import Session

from shared.db import sync_url
from tests.conftest import auth, checkin_settings, client_for, registry_settings
from waymark import demo_people as cast
from waymark.cli import main
from waymark.demo import EXCUSAL_REASON, Options, run
from waymark.demo_report import rate_range, svg_chart, table
from waymark.demo_setup import DemoError, holds_cases, prepare_databases

START = datetime(2026, 3, 16, 7, 30, tzinfo=UTC)  # BST begins on 29 March
CASES, WEEKS = 12, 3
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One small demo, shared by the tests here (it takes seconds). The suppression
    threshold is 1 so that three people per programme still show in the summaries."""
    folder = tmp_path_factory.mktemp("demo")
    urls = {s: f"sqlite+aiosqlite:///{folder / f'{s}.db'}"
            for s in ("registry", "checkin", "notifications")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAYMARK_SUPPRESSION_THRESHOLD", "1")
        result = run(Options(cases=CASES, weeks=WEEKS, seed=14, start=START, urls=urls,
                             out_dir=folder / "out", progress=False))
    return result, urls


def rows(url: str, model, *where):
    engine = sa.create_engine(sync_url(url))
    try:
        with Session(engine) as session:
            return session.execute(sa.select(model).where(*where)).scalars().all()
    finally:
        engine.dispose()


def windows(urls, person=None):
    where = [ExpectedCheckin.case_id == uuid.UUID(person.case_id)] if person else []
    return rows(urls["checkin"], ExpectedCheckin, *where)


def test_the_summaries_add_up_to_the_windows_expected(demo):
    result, urls = demo
    total = {name: sum(row[name] for row in result.supervisor)
             for name in ("expected", "on_time", "late", "missed", "excused", "pending")}
    in_period = [w for w in windows(urls)
                 if result.since <= w.opens_at.date() <= result.until]
    assert total["expected"] == len(in_period) > CASES * (WEEKS - 1)
    assert total["expected"] == sum(total[n] for n in total if n != "expected")
    assert {row["programme"] for row in result.supervisor} == {p[0] for p in cast.PROGRAMMES}
    assert sum(row["people"] for row in result.supervisor) == CASES
    assert total["on_time"] > total["late"] > 0 and total["missed"] > 0
    # The authority's cells are perturbed (cell-key method): each within 2 of the exact
    # count of its programme and sex, never a count the threshold withholds.
    exact = Counter((w.programme, w.sex) for w in in_period)
    assert result.authority
    for row in result.authority:
        assert abs(row["expected"] - exact[(row["programme"], row["sex"])]) <= 2, row
    printed = table(result.supervisor, ["programme"])
    assert "community_case_management" in printed and "on time" in printed


def test_the_excusal_and_the_outage_excused_windows(demo):
    result, urls = demo
    excused = [w for w in windows(urls, result.people[cast.EXCUSED]) if w.status == "excused"]
    assert [(w.excusal_reason, w.excused_by) for w in excused] == [
        (EXCUSAL_REASON, result.people[cast.EXCUSED].caseworker)]
    outage = [w for w in windows(urls) if w.outage_id is not None]
    assert outage and {w.status for w in outage} == {"excused"}
    assert result.actions["texts lost in the outage"] >= 1


def test_stop_stopped_that_persons_reminders(demo):
    result, urls = demo
    person = result.people[cast.STOPS]
    stopped_at = person.extra["stopped_at"]
    later = [w for w in windows(urls, person) if w.opens_at > stopped_at]
    assert later, "the person still had windows to attend after STOP"
    reminders = rows(urls["notifications"], Reminder,
                     Reminder.case_id == uuid.UUID(person.case_id))
    sent = [r for r in reminders if r.status == "sent"]
    assert sent and all(r.sent_at < stopped_at for r in sent)
    assert not [r for r in reminders if r.status == "planned"]


def test_reminders_went_out_through_the_log_provider(demo):
    result, urls = demo
    sent = rows(urls["notifications"], Reminder, Reminder.status == "sent")
    logged = rows(urls["notifications"], LoggedMessage)
    assert len(sent) == len(logged) == result.actions["reminders sent"] > CASES
    assert {r.provider for r in sent} == {"log"}
    assert {r.kind for r in sent} == {"evening_before", "window_opens", "nudge"}
    assert {r.language for r in sent} >= {"en", "ar"}


def test_each_missed_window_opened_a_follow_up(demo):
    _, urls = demo
    missed = {w.id for w in windows(urls) if w.status == "missed"}
    follow_ups = rows(urls["checkin"], FollowUp, FollowUp.kind == "missed_checkin")
    assert missed and missed <= {f.expected_checkin_id for f in follow_ups}


def test_the_chart_has_one_series_per_programme(demo):
    result, _ = demo
    svg = ET.parse(result.chart).getroot()
    assert svg.tag == f"{SVG}svg"
    series = svg.findall(f"{SVG}g[@class='series']")
    assert sorted(g.get("data-programme") for g in series) == sorted(result.weekly)
    assert len(series) == len(cast.PROGRAMMES)
    assert all(g.findall(f"{SVG}polyline") or g.findall(f"{SVG}circle") for g in series)
    assert all(len(rates) == WEEKS for rates in result.weekly.values())


async def test_waymark_run_serves_the_demos_databases(demo):
    result, urls = demo
    from checkin.app import create_app as checkin_app
    from registry.app import create_app as registry_app

    supervisor = auth("supervisor", sub="sam")
    async with LifespanManager(registry_app(registry_settings(urls["registry"]))) as manager, \
            client_for(manager.app, "registry") as registry:
        listed = await registry.get("/v1/cases", params={"limit": 100}, headers=supervisor)
    assert listed.status_code == 200
    assert {c["id"] for c in listed.json()["items"]} == {p.case_id for p in result.people}
    person = result.person
    settings = checkin_settings(urls["checkin"], WAYMARK_CHECKIN_JOBS_SECONDS=0,
                                WAYMARK_CHECKIN_FEED_POLL_SECONDS=0)
    async with LifespanManager(checkin_app(settings)) as manager, \
            client_for(manager.app, "checkin") as checkin:
        history = await checkin.get(f"/v1/cases/{person.case_id}/checkins",
                                    headers=auth("caseworker", sub=person.caseworker))
    assert history.status_code == 200
    outcomes = {e["outcome"] for e in history.json()["expected"]}
    assert outcomes & {"on_time", "late"}


def test_databases_holding_cases_are_refused_unless_replaced(demo, tmp_path, monkeypatch,
                                                             capsys):
    _, urls = demo
    for service, url in urls.items():
        monkeypatch.setenv(f"WAYMARK_{service.upper()}_DATABASE_URL", url)
    assert main(["demo", "--no-progress", "--out", str(tmp_path)]) == 2
    assert "--replace" in capsys.readouterr().err
    copies = {}
    for service, url in urls.items():
        copy = tmp_path / f"{service}.db"
        shutil.copy(url.split("///", 1)[1], copy)
        copies[service] = f"sqlite+aiosqlite:///{copy}"
    with pytest.raises(DemoError, match="already hold cases"):
        prepare_databases(copies, replace=False)
    prepare_databases(copies, replace=True)
    assert not any(holds_cases(s, url) for s, url in copies.items())


def test_the_clock_ends_where_it_was_asked_to(demo):
    result, _ = demo
    assert result.since == START.date()
    assert result.until == (START + timedelta(weeks=WEEKS, days=-1)).date()


def test_a_withheld_weekly_rate_is_charted_as_the_range_it_lies_in():
    row = {"programme": "p", "on_time": 41, "late": None, "missed": None, "excused": 0,
           "attendance_rate": None, "suppressed": False}
    low, high = rate_range(row, threshold=5)
    assert (low, high) == ((41 + 1) / (41 + 1 + 4), (41 + 4) / (41 + 4 + 1))
    assert rate_range({**row, "late": 6, "missed": 2, "attendance_rate": 0.96}, 5) == (
        0.96, 0.96)
    assert rate_range({"programme": "p", "suppressed": True}, 5) is None
    svg = ET.fromstring(svg_chart({"p": [(0.9, 0.9), (low, high), None, (0.8, 0.8)]},
                                  since=START.date()))
    (series,) = svg.findall(f"{SVG}g[@class='series']")
    assert len(series.findall(f"{SVG}polyline")) == 2  # the week with nothing is a gap
    dots = series.findall(f"{SVG}circle")
    assert [d.get("fill") for d in dots] == [None, "white", None]
    assert "withheld: 91% to 98%" in dots[1].findtext(f"{SVG}title")
