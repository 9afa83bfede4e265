"""``waymark serve``: uvicorn's own lines and the service's in one readable line each on
a terminal; several workers add their metrics up (prometheus-client's multiprocess
mode)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.migrations import upgrade
from tests.e2e.test_waymark_run import free_port, wait_until_ready


@pytest.fixture
def registry_env(empty_database) -> dict[str, str]:
    url = empty_database("serve_registry")
    upgrade("registry", url)
    return {**os.environ, "WAYMARK_REGISTRY_DATABASE_URL": url,
            "WAYMARK_REGISTRY_PORT": str(free_port())}


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_on_a_terminal_every_line_is_one_readable_line(registry_env, tmp_path):
    port = registry_env["WAYMARK_REGISTRY_PORT"]
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "waymark.cli", "serve", "registry"],
                               env=registry_env, cwd=tmp_path, stderr=terminal,
                               stdout=subprocess.DEVNULL)
    os.close(terminal)
    output = b""
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process)
        httpx.get(f"http://127.0.0.1:{port}/v1/cases", headers={"X-Request-ID": "story-1"})
        deadline = time.monotonic() + 10
        while b"/v1/cases" not in output and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.2)[0]:
                output += os.read(controller, 65536)
    finally:
        stop(process)
        os.close(controller)
    lines = output.decode().replace("\r\n", "\n").strip().splitlines()
    readable = re.compile(r"\d\d:\d\d:\d\d\.\d{3} (INFO|WARNING|ERROR|DEBUG) +registry \S+ .+")
    assert lines and all(readable.fullmatch(line) for line in lines), lines
    assert not any(line.lstrip().startswith("{") for line in lines)
    assert "uvicorn.error Started server process" in lines[0]
    [access] = [line for line in lines if "/v1/cases" in line]
    assert "uvicorn.access [story-1]" in access and '"GET /v1/cases HTTP/1.1" 401' in access


def test_two_workers_add_their_metrics_up(registry_env, tmp_path):
    port = registry_env["WAYMARK_REGISTRY_PORT"]
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left by an earlier run")  # cleared at start
    env = {**registry_env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "waymark.cli", "serve", "registry", "--workers", "2"],
        env=env, cwd=tmp_path, stderr=subprocess.DEVNULL)
    hits = 60
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, timeout=60)
        # A new connection each, eight at a time: both workers accept some.
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(
                lambda _: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code,
                range(hits)))
        assert statuses == [200] * hits
        scrapes = [httpx.get(f"http://127.0.0.1:{port}/metrics").text for _ in range(4)]
        pids = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}
    finally:
        stop(process)
    assert len(pids) == 2, pids  # both workers counted something
    for text in scrapes:  # whichever worker answers, the totals are the same
        samples = {
            (s.name, s.labels.get("route"), s.labels.get("status")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}
        assert samples[("waymark_http_requests_total", "/healthz", "200")] == hits
        assert samples[("waymark_http_request_duration_seconds_count", "/healthz", None)] == hits


def test_the_dispatcher_serves_its_counters(empty_database, tmp_path):
    url = empty_database("dispatch_notifications")
    upgrade("notifications", url)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "waymark.cli", "dispatch", "--metrics-port", str(port)],
        env={**os.environ, "WAYMARK_NOTIFICATIONS_DATABASE_URL": url}, cwd=tmp_path,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the dispatcher exited"
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "no metrics"
                time.sleep(0.2)
    finally:
        stop(process)
    assert "# HELP waymark_reminders_total" in text
