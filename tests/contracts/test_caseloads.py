"""The caseload matrix: every route of every service, enumerated from the apps
themselves, × every role × a case assigned to the caller, delegated to the caller, or
someone else's → the expected status. A route without a row here fails
``test_every_route_has_a_row``: decide who may call it before it ships.

What the rows say (README, Decisions, "Caseloads"):
- a caseworker reaches the cases assigned or delegated to them; any other case is a
  404, as if it did not exist; lists hold only their caseload;
- a supervisor reaches every case, assigns and delegates;
- an officer has the reporting desk's view (by reference) and nothing else of cases;
- ``authority`` gets nothing of cases, ``service`` the change feeds only;
- a role refused on a route is refused whatever the case (403), which says nothing
  about the case.

Checkin's windows and follow-ups are reached through their case: a caseworker outside
the case's caseload gets the same 404 as for an unknown window or follow-up."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from shared.auth import Role
from tests.checkin.helpers import case_change
from tests.conftest import (
    auth,
    checkin_settings,
    client_for,
    notifications_settings,
    registry_settings,
    rolled_back,
)
from tests.registry.factories import case_body

ROLES = tuple(Role)
KINDS = ("assigned", "delegated", "other")
CASELOAD = "caseload"  # caseworkers: their cases 2xx, others 404; supervisors all


def sub(role: Role) -> str:
    return f"matrix-{role}"


def ok(*roles: Role, status: int = 200) -> dict[Role, int]:
    """``status`` for ``roles``, 403 for every other role, whatever the case."""
    return {role: status if role in roles else 403 for role in ROLES}


def everyone(status: int) -> dict[Role, int]:
    return dict.fromkeys(ROLES, status)


def caseload(status: int = 200) -> dict[Role, Any]:
    return ok(Role.supervisor, status=status) | {Role.caseworker: (CASELOAD, status)}


# Open to anyone: a token changes nothing (test_public_routes). /metrics holds counts
# by route template, channel, status and feed, never a personal value: like the probes,
# it is for the cluster's scraper, kept off the public ingress (README, Operations).
PUBLIC = {("GET", path): everyone(200) for path in (
    "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/healthz", "/readyz",
    "/metrics")}

ROWS: dict[str, dict[tuple[str, str], dict[Role, Any]]] = {
    "registry": PUBLIC | {
        ("POST", "/v1/cases"): ok(Role.caseworker, Role.supervisor, status=201),
        ("GET", "/v1/cases"): ok(Role.caseworker, Role.supervisor),
        ("GET", "/v1/cases/{case_id}"): caseload(),
        ("PATCH", "/v1/cases/{case_id}"): caseload(),
        ("POST", "/v1/cases/{case_id}/transitions"): caseload(),
        ("GET", "/v1/cases/{case_id}/history"): caseload(),
        ("POST", "/v1/cases/{case_id}/delegations"): ok(Role.supervisor, status=201),
        ("DELETE", "/v1/cases/{case_id}/delegations/{delegation_id}"):
            ok(Role.supervisor, status=204),
        # The right to erasure: supervisors only, on any case (idempotent: 200 again).
        ("POST", "/v1/cases/{case_id}/erasure"): ok(Role.supervisor),
        ("GET", "/v1/desk/cases"): ok(Role.officer, Role.supervisor),
        ("GET", "/v1/changes"): ok(Role.service),
        ("GET", "/v1/audit"): ok(Role.supervisor),
    },
    "checkin": PUBLIC | {
        ("POST", "/v1/cases/{case_id}/pin"): caseload(201),
        ("GET", "/v1/cases/{case_id}/checkins"): caseload(),
        # The person's attendance statement: their caseworker (or a delegate) or a supervisor.
        ("GET", "/v1/cases/{case_id}/statement"): caseload(),
        ("POST", "/v1/expected-checkins/{expected_id}/excusal"): caseload(),
        ("GET", "/v1/follow-ups"): ok(Role.caseworker, Role.supervisor),
        ("POST", "/v1/follow-ups/{follow_up_id}/acknowledge"): caseload(),
        ("POST", "/v1/follow-ups/{follow_up_id}/close"): caseload(),
        # The reporting desk: an officer records whoever stands in front of them.
        # The desk records for anyone; a caseworker within their caseload.
        ("POST", "/v1/checkins"): caseload(201) | {Role.officer: 201},
        # Its next window, by reference: the registry's desk roles exactly.
        ("GET", "/v1/desk/cases"): ok(Role.officer, Role.supervisor),
        ("POST", "/v1/outages"): ok(Role.supervisor, status=201),
        ("GET", "/v1/outages"): ok(Role.caseworker, Role.supervisor),
        ("GET", "/v1/summaries/attendance"): ok(Role.authority, Role.supervisor),
        # Twilio's webhooks: a signature, not a role, opens them; a token opens nothing.
        **{("POST", f"/v1/twilio/{path}"): everyone(403) for path in (
            "sms", "voice", "voice/prompt", "voice/language", "voice/reference", "voice/pin")},
        ("GET", "/v1/changes"): ok(Role.service),
        ("GET", "/v1/audit"): ok(Role.supervisor),
    },
    "notifications": PUBLIC | {
        ("GET", "/v1/cases/{case_id}/notifications"): caseload(),
        # Twilio's webhook: a signature, not a role, opens it; a token opens nothing.
        ("POST", "/v1/twilio/status"): everyone(403),
        ("GET", "/v1/changes"): ok(Role.service),
        ("GET", "/v1/audit"): ok(Role.supervisor),
    },
}


def app_routes(app) -> Iterator[tuple[str, str]]:
    """Every (method, path) the app answers, HEAD aside, included routers walked."""
    def walk(routes, prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            if hasattr(route, "original_router"):  # FastAPI's included router
                yield from walk(route.original_router.routes,
                                prefix + route.include_context.prefix)
            else:
                for method in sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"}):
                    yield method, prefix + route.path
    return walk(app.routes, "")


def expected(row: dict[Role, Any], role: Role, kind: str) -> int:
    rule = row[role]
    if isinstance(rule, tuple):  # a caseworker on a caseload route
        return rule[1] if kind in ("assigned", "delegated") else 404
    return rule


def until() -> str:
    return (date.today() + timedelta(days=7)).isoformat()


@pytest.fixture
async def notifications(database_urls):
    from notifications.app import create_app

    settings = notifications_settings(database_urls["notifications"], WAYMARK_NOTIFY_RATE=0)
    async with rolled_back(create_app(settings)) as app, \
            client_for(app, "notifications") as client:
        client.app = app
        yield client


@pytest.fixture
async def checkin(database_urls):
    from checkin.app import create_app

    settings = checkin_settings(database_urls["checkin"], WAYMARK_CHECKIN_JOBS_SECONDS=0)
    async with rolled_back(create_app(settings)) as app, client_for(app, "checkin") as client:
        client.app = app
        yield client


# --- the cases each service holds, by kind ----------------------------------------------


async def registry_cases(registry, role: Role) -> dict[str, dict[str, Any]]:
    """For each kind a case: assigned to the caller, someone else's delegated to the
    caller, someone else's; each with a delegation to another caseworker to revoke."""
    supervisor = auth("supervisor", sub="matrix-lead")
    cases = {}
    for kind in KINDS:
        owner = sub(role) if kind == "assigned" else "someone-else"
        created = await registry.post("/v1/cases", json=case_body(caseworker=owner),
                                      headers=supervisor)
        assert created.status_code == 201, created.text
        case = created.json()
        url = f"/v1/cases/{case['id']}/delegations"
        for to in ([sub(role)] if kind == "delegated" else []) + ["cover"]:
            response = await registry.post(url, headers=supervisor,
                                           json={"to": to, "until": until(), "reason": "leave"})
            assert response.status_code == 201, response.text
            case["delegation_id"] = response.json()["id"]
        cases[kind] = case
    return cases


async def notifications_cases(notifications, role: Role) -> dict[str, dict[str, Any]]:
    """The same three kinds, as the registry's feed delivers them to notifications."""
    from tests.notifications.helpers import from_registry

    cases = {}
    for kind in KINDS:
        change = case_change(caseworker=sub(role) if kind == "assigned" else "someone-else")
        if kind == "delegated":
            change.data["delegations"] = [{"to": sub(role), "until": until()}]
        await from_registry(notifications.app, change)
        cases[kind] = {"id": change.data["id"]}
    return cases


async def checkin_cases(checkin, role: Role) -> dict[str, dict[str, Any]]:
    """The same three kinds, as the registry's feed delivers them to checkin, each with
    its first expected check-in and a follow-up open on it."""
    from checkin.cases import get_case
    from checkin.enums import FollowUpKind
    from checkin.follow_ups import open_follow_up
    from checkin.models import ExpectedCheckin

    from tests.checkin.helpers import apply

    cases = {}
    for kind in KINDS:
        change = case_change(caseworker=sub(role) if kind == "assigned" else "someone-else")
        if kind == "delegated":
            change.data["delegations"] = [{"to": sub(role), "until": until()}]
        await apply(checkin.app, change)
        case_id = uuid.UUID(change.data["id"])
        async with checkin.app.state.sessionmaker() as session, session.begin():
            case = await get_case(session, case_id=case_id)
            follow_up = await open_follow_up(session, case=case, kind=FollowUpKind.pin_locked,
                                             detail="matrix")
            [expected] = (await session.execute(
                sa.select(ExpectedCheckin.id).where(ExpectedCheckin.case_id == case_id)
                .order_by(ExpectedCheckin.opens_at).limit(1))).scalars()
        cases[kind] = {"id": str(case_id), "reference": change.data["reference"],
                       "expected_id": str(expected),
                       "follow_up_id": str(follow_up.id)}
    return cases


def build(method: str, path: str, case: dict[str, Any]) -> dict[str, Any]:
    """A valid request for the route, naming ``case`` where it names one."""
    url = path.format(case_id=case["id"], delegation_id=case.get("delegation_id"),
                      expected_id=case.get("expected_id"), follow_up_id=case.get("follow_up_id"))
    bodies: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
        ("POST", "/v1/cases"): lambda: {"json": case_body()},
        ("PATCH", "/v1/cases/{case_id}"): lambda: {"json": {"programme": "matrix"}},
        ("POST", "/v1/cases/{case_id}/transitions"):
            lambda: {"json": {"to": "suspended", "reason": "in hospital"}},
        ("POST", "/v1/cases/{case_id}/delegations"):
            lambda: {"json": {"to": "relief", "until": until(), "reason": "leave"}},
        ("POST", "/v1/cases/{case_id}/erasure"):
            lambda: {"json": {"reason": "the person asked for erasure"}},
        ("GET", "/v1/desk/cases"): lambda: {"params": {"reference": case.get("reference")}},
        ("POST", "/v1/checkins"): lambda: {"json": {
            "case_id": case["id"], "reporting_centre": "Croydon",
            "identity_confirmed_by": "document"}},
        ("POST", "/v1/expected-checkins/{expected_id}/excusal"):
            lambda: {"json": {"reason": "in hospital"}},
        ("POST", "/v1/follow-ups/{follow_up_id}/close"): lambda: {"json": {"note": "done"}},
        ("POST", "/v1/outages"): lambda: {"json": {
            "channel": "sms", "starts_at": "2026-12-01T08:00:00Z",
            "ends_at": "2026-12-01T09:00:00Z", "reason": "carrier down"}},
        ("GET", "/v1/summaries/attendance"):
            lambda: {"params": {"from": "2026-12-01", "to": "2026-12-31"}},
        ("POST", "/v1/twilio/status"): lambda: {"data": {
            "MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}},
    }
    return {"method": method, "url": url, **bodies.get((method, path), dict)()}


def matrix(service: str) -> list:
    return [pytest.param(method, path, role, id=f"{method} {path} {role}")
            for (method, path) in ROWS[service]
            if (method, path) not in PUBLIC  # test_public_routes
            for role in ROLES]


async def check(client, cases: dict[str, dict[str, Any]], method: str, path: str,
                role: Role, row: dict[Role, Any]) -> None:
    seen = {}
    for kind, case in cases.items():
        response = await client.request(**build(method, path, case),
                                        headers=auth(role, sub=sub(role)))
        seen[kind] = response.status_code
        if response.status_code in (403, 404):
            assert "Amina" not in response.text, response.text
    assert seen == {kind: expected(row, role, kind) for kind in KINDS}


def names_a_case(path: str) -> bool:
    return any(name in path for name in ("{case_id}", "{expected_id}", "{follow_up_id}")) \
        or path in ("/v1/desk/cases", "/v1/checkins")


@pytest.mark.parametrize(("method", "path", "role"), matrix("registry"))
async def test_registry(registry, method, path, role):
    # Routes that name no case answer alike for each kind: no case needed to show it.
    cases = (await registry_cases(registry, role) if names_a_case(path)
             else dict.fromkeys(KINDS, {"id": None}))
    await check(registry, cases, method, path, role, ROWS["registry"][(method, path)])


@pytest.mark.parametrize(("method", "path", "role"), matrix("notifications"))
async def test_notifications(notifications, method, path, role):
    cases = (await notifications_cases(notifications, role) if names_a_case(path)
             else dict.fromkeys(KINDS, {"id": None}))
    await check(notifications, cases, method, path, role,
                ROWS["notifications"][(method, path)])


@pytest.mark.parametrize(("method", "path", "role"), matrix("checkin"))
async def test_checkin(checkin, method, path, role):
    cases = (await checkin_cases(checkin, role) if names_a_case(path)
             else dict.fromkeys(KINDS, {"id": None}))
    await check(checkin, cases, method, path, role, ROWS["checkin"][(method, path)])


def make_app(service: str, database_urls):
    if service == "registry":
        from registry.app import create_app
        return create_app(registry_settings(database_urls["registry"]))
    if service == "checkin":
        from checkin.app import create_app
        return create_app(checkin_settings(database_urls["checkin"]))
    from notifications.app import create_app
    return create_app(notifications_settings(database_urls["notifications"]))


@pytest.mark.parametrize("service", ROWS)
def test_every_route_has_a_row(service, database_urls):
    assert set(app_routes(make_app(service, database_urls))) == set(ROWS[service])


@pytest.mark.parametrize("service", ROWS)
async def test_public_routes(service, database_urls):
    """Documentation, health and readiness answer every role as they answer no token
    (run on the app as deployed: readiness waits on a database a rolled-back test
    transaction holds)."""
    app = make_app(service, database_urls)
    async with LifespanManager(app), client_for(app, service) as client:
        for method, path in PUBLIC:
            anonymous = (await client.request(method, path)).status_code
            assert anonymous == 200, path
            for role in ROLES:
                response = await client.request(method, path, headers=auth(role, sub=sub(role)))
                assert response.status_code == anonymous, (path, role)
