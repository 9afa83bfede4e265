"""Benchmark: signed SMS check-ins against the checkin service on PostgreSQL, beside a
bare FastAPI endpoint that does one INSERT into the same database.

Both apps run under the same uvicorn command (same workers, same engine and pool from
``shared.db``) and are driven by the same load generator: a small keep-alive HTTP/1.1
client on raw asyncio streams, so the generator costs less CPU than the servers.

    .venv/bin/python bench/checkin_sms.py [--requests 4000] [--rounds 3] [--workers 2]

Prints both throughputs, their ratio, latency percentiles at a fixed offered load
(100 requests per second by default, once the rollups' job has folded the rounds' moves),
how long that took, and the CPU cost of one PIN verification.
Goals (issue 3): full path >= 0.5x bare and >= 1,000/s with no 5xx; p99 < 50 ms at
100/s; a PIN verification < 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import timeit
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "services")]

from checkin.pins import hash_pin, new_pin  # noqa: E402
from report import Figure, emit  # noqa: E402  (bench/, the script's own folder)

from shared.config import DEV_PHONE_HASH_KEY, DEV_PHONE_KEY, DEV_TWILIO_TOKEN  # noqa: E402
from shared.crypto import PhoneVault  # noqa: E402
from shared.migrations import upgrade  # noqa: E402

ADMIN_URL = os.environ.get("WAYMARK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DATABASE = "waymark_bench_checkin"
PIN_KEY = "bench-pin-key-0123456789abcdef0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_database() -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"


def seed(url: str, count: int) -> list[tuple[str, str]]:
    """``count`` active cases with a PIN and a window open now; returns (phone, pin)."""
    vault = PhoneVault(keys=DEV_PHONE_KEY, hash_key=DEV_PHONE_HASH_KEY)
    now = datetime.now(UTC)
    people, cases, pins, windows = [], [], [], []
    for n in range(count):
        case_id, phone, pin = uuid.uuid4(), f"+4477009{n:05d}", new_pin()
        salt = secrets.token_hex(16)
        people.append((phone, pin))
        cases.append((case_id, 1, f"B{n:06d}"[:8], f"{n:010d}", "active", vault.lookup_hash(phone),
                      "en", "bench", "community_case_management", "female", "SD",
                      date(1990, 1, 1), "[]", '["sms"]', "FREQ=WEEKLY;BYDAY=MO", dtime(9), 10, 24,
                      "Europe/London", date(2026, 1, 5), now, "[]", secrets.randbelow(256),
                      n + 1))
        pins.append((case_id, salt, hash_pin(key=PIN_KEY, salt=salt, case_id=case_id, pin=pin),
                     now, "bench"))
        windows.append((uuid.uuid4(), case_id, now - timedelta(hours=1), now + timedelta(hours=9),
                        now + timedelta(hours=33), "pending", secrets.randbelow(256)))
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO case_copies (case_id, version, reference, keypad_reference, status, "
            "phone_hash, language, caseworker, programme, sex, nationality, date_of_birth, "
            "vulnerabilities, channels, rrule, window_opens, window_hours, grace_hours, timezone, "
            "starts_on, updated_at, delegations, record_key, serial) VALUES (%s,%s,%s,%s,%s,%s,"
            "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", cases)
        cur.executemany("INSERT INTO pins (case_id, salt, hash, issued_at, issued_by) "
                        "VALUES (%s,%s,%s,%s,%s)", pins)
        cur.executemany("INSERT INTO expected_checkins (id, case_id, opens_at, closes_at, "
                        "grace_ends_at, status, record_key) VALUES (%s,%s,%s,%s,%s,%s,%s)",
                        windows)
        cur.execute("CREATE TABLE bench_bare (id bigserial PRIMARY KEY, body text NOT NULL, "
                    "at timestamptz NOT NULL DEFAULT now())")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return people


def start(app: str, port: int, url: str, workers: int) -> subprocess.Popen:
    env = {**os.environ, "WAYMARK_CHECKIN_DATABASE_URL": url, "WAYMARK_PIN_KEY": PIN_KEY,
           "WAYMARK_CHECKIN_FEED_POLL_SECONDS": "0", "WAYMARK_CHECKIN_JOBS_SECONDS": "0",
           "WAYMARK_CHECKIN_PUBLIC_URL": f"http://127.0.0.1:{port}", "WAYMARK_LOG_LEVEL": "WARNING",
           "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}:{ROOT / 'services'}"}
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
        env=env, start_new_session=True)


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if b" 200 " in sock.recv(1024):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"port {port} never became ready")


def sms_requests(port: int, people: list[tuple[str, str]]) -> list[bytes]:
    validator = RequestValidator(DEV_TWILIO_TOKEN)
    url = f"http://127.0.0.1:{port}/v1/twilio/sms"
    out = []
    for phone, pin in people:
        params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32,
                  "From": phone, "To": "+447700900000", "Body": f"CHECKIN {pin}"}
        out.append(raw_post("/v1/twilio/sms", urlencode(params).encode(),
                            "application/x-www-form-urlencoded",
                            {"X-Twilio-Signature": validator.compute_signature(url, params)}))
    return out


def bare_requests(count: int) -> list[bytes]:
    return [raw_post("/bare", b'{"n": %d}' % n, "application/json", {}) for n in range(count)]


def raw_post(path: str, body: bytes, content_type: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def closed_loop(port: int, requests: list[bytes], connections: int) -> tuple[float, dict]:
    """Every connection sends its next request as soon as the last one is answered."""
    queue = iter(requests)
    statuses: dict[int, int] = {}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for request in queue:
            writer.write(request)
            status = await _read_response(reader)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return len(requests) / (time.perf_counter() - started), statuses


async def open_loop(port: int, requests: list[bytes], rate: float) -> tuple[list[float], dict]:
    """Requests sent on a fixed schedule whatever the answers do; latency per request."""
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(request: bytes, due: float) -> None:
        reader, writer = await pool.get()
        writer.write(request)
        status = await _read_response(reader)
        latencies.append(time.perf_counter() - due)
        statuses[status] = statuses.get(status, 0) + 1
        pool.put_nowait((reader, writer))

    started, tasks = time.perf_counter(), []
    for n, request in enumerate(requests):
        due = started + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(request, due)))
    await asyncio.gather(*tasks)
    return latencies, statuses


def drained(url: str, timeout: float = 120.0) -> float:
    """Seconds until the rollups' job has folded every logged move (NaN when the job is
    turned off)."""
    if float(os.environ.get("WAYMARK_ROLLUP_FOLD_SECONDS", "2")) <= 0:
        return float("nan")
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM rollup_moves").fetchone()[0]:
            if time.monotonic() - started > timeout:
                raise RuntimeError("the rollups' job did not catch up")
            time.sleep(0.1)
    return time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="per round and app")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    args = parser.parse_args()

    latency_count = int(args.rate * args.latency_seconds)
    warmup = 1000
    measured = args.rounds * args.requests
    url = fresh_database()
    upgrade("checkin", url)
    people = seed(url, warmup + measured + latency_count)
    checkin_port, bare_port = free_port(), free_port()
    servers = [start("checkin.app:create_app", checkin_port, url, args.workers),
               start("bare_app:create_app", bare_port, url, args.workers)]
    bare_rates, full_rates, full_status = [], [], {}
    try:
        wait_ready(checkin_port)
        wait_ready(bare_port)
        sms_all = sms_requests(checkin_port, people)
        asyncio.run(closed_loop(checkin_port, sms_all[:warmup], args.connections))
        asyncio.run(closed_loop(bare_port, bare_requests(warmup), args.connections))
        # Rounds alternate between the two apps, so a noisy neighbour on the machine
        # slows both alike; the medians are compared.
        for n in range(args.rounds):
            rate, _ = asyncio.run(
                closed_loop(bare_port, bare_requests(args.requests), args.connections))
            bare_rates.append(rate)
            chunk = sms_all[warmup + n * args.requests:warmup + (n + 1) * args.requests]
            rate, statuses = asyncio.run(closed_loop(checkin_port, chunk, args.connections))
            full_rates.append(rate)
            for status, count in statuses.items():
                full_status[status] = full_status.get(status, 0) + count
        # The rounds leave thousands of moves for the rollups' job to fold; latency is
        # measured in the steady state, after it has caught up (it folds as it goes).
        catch_up = drained(url)
        latencies, paced_status = asyncio.run(
            open_loop(checkin_port, sms_all[warmup + measured:], args.rate))
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGINT)
        for server in servers:
            server.wait(timeout=30)

    with psycopg.connect(url) as conn:
        recorded = conn.execute("SELECT count(*) FROM checkins").fetchone()[0]
        on_time = conn.execute("SELECT count(*) FROM expected_checkins WHERE status = 'on_time'"
                               ).fetchone()[0]
    case_id, salt = uuid.uuid4(), secrets.token_hex(16)
    verify = min(timeit.repeat(lambda: hash_pin(key=PIN_KEY, salt=salt, case_id=case_id,
                                                pin="482913"), number=10000, repeat=5)) / 10000

    bare_rate, full_rate = statistics.median(bare_rates), statistics.median(full_rates)
    ms = [x * 1000 for x in latencies]
    rounds = ", ".join(f"{b:.0f}/{f:.0f}" for b, f in zip(bare_rates, full_rates, strict=True))
    print(f"machine: {os.cpu_count()} cores; uvicorn workers per app: {args.workers}; "
          f"connections: {args.connections}; PostgreSQL database {DATABASE}")
    print(f"rounds (bare/full per second): {rounds}")
    print(f"bare INSERT endpoint:   {bare_rate:8.0f} requests/s  (median of {args.rounds})")
    print(f"signed SMS check-in:    {full_rate:8.0f} check-ins/s (median) statuses {full_status}")
    print(f"ratio full / bare:      {full_rate / bare_rate:8.2f}")
    print(f"latency at {args.rate:.0f}/s offered ({len(ms)} check-ins): "
          f"p50 {percentile(ms, 50):.1f} ms  p99 {percentile(ms, 99):.1f} ms  "
          f"p99.9 {percentile(ms, 99.9):.1f} ms  statuses {paced_status}")
    print(f"rollups: the rounds' moves folded by the job {catch_up:.1f} s after the last round")
    with psycopg.connect(url) as conn:
        left = conn.execute("SELECT count(*) FROM rollup_moves").fetchone()[0]
    print(f"rollup moves left unfolded at the end: {left} (a summary folds them first)")
    print(f"PIN verification (HMAC-SHA256): {verify * 1e6:.2f} µs of CPU")
    print(f"check-ins recorded: {recorded} (sent {len(sms_all)}); windows on time: {on_time}")
    errors = sum(n for part in (full_status, paced_status) for s, n in part.items() if s >= 500)
    print(f"5xx answers: {errors}")
    p99 = percentile(ms, 99)
    emit("checkin_sms", [
        Figure("signed SMS check-ins per second", ">= 0.5x bare, >= 1,000/s",
               f"{full_rate:,.0f}/s", full_rate >= 1000 and full_rate >= 0.5 * bare_rate,
               baseline=f"{bare_rate:,.0f}/s (bare INSERT)",
               ratio=f"{full_rate / bare_rate:.2f}x"),
        Figure(f"p99 latency at {args.rate:.0f}/s", "< 50 ms", f"{p99:.1f} ms", p99 < 50),
        Figure("PIN verification", "< 1 ms", f"{verify * 1e6:.1f} us", verify < 1e-3),
        Figure("5xx answers", "0", str(errors), errors == 0),
    ])


if __name__ == "__main__":
    main()
