"""``waymark run``: migrates, starts three real uvicorn processes that answer health
checks, serve a case and carry it to checkin and notifications over the change feeds,
and stops them all cleanly on SIGINT (Ctrl-C)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import auth
from tests.registry.factories import case_body
from waymark.cli import main

SERVICES = ("registry", "checkin", "notifications")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "waymark run exited early"
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became ready")


def wait_for_reminders(url: str, case_id: str, timeout: float = 30) -> list[dict]:
    """The case's reminders for its first check-in, once the feeds have carried it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(f"{url}/v1/cases/{case_id}/notifications",
                             headers=auth("caseworker"))
        if response.status_code == 200 and (items := response.json()["items"]):
            earliest = min(items, key=lambda r: r["due_at"])["expected_checkin_id"]
            first = [r for r in items if r["expected_checkin_id"] == earliest]
            if len(first) == 3:
                return first
        time.sleep(0.5)
    raise AssertionError("no reminders were planned for the new case")


def test_waymark_run_starts_three_healthy_services_and_stops_on_sigint(service_env, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "waymark.cli", "run"], env=service_env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        urls = {s: f"http://127.0.0.1:{service_env[f'WAYMARK_{s.upper()}_PORT']}"
                for s in SERVICES}
        for url in urls.values():
            wait_until_ready(url, process)
            assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}

        created = httpx.post(f"{urls['registry']}/v1/cases", json=case_body(),
                             headers=auth("caseworker"))
        assert created.status_code == 201
        read = httpx.get(f"{urls['registry']}/v1/cases/{created.json()['id']}",
                         headers=auth("caseworker"))
        assert read.json()["reference"] == created.json()["reference"]
        # The case flows registry -> checkin (its schedule) -> notifications (reminders).
        reminders = wait_for_reminders(urls["notifications"], created.json()["id"])
        assert {r["kind"] for r in reminders} == {"evening_before", "window_opens", "nudge"}
        assert all(r["status"] == "planned" and r["channel"] == "sms" for r in reminders)

        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "all services stopped" in output
    assert output.count("Application shutdown complete") == 3
    for url in urls.values():
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/healthz", timeout=1)
    # Personal data never reaches the logs, even the access log.
    for secret in ("+447911123456", "Amina", "1990-04-02"):
        assert secret not in output


def test_token_is_refused_in_production(monkeypatch, capsys):
    monkeypatch.setenv("WAYMARK_ENV", "production")
    monkeypatch.setenv("WAYMARK_AUTH_SECRET", "x" * 40)
    monkeypatch.setenv("WAYMARK_PHONE_KEYS", "mtF6EMzH4cV3U8e3q7gJx6wR6cQGQ0mJr7o3wQ0rS1A=")
    monkeypatch.setenv("WAYMARK_PHONE_HASH_KEY", "y" * 40)
    assert main(["token", "--role", "caseworker", "--sub", "alice"]) == 2
    assert "refusing" in capsys.readouterr().err


def test_token_in_development_carries_the_roles(capsys):
    from shared.auth import decode_token
    from shared.config import DEV_AUTH_SECRET

    assert main(["token", "--role", "caseworker", "--role", "officer", "--sub", "alice"]) == 0
    principal = decode_token(capsys.readouterr().out.strip(), secret=DEV_AUTH_SECRET)
    assert principal.sub == "alice"
    assert principal.roles == {"caseworker", "officer"}
