"""Benchmark: plan and send a daily cohort of reminders on PostgreSQL, through the real
dispatcher (``waymark dispatch --until-idle`` processes) and the real twilio client, to
the Twilio-compatible server of the tests (``tests/support/twilio_server.py``).

    .venv/bin/python bench/reminders.py [--count 100000] [--dispatchers 2]
                                        [--paced-count 3000] [--rate 100]

1. Seeds ``--count`` people, each with one expected check-in whose window opens a few
   seconds from now, and plans their "window open" reminders with
   ``notifications.planner.plan_reminders`` in chunks of ``--plan-chunk`` case ids,
   streamed from the database by keyset pagination (never the whole cohort at once).
2. When they are due, runs ``--dispatchers`` dispatcher processes with no rate limit:
   reminders per second as the provider saw them (first to last message created) and
   over the processes' whole run (start to exit, start-up included), each dispatcher's
   peak resident memory (``wait4`` rusage), duplicates at the provider (same number and
   text twice) and in the database (every reminder sent once, with its own provider id).
3. Seeds ``--paced-count`` more due reminders (numbers of their own) and sends them with
   a limit of ``--rate`` per second: the achieved rate and the most in any one second.

Goals (issue): >= 1,700 reminders per second handed to the provider on this 2-core
machine, < 300 MiB resident per dispatcher, 0 duplicates, and paced sending within 1 %
of the configured rate without ever exceeding it. The script always exits 0: it is a
report. The CPU line says where the machine's two cores went during the send.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import time as dtime
from datetime import timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "services")]

from cpu import CpuSampler, machine_busy_over  # noqa: E402  (bench/, this folder)
from notifications.config import NotificationsSettings, ReminderPolicy  # noqa: E402
from notifications.enums import Channel  # noqa: E402
from notifications.models import Contact  # noqa: E402
from notifications.planner import plan_reminders  # noqa: E402
from notifications.providers import Outgoing, TwilioProvider  # noqa: E402
from report import Figure, emit  # noqa: E402

from shared.config import DEV_PHONE_HASH_KEY, DEV_PHONE_KEY  # noqa: E402
from shared.crypto import PhoneVault  # noqa: E402
from shared.db import make_engine, make_sessionmaker, utcnow  # noqa: E402
from shared.migrations import upgrade  # noqa: E402
from tests.support import cohort  # noqa: E402
from tests.support.twilio_server import TwilioServer  # noqa: E402

ADMIN_URL = os.environ.get("WAYMARK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DATABASE = "waymark_bench_reminders"
VAULT = PhoneVault(keys=DEV_PHONE_KEY, hash_key=DEV_PHONE_HASH_KEY)
CHECKIN_NUMBER = "+447700900000"
# Only the "window open" reminder, at any hour: the cohort's window opens now, whatever
# the time of day the benchmark runs (the default policy would move it out of the
# night, and add an evening-before and a nudge that are not due today).
POLICY = ReminderPolicy(evening_before=None, window_opens=True,
                        nudge_hours_before_grace_end=None,
                        quiet_start=dtime(0), quiet_end=dtime(0))
MIB = 1024 * 1024


# --- the database --------------------------------------------------------------------


def fresh_database(admin_url: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return admin_url.rsplit("/", 1)[0] + f"/{DATABASE}"


def drop_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def analyze(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


# --- planning --------------------------------------------------------------------------


async def plan_cohort(url: str, *, chunk: int, now) -> int:
    """Plan every contact's reminders, ``chunk`` case ids per transaction, the ids read
    by keyset pagination. ``now`` is the planning pass's moment, as a scheduler's pass
    has one; returns how many reminders were added."""
    engine = make_engine(url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    added, last = 0, None
    try:
        while True:
            async with sessionmaker() as session:
                page = sa.select(Contact.case_id).order_by(Contact.case_id).limit(chunk)
                if last is not None:
                    page = page.where(Contact.case_id > last)
                case_ids = list((await session.execute(page)).scalars())
            if not case_ids:
                return added
            last = case_ids[-1]
            async with sessionmaker() as session, session.begin():
                added += await plan_reminders(session, case_ids=case_ids,
                                              policy_for=lambda _programme: POLICY,
                                              checkin_number=CHECKIN_NUMBER, now=now)
    finally:
        await engine.dispose()


# --- the dispatchers -----------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen
    stdout: object
    stderr: object
    returncode: int | None = None
    max_rss: int = 0  # bytes
    cpu: float = 0.0  # seconds, user + system
    stats: dict = field(default_factory=dict)
    error: str = ""


def dispatcher_env(url: str, server: TwilioServer, *, rate: float, batch: int | None,
                   concurrency: int | None) -> dict[str, str]:
    env = {**os.environ, "WAYMARK_ENV": "test", "WAYMARK_NOTIFICATIONS_DATABASE_URL": url,
           "WAYMARK_NOTIFY_PROVIDER": "twilio", "TWILIO_API_BASE": server.url,
           "TWILIO_ACCOUNT_SID": server.account_sid, "TWILIO_AUTH_TOKEN": server.auth_token,
           "WAYMARK_NOTIFY_RATE": f"{rate:g}"}
    if batch:
        env["WAYMARK_DISPATCH_BATCH"] = str(batch)
    if concurrency:
        env["WAYMARK_DISPATCH_CONCURRENCY"] = str(concurrency)
    return env


def run_dispatchers(count: int, env: dict[str, str], *, timeout: float) -> tuple[list[Worker], float]:
    """``count`` ``waymark dispatch --until-idle`` processes started together; returns
    them once all have exited (reaped with ``wait4`` for their rusage) and the wall
    time from the first start to the last exit."""
    workers = []
    started = time.perf_counter()
    for _ in range(count):
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        process = subprocess.Popen(
            [sys.executable, "-m", "waymark.cli", "dispatch", "--until-idle"],
            env=env, cwd=ROOT, stdout=out, stderr=err)
        workers.append(Worker(process, out, err))
    deadline = time.monotonic() + timeout
    running = list(workers)
    while running:
        for worker in list(running):
            pid, status, usage = os.wait4(worker.process.pid, os.WNOHANG)
            if pid == 0:
                continue
            worker.returncode = worker.process.returncode = os.waitstatus_to_exitcode(status)
            worker.max_rss = usage.ru_maxrss * 1024  # KiB on Linux
            worker.cpu = usage.ru_utime + usage.ru_stime
            running.remove(worker)
        if running and time.monotonic() > deadline:
            for worker in running:
                worker.process.kill()
            timeout = float("inf")  # reap them on the next turns
        time.sleep(0.02)
    wall = time.perf_counter() - started
    for worker in workers:
        worker.stdout.seek(0)
        worker.stderr.seek(0)
        lines = worker.stdout.read().decode().strip().splitlines()
        err = worker.stderr.read().decode()
        try:
            worker.stats = json.loads(lines[-1])
        except (IndexError, ValueError):
            worker.error = err[-2000:] or "no stats printed"
        if worker.returncode != 0:
            worker.error = err[-2000:] or f"exit {worker.returncode}"
        worker.stdout.close()
        worker.stderr.close()
    return workers, wall


def statuses(url: str) -> tuple[dict[str, int], int]:
    with psycopg.connect(url) as conn:
        by_status = dict(conn.execute(
            "SELECT status, count(*) FROM reminders GROUP BY status").fetchall())
        distinct = conn.execute(
            "SELECT count(DISTINCT provider_id) FROM reminders WHERE status = 'sent'").fetchone()[0]
    return by_status, distinct


# --- the baseline --------------------------------------------------------------------


def sent_messages(url: str, limit: int) -> list[Outgoing]:
    """The messages the dispatchers sent, as they sent them, read into memory."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT r.id, c.phone_encrypted, r.body FROM reminders r "
            "JOIN contacts c ON c.case_id = r.case_id WHERE r.status = 'sent' "
            "ORDER BY r.id LIMIT %s", (limit,)).fetchall()
    return [Outgoing(reminder_id=reminder_id, channel=Channel.sms, to=VAULT.decrypt(number),
                     body=body) for reminder_id, number, body in rows]


async def baseline_send(server: TwilioServer, messages: list[Outgoing], *,
                        concurrency: int) -> None:
    """The same twilio client the dispatchers use (``TwilioProvider``), sending the same
    messages from memory, no database, ``concurrency`` at a time: what the provider's
    side of the machine allows, the ceiling the dispatchers are measured against."""
    provider = TwilioProvider(account_sid=server.account_sid, auth_token=server.auth_token,
                              from_number=CHECKIN_NUMBER, api_base=server.url, timeout=30,
                              checkin_voice_url=None)
    queue = iter(messages)

    async def sender() -> None:
        for message in queue:
            await provider.send(message, status_callback="http://127.0.0.1:9/v1/twilio/status")

    try:
        await asyncio.gather(*(sender() for _ in range(concurrency)))
    finally:
        await provider.aclose()


def rate_at_provider(stats: dict) -> tuple[int, float]:
    """Messages created at the provider, and per second from the first to the last."""
    created = stats["created"]
    span = (stats["last"] - stats["first"]) if created > 1 else 0.0
    return created, (created / span if span else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=ADMIN_URL,
                        help=f"admin URL; the benchmark creates and drops {DATABASE}")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--dispatchers", type=int, default=2,
                        help="processes for the unlimited send (2: one alone is held back "
                             "by its serial claim and record round trips, ~1,600/s here)")
    parser.add_argument("--alone-count", type=int, default=30_000,
                        help="reminders sent by one dispatcher alone (its own goal)")
    parser.add_argument("--paced-count", type=int, default=3000)
    parser.add_argument("--paced-dispatchers", type=int, default=1)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--plan-chunk", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=None,
                        help="WAYMARK_DISPATCH_BATCH for the dispatchers (default: settings)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="WAYMARK_DISPATCH_CONCURRENCY for the dispatchers (default: settings)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds before a dispatcher still running is killed")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()

    url = fresh_database(args.postgres)
    try:
        upgrade("notifications", url)

        # 1. The cohort, and its plan.
        t0 = time.perf_counter()
        lead = timedelta(seconds=5)
        plan_now = utcnow()
        cohort.seed(url, count=args.count, due_at=plan_now + lead, vault=VAULT, reminders=False)
        seeded = time.perf_counter() - t0
        plan_now = utcnow()
        due_at = plan_now + lead  # seeding took a while: the windows open a little from now
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE expected_checkins SET opens_at = %s", (due_at,))
        analyze(url)
        t0 = time.perf_counter()
        planned = asyncio.run(plan_cohort(url, chunk=args.plan_chunk, now=plan_now))
        planning = time.perf_counter() - t0
        planner_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        analyze(url)  # as autovacuum would, after a day's cohort lands
        wait = (due_at - utcnow()).total_seconds() + 0.5
        if wait > 0:
            time.sleep(wait)
        background = machine_busy_over(1.0)  # other work on the machine skews the figures

        # 2. The send, with no rate limit.
        with TwilioServer() as server:
            env = dispatcher_env(url, server, rate=0, batch=args.batch,
                                 concurrency=args.concurrency)
            with CpuSampler(server._process.pid) as cpu:
                workers, wall = run_dispatchers(args.dispatchers, env, timeout=args.timeout)
            received = server.stats()
            by_status, distinct = statuses(url)

            # 3. The baseline: the same messages, from memory, by the same client.
            server.reset()
            concurrency = (args.concurrency or NotificationsSettings.model_fields[
                "dispatch_concurrency"].default) * args.dispatchers
            asyncio.run(baseline_send(server, sent_messages(url, args.count),
                                      concurrency=concurrency))
            baseline = server.stats()

            # 4. One dispatcher alone, on a cohort of its own.
            server.reset()
            cohort.seed(url, count=args.alone_count, due_at=utcnow() - timedelta(seconds=1),
                        vault=VAULT, start=args.count)
            analyze(url)
            alone_workers, _ = run_dispatchers(1, env, timeout=args.timeout)
            alone = server.stats()

            # 5. Paced: new people, new numbers, the same outbox.
            server.reset()
            cohort.seed(url, count=args.paced_count, due_at=utcnow() - timedelta(seconds=1),
                        vault=VAULT, start=args.count + args.alone_count)
            analyze(url)
            env = dispatcher_env(url, server, rate=args.rate, batch=args.batch,
                                 concurrency=args.concurrency)
            paced_workers, paced_wall = run_dispatchers(args.paced_dispatchers, env,
                                                        timeout=args.timeout)
            paced = server.stats()
            paced_status, paced_distinct = statuses(url)
    finally:
        if args.keep_database:
            print(f"database kept: {url}")
        else:
            drop_database(args.postgres)

    # --- the figures ---------------------------------------------------------------------
    created = received["created"]
    span = (received["last"] - received["first"]) if created > 1 else 0.0
    provider_rate = created / span if span else 0.0
    wall_rate = created / wall if wall else 0.0
    rss = [w.max_rss for w in workers]
    sent_by = [w.stats.get("sent", 0) for w in workers]
    db_ok = (by_status == {"sent": args.count} and distinct == args.count)
    pg_cpu, server_cpu = cpu.seconds()
    dispatcher_cpu = sum(w.cpu for w in workers)

    p_created = paced["created"]
    p_span = (paced["last"] - paced["first"]) if p_created > 1 else 0.0
    p_rate = (p_created - 1) / p_span if p_span else 0.0
    p_off = abs(p_rate - args.rate) / args.rate
    p_max = paced["max_per_second"]
    total = args.count + args.alone_count + args.paced_count
    p_db_ok = (paced_status == {"sent": total} and paced_distinct == total
               and p_created == args.paced_count)

    print(f"machine: {os.cpu_count()} cores; PostgreSQL database {DATABASE}; "
          f"dispatchers: {args.dispatchers} (batch {args.batch or 'default'}, "
          f"concurrency {args.concurrency or 'default'})")
    print(f"seeded {args.count} people in {seeded:.1f} s; planned {planned} reminders in "
          f"{planning:.1f} s = {planned / planning:.0f}/s "
          f"({args.plan_chunk} case ids per transaction; planner peak RSS "
          f"{planner_rss / MIB:.0f} MiB)")
    print(f"send: {created} created at the provider in {span:.1f} s (first to last) = "
          f"{provider_rate:.0f}/s; processes start to exit {wall:.1f} s = {wall_rate:.0f}/s")
    print(f"machine busy just before the send, with nothing of the benchmark running: "
          f"{background:.0%} (other work skews every figure)")
    print(f"per dispatcher: sent {sent_by}, peak RSS "
          f"{[f'{r / MIB:.0f} MiB' for r in rss]}, CPU "
          f"{[f'{w.cpu:.1f} s' for w in workers]}")
    print(f"CPU during the send ({wall:.1f} s wall, {os.cpu_count()} cores = "
          f"{wall * (os.cpu_count() or 1):.0f} core-s): dispatchers {dispatcher_cpu:.1f} s, "
          f"Twilio-compatible server {server_cpu:.1f} s, PostgreSQL {pg_cpu:.1f} s; "
          f"machine busy {cpu.machine_busy():.0%}")
    print(f"database after the send: {by_status}, distinct provider ids {distinct}")
    print(f"paced at {args.rate:g}/s: {p_created} created in {p_span:.2f} s (first to last) = "
          f"{p_rate:.2f}/s; most in any one second {p_max}; processes start to exit "
          f"{paced_wall:.1f} s; database {paced_status}")
    base_created, base_rate = rate_at_provider(baseline)
    alone_created, alone_rate = rate_at_provider(alone)
    print(f"baseline: the same client from memory, {concurrency} at a time: {base_created} "
          f"created in {base_created / base_rate if base_rate else 0:.1f} s = "
          f"{base_rate:.0f}/s; one dispatcher alone: {alone_created} at {alone_rate:.0f}/s, "
          f"peak RSS {alone_workers[0].max_rss / MIB:.0f} MiB")
    for worker in [*workers, *alone_workers, *paced_workers]:
        if worker.error:
            print(f"dispatcher {worker.process.pid} failed: {worker.error}")
    largest = max([*rss, alone_workers[0].max_rss])
    emit("reminders", [
        Figure("reminders planned per second", "-", f"{planned / planning:,.0f}/s"),
        Figure(f"reminders/s, {args.dispatchers} dispatchers", ">= 0.5x baseline",
               f"{provider_rate:,.0f}/s", base_rate > 0 and provider_rate >= 0.5 * base_rate,
               baseline=f"{base_rate:,.0f}/s (client from memory)",
               ratio=f"{provider_rate / base_rate:.2f}x" if base_rate else "-"),
        Figure("reminders/s, one dispatcher alone", ">= 1,700/s", f"{alone_rate:,.0f}/s",
               alone_rate >= 1700, baseline=f"{base_rate:,.0f}/s",
               ratio=f"{alone_rate / base_rate:.2f}x" if base_rate else "-"),
        Figure("peak RSS, largest dispatcher", "< 150 MiB", f"{largest / MIB:,.0f} MiB",
               largest < 150 * MIB),
        Figure("duplicates at the provider", "0", str(received["duplicates"]),
               received["duplicates"] == 0),
        Figure("sent once each, own provider id", f"{args.count:,}",
               f"{by_status.get('sent', 0):,}", db_ok and created == args.count),
        Figure(f"paced rate at {args.rate:g}/s", "within 1 %, never above",
               f"{p_rate:.2f}/s, max {p_max} in a second",
               p_off <= 0.01 and p_max <= args.rate),
        Figure("paced: sent once each", f"{args.paced_count:,}",
               f"{p_created:,}, duplicates {paced['duplicates']}",
               p_db_ok and paced["duplicates"] == 0),
    ])


if __name__ == "__main__":
    main()
