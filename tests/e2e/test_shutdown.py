"""Clean shutdown: SIGINT, SIGTERM and SIGHUP to ``waymark run`` stop every service
within 15 s with requests in flight, leaving no process and no port behind; SIGKILL of
the supervisor takes its children with it; a child that ignores the request is killed
after its grace; one service alone (``waymark serve``) stops within 10 s."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from shared.migrations import upgrade
from tests.e2e.test_waymark_run import SERVICES, free_port, wait_until_ready

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc; the parent-death signal is Linux's")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_gone(pids: list[int], timeout: float) -> float:
    """Seconds until every pid stopped; fails after ``timeout``."""
    started = time.monotonic()
    while any(alive(pid) for pid in pids):
        assert time.monotonic() - started < timeout, [p for p in pids if alive(p)]
        time.sleep(0.05)
    return time.monotonic() - started


def request_in_flight(port: int) -> socket.socket:
    """A request whose body never finishes arriving: the server cannot finish it."""
    conn = socket.create_connection(("127.0.0.1", port))
    conn.sendall(b"POST /v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"given_name\":")
    return conn


def start_run(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, dict[str, int]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "waymark.cli", "run"], env=env, cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ports = {s: int(env[f"WAYMARK_{s.upper()}_PORT"]) for s in SERVICES}
    for port in ports.values():
        wait_until_ready(f"http://127.0.0.1:{port}", process, timeout=60)
    return process, ports


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_stops_every_service_within_15_s(service_env, tmp_path, signum):
    process, ports = start_run(service_env, tmp_path)
    try:
        services = children_of(process.pid)
        assert len(services) == 3
        in_flight = [request_in_flight(port) for port in ports.values()]
        time.sleep(0.3)
        process.send_signal(signum)
        took = wait_gone([process.pid, *services], timeout=15)
        output, _ = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    for conn in in_flight:
        conn.close()
    assert took < 15
    assert process.returncode == 0, output
    assert f"{signal.Signals(signum).name}: stopping every service" in output
    assert "did not stop" not in output  # each service stopped on its own, in time
    assert output.count("Application shutdown complete") == 3
    assert all(port_free(port) for port in ports.values())


def test_a_killed_supervisor_takes_its_children_with_it(service_env, tmp_path):
    process, ports = start_run(service_env, tmp_path)
    try:
        services = children_of(process.pid)
        assert len(services) == 3
        process.kill()  # SIGKILL: no handler runs
        process.wait()
        wait_gone(services, timeout=8)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    deadline = time.monotonic() + 5
    while not all(port_free(port) for port in ports.values()):
        assert time.monotonic() < deadline, "a port is still held"
        time.sleep(0.1)


STUBBORN = textwrap.dedent("""
    import os, signal, sys, time
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(sys.argv[1], "w") as f:
        f.write(str(os.getpid()))
    while True:
        time.sleep(0.1)
""")

SUPERVISOR = textwrap.dedent("""
    import sys
    from waymark.supervisor import supervise
    stubborn = [sys.executable, "-c", sys.argv[1], sys.argv[2]]
    polite = [sys.executable, "-c", "import time; time.sleep(60)"]
    sys.exit(supervise({"stubborn": stubborn, "polite": polite}, grace=1.0))
""")


def test_a_child_that_ignores_the_signal_is_killed_after_its_grace(tmp_path):
    pid_file = tmp_path / "stubborn.pid"
    process = subprocess.Popen([sys.executable, "-c", SUPERVISOR, STUBBORN, str(pid_file)],
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stubborn = int(pid_file.read_text())
        children = children_of(process.pid)
        assert stubborn in children and len(children) == 2
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=10)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert 1.0 <= took < 5, took  # the grace, then the kill
    assert "stubborn did not stop within 1 s: killed" in errors
    assert "polite did not stop" not in errors
    assert not any(alive(pid) for pid in children)
    assert process.returncode == 0


def test_one_service_stops_within_10_s_with_a_request_in_flight(empty_database, tmp_path):
    url = empty_database("serve_registry")
    upgrade("registry", url)
    port = free_port()
    env = {**os.environ, "WAYMARK_REGISTRY_DATABASE_URL": url,
           "WAYMARK_REGISTRY_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "waymark.cli", "serve", "registry"],
                               env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process)
        conn = request_in_flight(port)
        time.sleep(0.3)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=15)
        took = time.monotonic() - started
        conn.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert took < 10, took
    assert process.returncode in (0, -signal.SIGTERM), errors  # uvicorn re-raises it
    assert "Application shutdown complete" in errors
    # uvicorn's own lines too, from its first, in the services' JSON (stderr is a pipe).
    lines = [json.loads(line) for line in errors.splitlines()]
    assert lines[0]["msg"].startswith("Started server process")
    assert {line["service"] for line in lines} == {"registry"}
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
