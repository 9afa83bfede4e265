"""``waymark run | migrate | token | sms | dispatch | audit verify``."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

from shared.auth import Lifetimes, Role, issue_token
from shared.config import ServiceSettings

SERVICES = ("registry", "checkin", "notifications")
DEFAULT_TOKEN_LIFETIME = timedelta(hours=8)


def _settings(service: str) -> ServiceSettings:
    if service == "registry":
        from registry.config import RegistrySettings as settings_class
    elif service == "checkin":
        from checkin.config import CheckinSettings as settings_class
    else:
        from notifications.config import NotificationsSettings as settings_class
    return settings_class()


def migrate() -> None:
    """Upgrade every service's database to its latest revision."""
    from shared.migrations import upgrade

    for service in SERVICES:
        upgrade(service, _settings(service).database_url)
        print(f"{service}: database at the latest revision", file=sys.stderr)


def run(host: str) -> int:
    """Migrate, start the three services, and stop them all on Ctrl-C or SIGTERM."""
    migrate()
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    # Installed before any child starts, so a Ctrl-C during start-up still stops them all.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    children: dict[str, subprocess.Popen] = {}
    env = dict(os.environ)
    for service in SERVICES:  # each service finds the others at the ports chosen here
        env.setdefault(f"WAYMARK_{service.upper()}_URL", f"http://{host}:{_settings(service).port}")
    for service in SERVICES:
        port = _settings(service).port
        children[service] = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", f"{service}.app:create_app",
             "--host", host, "--port", str(port)], env=env,
            # Own session: a terminal's Ctrl-C reaches only us, and we forward it once
            # (a second SIGINT would make uvicorn skip its graceful shutdown).
            start_new_session=True,
        )
        print(f"{service}: http://{host}:{port}", file=sys.stderr)

    exit_code = 0
    while not stopping:
        for service, child in children.items():
            if child.poll() is not None:
                print(f"{service} stopped unexpectedly (exit {child.returncode}); stopping all",
                      file=sys.stderr)
                exit_code = child.returncode or 1
                stopping = True
                break
        time.sleep(0.2)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 15
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    print("all services stopped", file=sys.stderr)
    return exit_code


def token(roles: list[str], sub: str, hours: float | None) -> int:
    # Checked before reading settings: production settings may not even validate here.
    if os.environ.get("WAYMARK_ENV", "").lower() == "production":
        print("refusing: development tokens are not issued when WAYMARK_ENV=production",
              file=sys.stderr)
        return 2
    settings = ServiceSettings()
    # The services refuse a token that lives longer than this: better said here.
    limit = Lifetimes.from_settings(settings).limit(roles)
    most = limit.total_seconds() / 3600
    if hours is not None and not 0 < hours <= most:  # NaN included
        print(f"refusing: a token with the roles {', '.join(roles)} must live more than 0 "
              f"and at most {most:g} hours", file=sys.stderr)
        return 2
    ttl = min(DEFAULT_TOKEN_LIFETIME, limit) if hours is None else timedelta(hours=hours)
    print(issue_token(secret=settings.auth_secret, sub=sub, roles=roles, ttl=ttl))
    return 0


def sms(sender: str, body: str) -> int:
    """Play Twilio: post an inbound SMS to the local checkin service, signed with the
    configured token, and print the TwiML answer. For development only."""
    import uuid

    import httpx
    from checkin.config import CheckinSettings
    from twilio.request_validator import RequestValidator

    settings = CheckinSettings()
    url = f"{settings.base_url}/v1/twilio/sms"
    params = {"MessageSid": f"SM{uuid.uuid4().hex}", "AccountSid": settings.twilio_account_sid,
              "From": sender, "To": "+15005550006", "Body": body}
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(url, params)
    response = httpx.post(f"http://127.0.0.1:{settings.port}/v1/twilio/sms", data=params,
                          headers={"X-Twilio-Signature": signature})
    print(response.text)
    return 0 if response.status_code == 200 else 1


def dispatch(until_idle: bool) -> int:
    """Run the notifications dispatcher on its own (a sending worker)."""
    import asyncio
    import json

    from notifications.app import run_dispatcher
    from notifications.config import NotificationsSettings

    from shared.logging import configure_logging

    settings = NotificationsSettings()
    configure_logging("notifications", settings.log_level)
    try:  # uvloop, as uvicorn uses for the services, where it is installed
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        stats = runner.run(run_dispatcher(settings, until_idle=until_idle))
    print(json.dumps(vars(stats)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="waymark", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="migrate, then run all three services")
    run_parser.add_argument("--host", default="127.0.0.1")
    commands.add_parser("migrate", help="upgrade every service's database")
    token_parser = commands.add_parser("token", help="print a development token")
    token_parser.add_argument("--role", action="append", required=True,
                              choices=[r.value for r in Role], help="repeat for several roles")
    token_parser.add_argument("--sub", required=True, help="who the token speaks for")
    token_parser.add_argument("--hours", type=float, default=None,
                              help="lifetime (default 8, or the maximum if shorter: 1 with "
                                   "the service role)")
    sms_parser = commands.add_parser("sms", help="send a signed test SMS to local checkin")
    sms_parser.add_argument("--from", dest="sender", required=True, help="E.164 number")
    sms_parser.add_argument("body", help="the message, for example 'CHECKIN 123456'")
    dispatch_parser = commands.add_parser("dispatch", help="run the reminder dispatcher alone")
    dispatch_parser.add_argument("--until-idle", action="store_true",
                                 help="stop when no reminder is due")
    audit_parser = commands.add_parser("audit", help="check the audit trails")
    audit_commands = audit_parser.add_subparsers(dest="audit_command", required=True)
    verify_parser = audit_commands.add_parser(
        "verify", help="walk each service's hash chain and name the first broken link")
    verify_parser.add_argument("--service", action="append", choices=SERVICES,
                               help="only this service (repeat for several; default all)")
    args = parser.parse_args(argv)
    if args.command == "audit":
        from waymark.audit import verify_services

        chosen = args.service or SERVICES
        return verify_services((s, _settings(s).database_url) for s in chosen)
    if args.command == "run":
        return run(args.host)
    if args.command == "dispatch":
        return dispatch(args.until_idle)
    if args.command == "migrate":
        migrate()
        return 0
    if args.command == "sms":
        if os.environ.get("WAYMARK_ENV", "").lower() == "production":
            print("refusing: test messages are for development", file=sys.stderr)
            return 2
        return sms(args.sender, args.body)
    return token(args.role, args.sub, args.hours)


if __name__ == "__main__":
    sys.exit(main())
