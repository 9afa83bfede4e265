"""The ``waymark`` command: run, migrate, token, simulate, demo, dispatch, audit verify."""

from __future__ import annotations

import argparse
import os
import sys
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


def migrate(services: tuple[str, ...] | list[str] = SERVICES) -> None:
    """Upgrade each of ``services``' databases to its latest revision (a deployment runs
    one migration per service, with that service's settings only)."""
    from shared.migrations import upgrade

    for service in services:
        upgrade(service, _settings(service).database_url)
        print(f"{service}: database at the latest revision", file=sys.stderr)


def run(host: str) -> int:
    """Migrate, then run the three services (each ``waymark serve``) under the
    supervisor (``waymark.supervisor``): SIGINT, SIGTERM or SIGHUP stops them all, and
    none outlives it. Each service counts its metrics in a fresh multiprocess
    directory of its own, removed when the run ends."""
    import tempfile

    from shared.metrics import MULTIPROC_ENV
    from waymark.supervisor import supervise

    migrate()
    env = dict(os.environ)
    for service in SERVICES:  # each service finds the others at the ports chosen here
        env.setdefault(f"WAYMARK_{service.upper()}_URL", f"http://{host}:{_settings(service).port}")
    with tempfile.TemporaryDirectory(prefix="waymark-metrics-") as metrics:
        commands, envs = {}, {}
        for service in SERVICES:
            commands[service] = [sys.executable, "-m", "waymark.cli", "serve", service,
                                 "--host", host]
            envs[service] = {**env, MULTIPROC_ENV: os.path.join(metrics, service)}
            print(f"{service}: http://{host}:{_settings(service).port}", file=sys.stderr)
        return supervise(commands, envs=envs)


def serve(service: str, host: str, port: int | None, workers: int) -> int:
    """One service under uvicorn: logs in the services' format from uvicorn's first
    line, a bounded shutdown (``shared.shutdown``), and a clean multiprocess metrics
    directory when ``PROMETHEUS_MULTIPROC_DIR`` is set."""
    import uvicorn

    from shared.logging import uvicorn_log_config
    from shared.metrics import MULTIPROC_ENV, clear_multiprocess_dir, multiprocess_dir
    from shared.shutdown import DRAIN_SECONDS, HARD_STOP_ENV, HARD_STOP_SECONDS

    settings = _settings(service)
    directory = multiprocess_dir()
    if directory is not None:
        clear_multiprocess_dir(directory)  # only this server's workers write there
    elif workers > 1:
        print(f"warning: {MULTIPROC_ENV} is not set: each of the {workers} workers "
              "answers /metrics with its own counts only", file=sys.stderr)
    os.environ[HARD_STOP_ENV] = str(HARD_STOP_SECONDS)  # inherited by the workers
    uvicorn.run(f"{service}.app:create_app", factory=True, host=host,
                port=port or settings.port, workers=workers,
                log_config=uvicorn_log_config(service, settings.log_level),
                timeout_graceful_shutdown=int(DRAIN_SECONDS))
    return 0


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


def simulate(args: argparse.Namespace) -> int:
    """Play the person's phone against the running checkin service (development)."""
    import asyncio

    import httpx
    from checkin.config import CheckinSettings

    from waymark.simulate import Phone, SimulationError, e164

    if os.environ.get("WAYMARK_ENV", "").lower() == "production":
        print("refusing: the simulated phone is for development", file=sys.stderr)
        return 2
    settings = CheckinSettings()

    async def play() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}",
                                     timeout=10) as client:
            phone = Phone(number=e164(args.sender), client=client,
                          public_url=settings.base_url,
                          account_sid=settings.twilio_account_sid,
                          auth_token=settings.twilio_auth_token,
                          ask=input if sys.stdin.isatty() else None)
            if args.channel == "sms":
                print(f"{phone.number} texts: {args.body}")
                await phone.sms(args.body)
            else:
                digits = None if args.digits is None else [
                    d.strip() for d in args.digits.split(",")]
                print(f"{phone.number} " + ("is called by Waymark" if args.reminder
                                            else "calls Waymark"))
                await phone.call(digits, reminder=args.reminder)

    try:
        asyncio.run(play())
    except SimulationError as error:
        print(f"waymark simulate: {error}", file=sys.stderr)
        return 2
    return 0


def demo(args: argparse.Namespace) -> int:
    """Synthetic cases and weeks of reporting into the databases ``waymark run`` serves."""
    import time as clock
    from pathlib import Path

    from waymark.demo import DemoError, Options, default_urls
    from waymark.demo import run as run_demo
    from waymark.demo_report import print_summary

    if os.environ.get("WAYMARK_ENV", "").lower() == "production":
        print("refusing: the demo is for development", file=sys.stderr)
        return 2
    if not 1 <= args.cases <= 800:
        print("waymark demo: --cases must be from 1 to 800", file=sys.stderr)
        return 2
    urls = default_urls()
    began = clock.monotonic()
    try:
        result = run_demo(Options(cases=args.cases, weeks=args.weeks, seed=args.seed,
                                  urls=urls, out_dir=Path(args.out), replace=args.replace,
                                  progress=not args.no_progress))
    except DemoError as error:
        print(f"waymark demo: {error}", file=sys.stderr)
        return 2
    elapsed = clock.monotonic() - began
    period = f"windows opening {result.since} to {result.until}"
    print(f"\n{args.cases} cases, {args.weeks} weeks played in {elapsed:.0f} s "
          f"({', '.join(f'{n} {k}' for k, n in sorted(result.actions.items()))}).")
    print_summary(f"Supervisor's attendance summary by programme ({period}):",
                  result.supervisor, ["programme"])
    print_summary(f"Authority's attendance summary by programme and sex ({period}; "
                  f"\u00b7 = withheld, fewer than the threshold):",
                  result.authority, ["programme", "sex"])
    person = result.person
    print(f"\nChart of weekly attendance by programme: {result.chart}")
    print("Databases: " + ", ".join(urls[s] for s in SERVICES))
    print(f"""
Continue on this history:
  make run                      (in another terminal: waymark run serves these databases)
  One demo person (English; shown here once, for the demo only):
    number {person.number}  PIN {person.pin}  case {person.case_id}
    reference {person.reference} (keypad {person.keypad_reference}), caseworker {person.caseworker}
  .venv/bin/waymark simulate sms --from {person.number} --body "NEXT {person.pin}"
  .venv/bin/waymark simulate call --from {person.number} --digits {person.pin}
  TOKEN=$(.venv/bin/waymark token --role caseworker --sub {person.caseworker})
  curl -s http://127.0.0.1:8002/v1/cases/{person.case_id}/checkins -H "Authorization: Bearer $TOKEN"
  Then the README's walk-through (a supervisor token sees every case).""")
    return 0


def dispatch(until_idle: bool, metrics_port: int | None = None) -> int:
    """Run the notifications dispatcher on its own (a sending worker); with
    ``metrics_port``, its counters are served there for Prometheus."""
    import asyncio
    import json

    from notifications.app import run_dispatcher
    from notifications.config import NotificationsSettings

    from shared.logging import configure_logging

    settings = NotificationsSettings()
    configure_logging("notifications", settings.log_level)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    try:  # uvloop, as uvicorn uses for the services, where it is installed
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        stats = runner.run(run_dispatcher(settings, until_idle=until_idle))
    print(json.dumps(vars(stats)))
    return 0


DESCRIPTION = ("Waymark: check-in by keypad, SMS or in person, reminders, caseworkers' "
               "API and attendance summaries. Settings come from WAYMARK_* environment "
               "variables (see the README's Configuration).")


def _sender(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="sender", required=True, metavar="NUMBER",
                        help="the person's number in E.164 form, such as +447911123456")


def build_parser() -> argparse.ArgumentParser:
    """Every command and option, each with its help (``tests/waymark/test_cli.py``)."""
    parser = argparse.ArgumentParser(prog="waymark", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_parser = commands.add_parser(
        "run", help="migrate, then run all three services",
        description="Upgrade the databases, then run registry, checkin and notifications "
                    "until Ctrl-C, SIGTERM or SIGHUP; no service outlives the command.")
    run_parser.add_argument("--host", default="127.0.0.1",
                            help="the address the services listen on (default 127.0.0.1; "
                                 "0.0.0.0 for every interface)")
    serve_parser = commands.add_parser(
        "serve", help="run one service (what containers run)",
        description="Run one service under uvicorn: logs in the services' format, a "
                    "shutdown bounded to 10 s, metrics added up across workers when "
                    "PROMETHEUS_MULTIPROC_DIR is set (it is cleared at start).")
    serve_parser.add_argument("service", choices=SERVICES, help="the service to run")
    serve_parser.add_argument("--host", default="127.0.0.1",
                              help="the address to listen on (default 127.0.0.1; 0.0.0.0 "
                                   "in a container)")
    serve_parser.add_argument("--port", type=int, default=None,
                              help="the port (default: the service's WAYMARK_<SERVICE>_PORT)")
    serve_parser.add_argument("--workers", type=int, default=1,
                              help="uvicorn worker processes (default 1)")
    migrate_parser = commands.add_parser(
        "migrate", help="upgrade every service's database",
        description="Upgrade each service's database to its latest revision.")
    migrate_parser.add_argument("--service", action="append", choices=SERVICES,
                                help="only this service (repeat for several; default all)")
    token_parser = commands.add_parser(
        "token", help="print a development token",
        description="Print an HS256 token signed with WAYMARK_AUTH_SECRET, for development "
                    "(refused when WAYMARK_ENV=production).")
    token_parser.add_argument("--role", action="append", required=True,
                              choices=[r.value for r in Role],
                              help="a role the token carries; repeat for several")
    token_parser.add_argument("--sub", required=True,
                              help="who the token speaks for, such as alice")
    token_parser.add_argument("--hours", type=float, default=None,
                              help="lifetime (default 8, or the maximum if shorter: 1 with "
                                   "the service role)")
    simulate_parser = commands.add_parser(
        "simulate", help="play the person's phone against the running services",
        description="Act as the person's phone: each request is signed as Twilio signs "
                    "it and sent to the running checkin service; the answer is printed as "
                    "the person would read or hear it, in their language. Development only.")
    phones = simulate_parser.add_subparsers(dest="channel", required=True, metavar="CHANNEL")
    sms_parser = phones.add_parser("sms", help="send a text message",
                                   description="Text Waymark and print the reply.")
    _sender(sms_parser)
    sms_parser.add_argument("--body", required=True, metavar="TEXT",
                            help="the message, such as 'CHECKIN 123456' or 'NEXT 123456'")
    call_parser = phones.add_parser(
        "call", help="make a keypad call",
        description="Call Waymark and follow the call to its end, printing what the person "
                    "hears and is asked.")
    _sender(call_parser)
    call_parser.add_argument("--digits", metavar="KEYS",
                             help="the keys pressed at each question, comma-separated, such "
                                  "as 1,123456 (language, then PIN); without it, you are "
                                  "asked at each question")
    call_parser.add_argument("--reminder", action="store_true",
                             help="answer Waymark's voice reminder and press 1 to check in "
                                  "now, instead of calling in")
    demo_parser = commands.add_parser(
        "demo", help="fill the databases with synthetic cases and weeks of reporting",
        description="Open synthetic cases (English, Arabic, Spanish and French speakers, "
                    "several programmes) and play weeks of their weekly reporting through "
                    "the services' own code paths under a simulated clock ending now: "
                    "reminders sent with the log provider, check-ins by SMS, keypad call "
                    "and in person, missed windows, one outage, one STOP and one excusal. "
                    "Prints the supervisor's and the authority's attendance summaries, "
                    "writes a chart, and leaves the databases for waymark run. Nothing is "
                    "sent and no port is opened. Development only.")
    demo_parser.add_argument("--cases", type=int, default=200,
                             help="how many cases to open (default 200, at most 800)")
    demo_parser.add_argument("--weeks", type=int, default=8,
                             help="how many weeks of reporting to play, ending now "
                                  "(default 8, at most 26)")
    demo_parser.add_argument("--seed", type=int, default=14,
                             help="seed of the random choices: the same seed gives the "
                                  "same people and behaviour (default 14)")
    demo_parser.add_argument("--replace", action="store_true",
                             help="erase databases that already hold cases and start "
                                  "again (without it the demo refuses to touch them)")
    demo_parser.add_argument("--out", default="var/demo", metavar="FOLDER",
                             help="where the chart (attendance.svg) and the services' log "
                                  "(demo.log) go (default var/demo)")
    demo_parser.add_argument("--no-progress", action="store_true",
                             help="no progress bar (for logs and scripts)")
    dispatch_parser = commands.add_parser(
        "dispatch", help="run the reminder dispatcher alone",
        description="Send due reminders from the notifications database, as a worker of "
                    "its own.")
    dispatch_parser.add_argument("--until-idle", action="store_true",
                                 help="stop when no reminder is due")
    dispatch_parser.add_argument("--metrics-port", type=int, default=None,
                                 help="serve the dispatcher's Prometheus metrics on this "
                                      "port (default: none)")
    audit_parser = commands.add_parser("audit", help="check the audit trails",
                                       description="Check the services' audit trails.")
    audit_commands = audit_parser.add_subparsers(dest="audit_command", required=True,
                                                 metavar="COMMAND")
    verify_parser = audit_commands.add_parser(
        "verify", help="walk each service's hash chain and name the first broken link",
        description="Walk each service's audit chain in its database, print the entries "
                    "that hold and the head's hash, and name the first broken link. Exit "
                    "status 1 if any chain is broken.")
    verify_parser.add_argument("--service", action="append", choices=SERVICES,
                               help="only this service (repeat for several; default all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "audit":
        from waymark.audit import verify_services

        chosen = args.service or SERVICES
        return verify_services((s, _settings(s).database_url) for s in chosen)
    if args.command == "run":
        return run(args.host)
    if args.command == "dispatch":
        return dispatch(args.until_idle, args.metrics_port)
    if args.command == "serve":
        return serve(args.service, args.host, args.port, args.workers)
    if args.command == "migrate":
        migrate(args.service or SERVICES)
        return 0
    if args.command == "simulate":
        return simulate(args)
    if args.command == "demo":
        return demo(args)
    return token(args.role, args.sub, args.hours)


if __name__ == "__main__":
    sys.exit(main())
