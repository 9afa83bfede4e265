"""Benchmark: attendance summaries from the rollups at national scale on PostgreSQL,
beside the same answers by a plain ``GROUP BY`` over the expected check-ins.

    .venv/bin/python bench/summaries.py [--cases 1000000] [--queries 20]

1. Loads ``--cases`` cases with a year of weekly expected check-ins (52 a case, all of
   2026), stamped as the service stamps them, with ``INSERT … SELECT`` over
   ``generate_series`` (never a row at a time); outcomes at random (70 % on time, 12 %
   late, 10 % missed, 6 % excused, the last week pending), channels and reporting
   centres for check-ins, 4 programmes, 3 sexes, 15 nationalities (skewed), 4
   vulnerability sets. Then builds the rollups in bulk (``bulk_rollups``: a ``GROUP BY``
   per cube by day, weeks and months summed from the days), as a one-off load would.
2. Runs ``--queries`` summaries with different ranges and groupings (up to programme ×
   sex × age group × nationality × month) through the real endpoint in process
   (ASGITransport, a supervisor's token), each first with the bitmap cache empty and
   then asked again: p50 and p95 of both; then each one's plain
   ``GROUP BY`` (with ``COUNT(DISTINCT case_id)`` for people), its time, and whether
   the supervisor's answer equals it exactly. One authority query too.
3. Folds a day's outcomes: every window of one day goes from pending to an outcome
   through the ORM in one transaction (which logs the moves), then the rollups' job
   folds them in; both times.
4. Prints load time, rollup size and database size.

Goals (issue 12): p95 < 200 ms for every grouping, >= 50x faster than the plain query,
a day's outcomes folded in < 10 s. Always exits 0: it is a report.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "services"), str(ROOT / "bench")]

from asgi_lifespan import LifespanManager  # noqa: E402
from checkin import folding, rollups  # noqa: E402
from checkin.app import create_app  # noqa: E402
from checkin.bitmap_cache import BitmapCache  # noqa: E402
from checkin.models import ExpectedCheckin  # noqa: E402
from pyroaring import BitMap  # noqa: E402
from report import Figure, emit  # noqa: E402  (bench/, the script's own folder)

from shared.migrations import upgrade  # noqa: E402
from tests.conftest import auth, checkin_settings  # noqa: E402

ADMIN_URL = os.environ.get("WAYMARK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DATABASE = "waymark_bench_summaries"
NATIONALITIES = ["SD", "ER", "AF", "SY", "IR", "IQ", "AL", "VN", "PK", "NG", "ET", "SO",
                 "IN", "BD", "IS"]
CENTRES = ["Croydon", "Glasgow", "Manchester", "Birmingham", "Leeds", "Cardiff", "Belfast",
           "Hounslow"]
AGE_SQL = """CASE WHEN a >= 65 THEN '65+' WHEN a >= 50 THEN '50-64' WHEN a >= 35 THEN '35-49'
  WHEN a >= 25 THEN '25-34' WHEN a >= 18 THEN '18-24' ELSE '0-17' END"""


def fresh_database(name: str) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _array(values: list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"


def load(url: str, cases: int) -> dict[str, float]:
    """The cases and their windows, then the rollups; the time of each step."""
    times = {}
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(f"""
            INSERT INTO case_copies (case_id, version, reference, keypad_reference, status,
              language, caseworker, delegations, programme, sex, nationality, date_of_birth,
              vulnerabilities, channels, rrule, window_opens, window_hours, grace_hours,
              timezone, starts_on, updated_at, record_key, serial)
            SELECT gen_random_uuid(), 1, 'B' || lpad(to_hex(g), 7, '0'), lpad(g::text, 10, '0'),
              'active', 'en', 'cw' || (g % 500), '[]',
              (ARRAY['community','family','reporting','case_management'])[1 + g % 4],
              (ARRAY['female','male','male','other'])[1 + floor(random() * 4)::int],
              ({_array(NATIONALITIES)})[1 + floor(15 * power(random(), 2.5))::int],
              date '1950-01-01' + floor(random() * 25000)::int,
              (ARRAY['[]','[]','[]','[]','[]','["disability"]','["survivor_of_trafficking"]',
                     '["disability","pregnant"]'])[1 + floor(random() * 8)::int]::json,
              '["sms"]', 'FREQ=WEEKLY', '09:00', 10, 24, 'Europe/London', date '2026-01-05',
              now(), floor(random() * 256)::smallint, g
            FROM generate_series(1, {cases}) g""")
        times["cases"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute(f"""
            INSERT INTO expected_checkins (id, case_id, opens_at, closes_at, grace_ends_at,
              status, decided_at, record_key, local_date, programme, sex, age_group,
              nationality, vulnerabilities, channel, reporting_centre)
            SELECT gen_random_uuid(), case_id, opens_at, opens_at + interval '10 hours',
              opens_at + interval '34 hours', status,
              CASE WHEN status <> 'pending' THEN opens_at + interval '1 day' END,
              floor(random() * 256)::smallint, local_date, programme, sex, {AGE_SQL},
              nationality, vulnerabilities,
              CASE WHEN status IN ('on_time', 'late') THEN channel ELSE 'none' END,
              CASE WHEN status IN ('on_time', 'late') AND channel = 'in_person'
                   THEN centre ELSE 'none' END
            FROM (
              SELECT c.case_id, c.programme, c.sex, c.nationality, w.opens_at,
                (w.opens_at AT TIME ZONE 'Europe/London')::date AS local_date,
                date_part('year', age((w.opens_at AT TIME ZONE 'Europe/London')::date,
                                      c.date_of_birth)) AS a,
                (SELECT coalesce(string_agg(v, '|' ORDER BY v), '')
                   FROM json_array_elements_text(c.vulnerabilities) v) AS vulnerabilities,
                CASE WHEN w.week = 51 THEN 'pending'
                     WHEN w.r < 0.70 THEN 'on_time' WHEN w.r < 0.82 THEN 'late'
                     WHEN w.r < 0.92 THEN 'missed' WHEN w.r < 0.98 THEN 'excused'
                     ELSE 'pending' END AS status,
                CASE WHEN w.r2 < 0.6 THEN 'sms' WHEN w.r2 < 0.8 THEN 'voice'
                     ELSE 'in_person' END AS channel,
                ({_array(CENTRES)})[1 + floor(w.r2 * 1000)::int % 8] AS centre
              FROM case_copies c CROSS JOIN LATERAL (
                SELECT week, random() + 0 * c.serial AS r, random() + 0 * c.serial AS r2,
                       timestamptz '2026-01-05 09:00+00'
                         + ((week * 7 + c.serial % 7) * interval '1 day') AS opens_at
                FROM generate_series(0, 51) week) w
            ) x""")
        times["windows"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE expected_checkins")
        conn.execute("VACUUM ANALYZE case_copies")
        times["analyze"] = time.perf_counter() - started
        started = time.perf_counter()
        with psycopg.connect(url) as writer:
            times["rollup_rows"] = bulk_rollups(conn, writer)
        conn.execute("VACUUM ANALYZE attendance_rollups")
        times["rollups"] = time.perf_counter() - started
    return times


def bulk_rollups(conn: psycopg.Connection, writer: psycopg.Connection) -> int:
    """The rollups in bulk (the same sums ``rollups`` keeps): one ``GROUP BY`` per cube
    by day, in order of the cube's values then the day, so each week's and month's rows
    are summed and unioned from the days as they stream past. The cases come as their
    serials' bytes (``string_agg``): no array to format or parse, and the bitmap drops
    the repeats."""
    outcomes = rollups.OUTCOMES
    n = len(outcomes)
    count_cols = ", ".join(f"count(*) FILTER (WHERE e.status = '{o}')" for o in outcomes)
    key_cols = ", ".join(
        f"coalesce(sum(e.record_key) FILTER (WHERE e.status = '{o}'), 0)" for o in outcomes)
    columns = ["key", "cube", "grain", "period", *rollups.STAMPS, *outcomes,
               *(f"{o}_keys" for o in outcomes), "cases", "people", "people_keys"]
    top = conn.execute("SELECT max(serial) FROM case_copies").fetchone()[0] or 0
    keys = np.zeros(top + 1, dtype=np.int64)
    for serial, key in conn.execute("SELECT serial, record_key FROM case_copies"):
        keys[serial] = key
    rows = 0

    def write(copy, cube: int, grain: str, period: date, values: tuple, sums: list[int],
              cases: BitMap) -> None:
        nonlocal rows
        copy.write_row([rollups.rollup_key(cube, grain, period, values), cube, grain, period,
                        *values, *sums[:n], *(k % 256 for k in sums[n:]), cases.serialize(),
                        len(cases), rollups.key_sums(keys, [cases])[0]])
        rows += 1

    for cube, dims in enumerate(rollups.CUBES):
        stamps = ", ".join(f"e.{d}" if d in dims else f"'{rollups.ANY}'" for d in rollups.STAMPS)
        kept = [f"e.{d}" for d in rollups.STAMPS if d in dims]
        order = ", ".join([*kept, "local_date"])
        # Read on one connection, COPY on another: one connection cannot do both at once.
        with conn.transaction(), conn.cursor(name=f"rollup_{cube}", binary=True) as cur, \
                writer.transaction(), writer.cursor() as out, out.copy(
                    f"COPY attendance_rollups ({', '.join(columns)}) FROM STDIN") as copy:
            cur.itersize = 5000
            cur.execute(f"""
                SELECT {stamps}, local_date, {count_cols}, {key_cols},
                  string_agg(int4send(c.serial), ''::bytea)
                FROM expected_checkins e JOIN case_copies c USING (case_id)
                GROUP BY {order} ORDER BY {order}""")
            open_: dict[str, tuple[tuple, date, list[int], BitMap]] = {}
            for r in cur:
                values, day = tuple(r[:7]), r[7]
                sums = list(r[8:8 + 2 * n])
                cases = BitMap(array.array("I", np.frombuffer(r[-1], dtype=">u4")
                                           .astype(np.uint32).tobytes()))
                write(copy, cube, "day", day, values, sums, cases)
                for grain in ("week", "month"):
                    start = rollups.period_start(grain, day)
                    held = open_.get(grain)
                    if held is not None and (held[0], held[1]) != (values, start):
                        write(copy, cube, grain, held[1], held[0], held[2], held[3])
                        held = None
                    if held is None:
                        open_[grain] = (values, start, list(sums), cases.copy())
                    else:
                        held[2][:] = [a + b for a, b in zip(held[2], sums, strict=True)]
                        held[3].update(cases)
            for grain, (values, start, total, union) in open_.items():
                write(copy, cube, grain, start, values, total, union)
    return rows


# --- the queries ---------------------------------------------------------------------


YEAR = (date(2026, 1, 1), date(2026, 12, 31))
QUERIES: list[tuple[date, date, list[str], str | None]] = [
    (*YEAR, [], None),
    (*YEAR, ["programme"], None),
    (*YEAR, ["sex"], None),
    (*YEAR, ["nationality"], None),
    (*YEAR, ["programme", "sex"], None),
    (*YEAR, ["programme", "sex", "age_group"], None),
    (*YEAR, ["period"], "month"),
    (*YEAR, ["programme", "period"], "month"),
    (*YEAR, ["period"], "week"),
    (*YEAR, ["channel", "reporting_centre"], None),
    (*YEAR, ["programme", "sex", "age_group", "nationality"], None),
    (*YEAR, ["programme", "sex", "age_group", "nationality", "period"], "month"),
    (date(2026, 3, 1), date(2026, 5, 31), ["programme", "sex", "age_group"], None),
    (date(2026, 3, 10), date(2026, 4, 20), ["nationality", "sex"], None),
    (date(2026, 6, 1), date(2026, 6, 30), ["programme", "sex", "age_group", "nationality"],
     None),
    (date(2026, 2, 3), date(2026, 11, 17), ["age_group", "period"], "week"),
    (date(2026, 7, 1), date(2026, 9, 30), ["programme", "channel"], None),
    (date(2026, 1, 1), date(2026, 6, 30), ["sex", "nationality", "period"], "month"),
    (date(2026, 10, 5), date(2026, 10, 11), ["programme", "sex", "age_group", "nationality"],
     None),
    (date(2026, 4, 14), date(2026, 12, 9), ["programme", "sex", "age_group", "nationality",
                                            "period"], "month"),
]


def plain_sql(since: date, until: date, group_by: list[str], period: str | None) -> str:
    """The same answer straight from the expected check-ins."""
    exprs = ["to_char(local_date, 'IYYY-\"W\"IW')" if d == "period" and period == "week"
             else "to_char(local_date, 'YYYY-MM')" if d == "period" else d for d in group_by]
    keys = ", ".join(f"{e} AS g{i}" for i, e in enumerate(exprs))
    counts = ", ".join(f"count(*) FILTER (WHERE status = '{o}') AS {o}"
                       for o in rollups.OUTCOMES)
    return (f"SELECT {keys + ', ' if keys else ''}count(DISTINCT case_id) AS people, "
            f"count(*) AS expected, {counts} FROM expected_checkins "
            f"WHERE local_date BETWEEN '{since}' AND '{until}' "
            + (f"GROUP BY {', '.join(f'g{i}' for i in range(len(exprs)))}" if exprs else ""))


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return (statistics.median(ordered),
            ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))])


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


async def run_queries(url: str, queries: int) -> list[dict]:
    app = create_app(checkin_settings(url, WAYMARK_CHECKIN_FEED_POLL_SECONDS=0,
                                      WAYMARK_CHECKIN_JOBS_SECONDS=0))
    results = []
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://checkin",
                                     timeout=600) as client:
            # One request first: the first one also opens the pool's connections.
            await client.get("/v1/summaries/attendance", params={
                "from": "2026-01-05", "to": "2026-01-05"}, headers=auth("supervisor", sub="bench"))
            for since, until, group_by, period in QUERIES[:queries]:
                params = {"from": since.isoformat(), "to": until.isoformat()}
                if group_by:
                    params["group_by"] = ",".join(group_by)
                if period:
                    params["period"] = period
                # First with the bitmap cache empty (as after a restart, or for a range
                # nobody asked for lately), then asked again.
                app.state.bitmap_cache = BitmapCache(app.state.bitmap_cache.budget)
                times = []
                for _ in range(2):
                    started = time.perf_counter()
                    response = await client.get("/v1/summaries/attendance", params=params,
                                                headers=auth("supervisor", sub="bench"))
                    times.append(time.perf_counter() - started)
                    assert response.status_code == 200, response.text
                results.append({"query": (since, until, group_by, period), "seconds": times[0],
                                "again": times[1], "body": response.json()})
            started = time.perf_counter()
            response = await client.get("/v1/summaries/attendance", params={
                "from": "2026-01-01", "to": "2026-12-31",
                "group_by": "programme,sex,age_group,nationality"},
                headers=auth("authority", sub="bench"))
            results.append({"authority": time.perf_counter() - started,
                            "withheld": response.json()["withheld_rows"],
                            "listed": len(response.json()["rows"])})
    return results


def compare(url: str, results: list[dict]) -> list[tuple[float, bool]]:
    out = []
    with psycopg.connect(url) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 2")
        for result in results:
            if "query" not in result:
                continue
            since, until, group_by, period = result["query"]
            started = time.perf_counter()
            rows = conn.execute(plain_sql(since, until, group_by, period)).fetchall()
            elapsed = time.perf_counter() - started
            n = len(group_by)
            plain = {tuple(r[:n]): list(r[n:]) for r in rows if r[n] > 0}
            body = result["body"]
            names = ["people", "expected", *rollups.OUTCOMES]
            ours = {tuple(row[d] for d in group_by): [row[c] for c in names]
                    for row in body["rows"]}
            if not group_by:
                ours = {(): [body["total"][c] for c in names]}
            out.append((elapsed, ours == plain))
    return out


async def fold_a_day(url: str) -> tuple[int, float, float]:
    """Every window of 2026-12-29 (pending, the last week) decided in one transaction
    through the ORM (which logs the moves), then folded into the rollups as the job
    folds them; the number of windows and both times."""
    app = create_app(checkin_settings(url, WAYMARK_CHECKIN_FEED_POLL_SECONDS=0,
                                      WAYMARK_CHECKIN_JOBS_SECONDS=0))
    async with LifespanManager(app):
        started = time.perf_counter()
        async with app.state.sessionmaker() as session, session.begin():
            windows = (await session.execute(sa.select(ExpectedCheckin).where(
                ExpectedCheckin.local_date == date(2026, 12, 29),
                ExpectedCheckin.status == "pending"))).scalars().all()
            for n, window in enumerate(windows):
                window.status = ("on_time", "late", "missed", "excused")[n % 4]
            await session.flush()
        decided = time.perf_counter() - started
        started = time.perf_counter()
        folding.fold(app.state.fold_engine)
        return len(windows), decided, time.perf_counter() - started


def sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            "rollups": conn.execute(
                "SELECT pg_total_relation_size('attendance_rollups')").fetchone()[0],
            "windows": conn.execute(
                "SELECT pg_total_relation_size('expected_checkins')").fetchone()[0],
            "database": conn.execute("SELECT pg_database_size(current_database())").fetchone()[0],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="query the database a --keep run left (migrated to the head "
                             "first) instead of loading again; it is kept")
    parser.add_argument("--rebuild-rollups", action="store_true",
                        help="with --reuse: build the rollups again from the windows")
    parser.add_argument("--database", default=DATABASE,
                        help="the database's name, so a second size can be kept beside")
    args = parser.parse_args()
    if args.reuse:
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{args.database}"
        upgrade("checkin", url)
        with psycopg.connect(url) as conn:
            args.cases = conn.execute("SELECT count(*) FROM case_copies").fetchone()[0]
        load_time = float("nan")
        print(f"reusing {args.database}: {args.cases:,} cases")
        if args.rebuild_rollups:
            started = time.perf_counter()
            with psycopg.connect(url, autocommit=True) as conn, psycopg.connect(url) as writer:
                conn.execute("TRUNCATE attendance_rollups, rollup_moves")
                built = bulk_rollups(conn, writer)
                conn.execute("VACUUM ANALYZE attendance_rollups")
            print(f"rollups built again: {built:,} rows in {time.perf_counter() - started:.1f} s")
    else:
        url = fresh_database(args.database)
        upgrade("checkin", url)
        started = time.perf_counter()
        loaded = load(url, args.cases)
        load_time = time.perf_counter() - started
        print(f"load: {args.cases:,} cases, {args.cases * 52:,} windows in {load_time:,.1f} s "
              f"(cases {loaded['cases']:.1f} s, windows {loaded['windows']:.1f} s, analyze "
              f"{loaded['analyze']:.1f} s, rollups {loaded['rollups']:.1f} s: "
              f"{int(loaded['rollup_rows']):,} rows)")
    results = asyncio.run(run_queries(url, args.queries))
    authority = results.pop()
    plain = compare(url, results)
    print(f"{'query':<70} {'first':>9} {'again':>9} {'plain':>9} {'x':>6}  equal")
    for result, (plain_s, equal) in zip(results, plain, strict=True):
        since, until, group_by, period = result["query"]
        label = f"{since}..{until} {'x'.join(group_by) or 'total'}" + (
            f" ({period})" if period else "")
        print(f"{label:<70} {_ms(result['seconds']):>9} {_ms(result['again']):>9} "
              f"{_ms(plain_s):>9} {plain_s / result['seconds']:>6.0f}  "
              f"{'yes' if equal else 'NO'}")
    p50, p95 = _percentiles([r["seconds"] for r in results])
    p50_again, p95_again = _percentiles([r["again"] for r in results])
    ratio = min(p / r["seconds"] for r, (p, _) in zip(results, plain, strict=True))
    print(f"endpoint, first ask: p50 {_ms(p50)}, p95 {_ms(p95)}; asked again: p50 "
          f"{_ms(p50_again)}, p95 {_ms(p95_again)} (goal < 200 ms); slowest speed-up "
          f"{ratio:.0f}x, first ask (goal >= 50x); supervisor equals plain GROUP BY: "
          f"{'all' if all(e for _, e in plain) else 'NOT ALL'}")
    print(f"authority, programme x sex x age group x nationality, a year: "
          f"{_ms(authority['authority'])}, {authority['listed']} rows listed, "
          f"{authority['withheld']} withheld")
    folded, decide_s, fold_s = asyncio.run(fold_a_day(url))
    print(f"fold: {folded:,} windows of one day decided in one transaction in {decide_s:.1f} s, "
          f"folded into the rollups in {fold_s:.1f} s (goal < 10 s)")
    size = sizes(url)
    print(f"sizes: rollups {size['rollups'] / 2**20:,.0f} MiB, expected check-ins "
          f"{size['windows'] / 2**20:,.0f} MiB, database {size['database'] / 2**20:,.0f} MiB")
    slowest = max(p for p, _ in plain)
    equal = sum(1 for _, e in plain if e)
    scale = f"{args.cases:,} cases"
    emit("summaries", [
        Figure(f"summary p95 over {len(results)} queries ({scale}), first ask", "< 200 ms",
               _ms(p95), p95 < 0.2, baseline=f"{_ms(slowest)} (slowest plain GROUP BY)"),
        Figure("summary p95, asked again (bitmaps cached)", "< 200 ms", _ms(p95_again),
               p95_again < 0.2),
        Figure("slowest speed-up over the plain GROUP BY", ">= 50x", f"{ratio:.0f}x",
               ratio >= 50),
        Figure("supervisor answers equal to the plain GROUP BY", "all",
               f"{equal} of {len(plain)}", equal == len(plain)),
        Figure(f"a day's outcomes folded ({folded:,} windows)", "< 10 s", f"{fold_s:.1f} s",
               fold_s < 10),
        Figure("authority, a year by programme x sex x age x nationality", "-",
               _ms(authority["authority"])),
        Figure(f"load ({args.cases * 52:,} windows)", "-", f"{load_time:,.0f} s"),
        Figure("rollups / expected check-ins / database", "-",
               f"{size['rollups'] / 2**20:,.0f} / {size['windows'] / 2**20:,.0f} / "
               f"{size['database'] / 2**20:,.0f} MiB"),
    ])
    if not (args.keep or args.reuse):
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
