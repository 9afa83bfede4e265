"""``waymark demo``: synthetic cases and weeks of their reporting, played through the
services' own code paths under a simulated clock, into the databases ``waymark run``
serves.

How it plays (all in this process, no port opened):

- The three apps run their own lifespans on their databases (migrated first), with
  their schedulers off; each feed consumer follows the other apps through an
  in-process ASGI client, as the contract tests wire them. Tokens, the services' and
  the people's, are minted per request by ``shared.auth.issue_token`` inside the
  simulated clock (time-machine, which stops and moves ``datetime.now`` and
  ``time.time``; the event loop's monotonic clock runs on).
- Caseworkers open the cases through the registry's API and issue each person a PIN
  through checkin's. The clock then steps hour by hour (every reminder falls on an
  hour) and stops at each person's action in between. At each hour: the feeds are
  followed when anything changed, checkin's jobs plan ahead and decide the windows
  whose grace is over (missed: a follow-up opens), and notifications' dispatcher
  sends what is due with the ``log`` provider (nothing leaves the machine).
- People check in by signed SMS and keypad-call webhooks (``waymark.simulate.Phone``),
  some in person (``POST /v1/checkins``, an officer's token); most on time, some late
  within their grace period, a few not at all. One person texts STOP, a caseworker
  excuses one window the day before, and SMS goes down for part of one programme's
  window in the middle week: a supervisor declares the outage, and the windows whose
  texts were lost are excused instead of missed.
- What a person is due to attend is read from checkin's ``expected_checkins`` once a
  week (the person knows it from their reminders); nothing else reads or writes a
  service's tables.

PINs and numbers are kept in memory only; the one demo person's are printed at the
end, for ``waymark simulate``.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from shared.auth import issue_token
from shared.logging import JsonFormatter
from waymark import demo_people as cast
from waymark.demo_people import Person
from waymark.demo_setup import (
    SERVICES,
    DemoError,
    Progress,
    default_urls,
    fsync_less,
    prepare_databases,
)

HOUR = timedelta(hours=1)
TOKEN_TTL = timedelta(minutes=30)
EXCUSAL_REASON = "Hospital appointment; the letter was seen"
OUTAGE_REASON = "The SMS provider's inbound messages were delayed and lost"


@dataclass
class Options:
    cases: int = 200
    weeks: int = 8
    seed: int = 14
    # The simulated clock's first instant; by default ``weeks`` before now, so the
    # history ends today and ``waymark run`` carries on from it.
    start: datetime | None = None
    urls: dict[str, str] = field(default_factory=dict)
    out_dir: Path = Path("var/demo")
    replace: bool = False
    progress: bool = True


@dataclass
class Result:
    since: Any
    until: Any
    supervisor: list[dict[str, Any]]
    authority: list[dict[str, Any]]
    weekly: dict[str, list[tuple[float, float] | None]]
    chart: Path
    person: Person
    actions: dict[str, int]
    people: list[Person]


class Minted(httpx.Auth):
    """A fresh development token on every request, issued by the (simulated) clock."""

    def __init__(self, secret: str, sub: str, *roles: str) -> None:
        self.secret, self.sub, self.roles = secret, sub, list(roles)

    def auth_flow(self, request: httpx.Request):
        token = issue_token(secret=self.secret, sub=self.sub, roles=self.roles, ttl=TOKEN_TTL)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def run(options: Options) -> Result:
    """The whole demo: databases prepared, the weeks played, the chart written."""
    import time_machine

    if not 1 <= options.weeks <= 26:
        raise DemoError("--weeks must be from 1 to 26")
    urls = {s: options.urls.get(s) or default_urls()[s] for s in SERVICES}
    prepare_databases(urls, replace=options.replace)
    start = options.start or datetime.now(UTC) - timedelta(weeks=options.weeks)
    start = start.astimezone(UTC).replace(second=0, microsecond=0)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    try:  # uvloop, as uvicorn runs the services, where it is installed: a quarter faster
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner, time_machine.travel(start, tick=False) as clock:
        return runner.run(_Demo(options, urls, clock, start).play())


def _client(app: Any, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo",
                             auth=auth, timeout=60)


class _Demo:
    def __init__(self, options: Options, urls: dict[str, str], clock: Any,
                 start: datetime) -> None:
        self.options, self.urls, self.clock, self.start = options, urls, clock, start
        self.end = start + timedelta(weeks=options.weeks)
        self.rng = random.Random(options.seed)
        self.dirty = True
        self.actions: list[tuple[datetime, int, str, Callable[[], Awaitable[None]]]] = []
        self.counts: dict[str, int] = {}
        self.outage: tuple[str, datetime, datetime] | None = None
        self.by_case: dict[str, Person] = {}
        self._seq = 0

    # --- the world -------------------------------------------------------------------

    def _apps(self) -> dict[str, Any]:
        from checkin.app import create_app as checkin_app
        from checkin.config import CheckinSettings
        from notifications.app import create_app as notifications_app
        from notifications.config import NotificationsSettings
        from registry.app import create_app as registry_app
        from registry.config import RegistrySettings

        quiet = {"log_level": "ERROR"}  # the start-up warnings: this is development
        self.checkin_settings = CheckinSettings(
            WAYMARK_CHECKIN_DATABASE_URL=self.urls["checkin"], WAYMARK_CHECKIN_JOBS_SECONDS=0,
            WAYMARK_CHECKIN_FEED_POLL_SECONDS=0, **quiet)
        self.notifications_settings = NotificationsSettings(
            WAYMARK_NOTIFICATIONS_DATABASE_URL=self.urls["notifications"],
            WAYMARK_NOTIFICATIONS_FEED_POLL_SECONDS=0, WAYMARK_DISPATCH_SECONDS=0,
            WAYMARK_NOTIFY_PROVIDER="log", WAYMARK_NOTIFY_RATE=0, **quiet)
        registry_settings = RegistrySettings(
            WAYMARK_REGISTRY_DATABASE_URL=self.urls["registry"],
            WAYMARK_REGISTRY_JOBS_SECONDS=0, **quiet)
        if not registry_settings.accepts_development_tokens:
            raise DemoError("the demo needs development tokens (not WAYMARK_ENV=production)")
        self.secret = registry_settings.auth_secret
        return {"registry": registry_app(registry_settings),
                "checkin": checkin_app(self.checkin_settings),
                "notifications": notifications_app(self.notifications_settings)}

    def auth(self, role: str, sub: str) -> Minted:
        return Minted(self.secret, sub, role)

    async def play(self) -> Result:
        from waymark import demo_report

        apps = self._apps()
        async with AsyncExitStack() as stack:
            for app in apps.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
                await fsync_less(app.state.engine)
            stack.callback(self._log_to_file())
            self.registry, self.checkin = (
                [await stack.enter_async_context(_client(apps[s])) for s in SERVICES[:2]])
            self.checkin_app, self.notifications_app = apps["checkin"], apps["notifications"]
            self.feeds = []
            for consumer, source, sub in (
                    (apps["checkin"].state.registry_feed, "registry", "checkin"),
                    (apps["notifications"].state.registry_feed, "registry", "notifications"),
                    (apps["notifications"].state.checkin_feed, "checkin", "notifications"),
                    (apps["checkin"].state.notifications_feed, "notifications", "checkin")):
                consumer.client = await stack.enter_async_context(
                    _client(apps[source], self.auth("service", sub)))
                consumer.page_size = 1000
                self.feeds.append(consumer)
            await self._open_cases()
            await self._simulate()
            supervisor = self.auth("supervisor", cast.SUPERVISOR)
            # Whole days up to yesterday: today's windows may not have opened yet.
            since, until = self.start.date(), (self.end - timedelta(days=1)).date()
            result = Result(
                since=since, until=until,
                supervisor=(await demo_report.attendance_summary(
                    self.checkin, auth=supervisor, since=since, until=until,
                    group_by=("programme",)))["rows"],
                authority=(await demo_report.attendance_summary(
                    self.checkin, auth=self.auth("authority", cast.AUTHORITY), since=since,
                    until=until, group_by=("programme", "sex")))["rows"],
                weekly=await demo_report.weekly_attendance(
                    self.checkin, auth=supervisor, since=since, weeks=self.options.weeks),
                chart=self.options.out_dir / "attendance.svg",
                person=self.people[cast.DEMO_PERSON], actions=self.counts, people=self.people)
        result.chart.write_text(demo_report.svg_chart(result.weekly, since=since),
                                encoding="utf-8")
        return result

    def _log_to_file(self) -> Callable[[], None]:
        """The services' log (each reminder the ``log`` provider "sends", numbers
        masked) goes to ``demo.log`` beside the chart, not over the progress bar;
        returns what puts the log back as it was."""
        handler = logging.FileHandler(self.options.out_dir / "demo.log", encoding="utf-8")
        handler.setFormatter(JsonFormatter("demo"))
        root = logging.getLogger()
        before = root.handlers[:], root.level
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)

        def restore() -> None:
            root.handlers[:], level = before
            root.setLevel(level)
            handler.close()

        return restore

    async def sync(self) -> None:
        """Follow every feed until none has anything new (registry first)."""
        while sum([await feed.poll_once() for feed in self.feeds]):
            pass
        for feed in self.feeds:
            if feed.stall is not None:
                raise DemoError(f"the {feed.feed} feed stalled: {feed.stall.reason}")

    async def tick(self) -> None:
        """The services' background work at this instant, in the order they run it:
        the feeds followed, the windows whose grace is over decided (checkin's job),
        the reminders due sent (notifications' dispatcher, ``log`` provider)."""
        from checkin import jobs
        from notifications.app import dispatcher

        if self.dirty:
            await self.sync()
        if await jobs.decide_missed(self.checkin_app.state.sessionmaker):
            await self.sync()  # outcomes cancel reminders before the dispatcher runs
        stats = await dispatcher(self.notifications_app).drain()
        self.dirty = bool(stats.claimed or stats.cancelled)
        self.counts["reminders sent"] = self.counts.get("reminders sent", 0) + stats.sent

    async def plan_ahead(self) -> None:
        """Checkin's horizon job, once a simulated week: the scheduler runs it every
        minute, but with a horizon of weeks a weekly run plans exactly the same
        windows, long before their first reminder (and each run re-plans every case,
        the demo's dearest step)."""
        from checkin import jobs

        horizon = timedelta(days=self.checkin_settings.schedule_horizon_days)
        if await jobs.extend_horizons(self.checkin_app.state.sessionmaker, horizon=horizon):
            await self.sync()

    # --- the cases -------------------------------------------------------------------

    async def _open_cases(self) -> None:
        today = self.start.date()
        self.people = cast.people(self.rng, count=self.options.cases,
                                  starts_on=today + timedelta(days=1), today=today)
        bar = Progress("opening cases  ", len(self.people), enabled=self.options.progress)
        for done, person in enumerate(self.people, 1):
            response = await self.registry.post(
                "/v1/cases", json=person.body, auth=self.auth("caseworker", person.caseworker))
            _expect(response, 201, "opening a case")
            case = response.json()
            person.case_id, person.reference = case["id"], case["reference"]
            person.keypad_reference = case["keypad_reference"]
            self.by_case[person.case_id] = person
            bar.update(done, f"{done}/{len(self.people)}")
        bar.close()
        await self.sync()
        for person in self.people:
            response = await self.checkin.post(
                f"/v1/cases/{person.case_id}/pin",
                auth=self.auth("caseworker", person.caseworker))
            _expect(response, 201, "issuing a PIN")
            person.pin = response.json()["pin"]
        self.dirty = True

    # --- the timeline ----------------------------------------------------------------

    def at(self, when: datetime, kind: str, action: Callable[[], Awaitable[None]]) -> None:
        self._seq += 1  # ties keep the order they were planned in
        heapq.heappush(self.actions, (when, self._seq, kind, action))

    async def _simulate(self) -> None:
        """Move the clock from one thing to do to the next: a week to plan, a person's
        action, or a tick (``_next_tick``). Actions only mark the feeds as dirty; the
        next tick follows them before its jobs and its dispatcher run."""
        now, week = self.start, 0
        next_tick = await self._next_tick(now)
        bar = Progress(f"playing {self.options.weeks} weeks",
                       int((self.end - self.start) / HOUR), enabled=self.options.progress)
        try:
            while True:
                week_at = (self.start + timedelta(weeks=week)
                           if week < self.options.weeks else None)
                action_at = self.actions[0][0] if self.actions else None
                at = min(t for t in (week_at, action_at, next_tick) if t is not None)
                if at > self.end:
                    break
                now = max(at, now)
                self.clock.move_to(now)
                if at == week_at:
                    await self.plan_ahead()
                    await self._load_week(week)
                    week += 1
                elif at == action_at:
                    _, _, kind, action = heapq.heappop(self.actions)
                    await action()
                    self.counts[kind] = self.counts.get(kind, 0) + 1
                    self.dirty = True
                else:
                    await self.tick()
                    next_tick = await self._next_tick(now)
                bar.update(int((now - self.start) / HOUR),
                           f"{now:%a %d %b %H:%M} UTC (simulated)")
            self.clock.move_to(self.end)
            await self.tick()
            await self.sync()
        finally:
            bar.close()

    async def _next_tick(self, after: datetime) -> datetime:
        """When the services' background work next has something to do: the next
        reminder due or the next grace period to end, as the scheduler's ticks would
        find it (the horizon job runs weekly, ``plan_ahead``). Stopping only there,
        rather than every minute or hour, is what keeps eight weeks under two minutes."""
        from checkin.models import ExpectedCheckin
        from notifications.models import Reminder

        async with self.notifications_app.state.sessionmaker() as session:
            due = await session.scalar(sa.select(sa.func.min(Reminder.next_attempt_at)).where(
                Reminder.status == "planned", Reminder.next_attempt_at > after))
        async with self.checkin_app.state.sessionmaker() as session:
            grace = await session.scalar(
                sa.select(sa.func.min(ExpectedCheckin.grace_ends_at)).where(
                    ExpectedCheckin.status == "pending", ExpectedCheckin.grace_ends_at >= after))
        candidates = [self.end + timedelta(minutes=1)]
        if due is not None:
            candidates.append(due)
        if grace is not None:  # settled once it is over: strictly after
            candidates.append(grace + timedelta(minutes=1))
        return min(candidates)

    async def _load_week(self, week: int) -> None:
        """Decide what each person does about each window opening this week."""
        from checkin.models import ExpectedCheckin

        begins = self.start + timedelta(weeks=week)
        async with self.checkin_app.state.sessionmaker() as session:
            rows = (await session.execute(
                sa.select(ExpectedCheckin).where(
                    ExpectedCheckin.opens_at >= begins,
                    ExpectedCheckin.opens_at < begins + timedelta(weeks=1),
                    ExpectedCheckin.status == "pending"))).scalars().all()
        rows = sorted(rows, key=lambda r: (r.opens_at, self.by_case[str(r.case_id)].index))
        if week == self.options.weeks // 2:
            self._plan_outage(rows)
        for row in rows:
            person = self.by_case[str(row.case_id)]
            self._plan_window(person, row, person.windows_seen)
            person.windows_seen += 1

    def _plan_outage(self, rows: list[Any]) -> None:
        """SMS lost for the first five hours of the second programme's window."""
        programme = cast.PROGRAMMES[1 % len(cast.PROGRAMMES)][0]
        window = next((r for r in rows if self.by_case[str(r.case_id)].programme == programme),
                      None)
        if window is None:
            return
        starts, ends = window.opens_at, min(window.opens_at + 5 * HOUR, window.closes_at)
        self.outage = (programme, starts, ends)

        async def declare() -> None:
            response = await self.checkin.post(
                "/v1/outages", auth=self.auth("supervisor", cast.SUPERVISOR),
                json={"channel": "sms", "starts_at": starts.isoformat(),
                      "ends_at": ends.isoformat(), "reason": OUTAGE_REASON})
            _expect(response, 201, "declaring the outage")

        self.at(ends + timedelta(minutes=30), "outage declared", declare)

    def _plan_window(self, person: Person, window: Any, k: int) -> None:
        rng = self.rng
        opens, closes, grace_ends = window.opens_at, window.closes_at, window.grace_ends_at
        if person.index == cast.EXCUSED and k == 1:
            when = max(opens - timedelta(hours=20), datetime.now(UTC) + timedelta(minutes=1))
            self.at(when, "excused by a caseworker", lambda: self._excuse(person, window.id))
            return
        if person.index == cast.STOPS and k == 0:
            self.at(closes + HOUR, "STOP texted", lambda: self._stop(person))
        draw = rng.random()
        forced = {cast.MISSES: "miss", cast.LATE: "late", cast.IN_PERSON: "in person"}
        choice = (forced[person.index] if k == 0 and person.index in forced
                  else "miss" if draw < 0.05 else "late" if draw < 0.15
                  else "in person" if draw < 0.22 else "on time")
        if choice == "miss":
            return
        if choice == "late":
            when = closes + (grace_ends - closes) * rng.uniform(0.05, 0.7)
        else:
            when = opens + (closes - opens) * rng.uniform(0.02, 0.85)
        sms = "sms" in person.channels and ("voice" not in person.channels
                                            or rng.random() < 0.7)
        outage = self.outage
        if outage and choice == "on time" and sms and person.programme == outage[0] \
                and outage[1] <= opens < outage[2]:
            # Most text early: this morning, their texts are lost (and excused later).
            when = outage[1] + (outage[2] - outage[1]) * rng.uniform(0.05, 0.9)
        when = when.replace(second=0, microsecond=0)
        if choice == "in person":
            self.at(when, "checked in in person", lambda: self._in_person(person))
        elif sms and outage and outage[1] <= when < outage[2] and person.programme == outage[0]:
            self.at(when, "texts lost in the outage", _nothing)
        elif sms:
            body = f"CHECKIN {person.pin}" if rng.random() < 0.7 else person.pin
            self.at(when, f"checked in by SMS ({choice})", lambda: self._text(person, body))
        else:
            self.at(when, f"checked in by keypad call ({choice})", lambda: self._call(person))

    # --- what people do ----------------------------------------------------------------

    def _phone(self, person: Person) -> Any:
        from waymark.simulate import Phone

        settings = self.checkin_settings
        return Phone(number=person.number, client=self.checkin, public_url=settings.base_url,
                     account_sid=settings.twilio_account_sid,
                     auth_token=settings.twilio_auth_token, say=_silent)

    async def _text(self, person: Person, body: str) -> None:
        await self._phone(person).sms(body)

    async def _stop(self, person: Person) -> None:
        person.extra["stopped_at"] = datetime.now(UTC)
        await self._phone(person).sms("STOP")

    async def _call(self, person: Person) -> None:
        await self._phone(person).call([person.pin])

    async def _in_person(self, person: Person) -> None:
        response = await self.checkin.post(
            "/v1/checkins", auth=self.auth("officer", cast.OFFICER),
            json={"case_id": person.case_id, "reporting_centre": "Croydon",
                  "identity_confirmed_by": "document"})
        _expect(response, 201, "an in-person check-in")

    async def _excuse(self, person: Person, expected_id: Any) -> None:
        response = await self.checkin.post(
            f"/v1/expected-checkins/{expected_id}/excusal",
            auth=self.auth("caseworker", person.caseworker), json={"reason": EXCUSAL_REASON})
        _expect(response, 200, "excusing a window")


async def _nothing() -> None:
    return None


def _silent(_: str) -> None:
    return None


def _expect(response: httpx.Response, status: int, doing: str) -> None:
    if response.status_code != status:
        raise DemoError(f"{doing} answered {response.status_code}: {response.text[:300]}")
