"""Tokens from the organisation's identity provider, as someone calling a service sees
them: RS256 and ES256 tokens checked against a JWKS this test serves on 127.0.0.1, with
the configured issuer and audience, a lifetime no longer than the maximum, roles from
the configured claim; development (HS256) tokens only outside production. Every token
is minted at the moment of its request, around ``datetime.now(UTC)``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
import jwt
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.conftest import client_for, rolled_back, token

AUDIENCE = "waymark"
PEOPLE = "/v1/cases"  # a supervisor's list of cases
SERVICES = "/v1/changes"  # the registry's change feed, for the service role
PRODUCTION = {"env": "production", "phone_keys": Fernet.generate_key().decode(),
              "phone_hash_key": "h" * 40, "TWILIO_AUTH_TOKEN": "t" * 32}


class FakeIdentityProvider:
    """An identity provider on 127.0.0.1: its JWKS at ``/jwks`` and an OAuth2 token
    endpoint at ``/token`` (client credentials, HTTP Basic). ``paths`` lists every
    request it was sent, in order."""

    def __init__(self) -> None:
        self._private: dict[str, Any] = {}
        self.published: list[str] = []
        self.paths: list[str] = []
        self.clients = {"checkin": "checkin-secret:with/odd chars"}
        self.expires_in = 300
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                idp.paths.append(self.path)
                if self.path != "/jwks":
                    self._answer(404, {})
                else:
                    self._answer(200, {"keys": [idp.jwk(kid) for kid in idp.published]})

            def do_POST(self) -> None:
                idp.paths.append(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                self._answer(*idp.token_answer(self.headers.get("Authorization", ""),
                                               parse_qs(body)))

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.jwks_url, self.token_url = f"{self.url}/jwks", f"{self.url}/token"
        self.issuer = f"{self.url}/realms/waymark"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def new_key(self, kind: str = "rsa", *, publish: bool = True) -> str:
        """A new signing key's id (RSA 2048 or EC P-256), published in the JWKS."""
        kid = f"{kind}-{uuid.uuid4().hex[:8]}"
        self._private[kid] = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
                              if kind == "rsa" else ec.generate_private_key(ec.SECP256R1()))
        if publish:
            self.published.append(kid)
        return kid

    def jwk(self, kid: str) -> dict:
        public = self._private[kid].public_key()
        if isinstance(public, rsa.RSAPublicKey):  # no "alg", as Entra publishes them
            return RSAAlgorithm.to_jwk(public, as_dict=True) | {"kid": kid, "use": "sig"}
        return ECAlgorithm.to_jwk(public, as_dict=True) | {"kid": kid, "use": "sig",
                                                           "alg": "ES256"}

    def public_pem(self, kid: str) -> bytes:
        return self._private[kid].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def mint(self, kid: str, *, sub: str = "alice", roles: list[str] | None = None,
             lifetime: timedelta = timedelta(hours=1), issued: timedelta = timedelta(0),
             claims: dict | None = None, omit: tuple[str, ...] = (), signer: str | None = None,
             algorithm: str | None = None) -> str:
        """A token issued ``issued`` from now; ``claims`` replace or add claims,
        ``omit`` removes them, ``signer`` signs with another key under ``kid``."""
        now = datetime.now(UTC) + issued
        payload = {"iss": self.issuer, "aud": AUDIENCE, "sub": sub, "iat": now,
                   "exp": now + lifetime, "roles": roles or ["supervisor"]} | (claims or {})
        for name in omit:
            payload.pop(name)
        key = self._private[signer or kid]
        algorithm = algorithm or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
        return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})

    def token_answer(self, authorization: str, form: dict[str, list[str]]) -> tuple[int, dict]:
        client_id, _, secret = base64.b64decode(authorization.removeprefix("Basic ")) \
            .decode().partition(":")
        client_id, secret = unquote(client_id), unquote(secret)
        if form.get("grant_type") != ["client_credentials"] \
                or self.clients.get(client_id) != secret:
            return 401, {"error": "invalid_client"}
        lifetime = timedelta(seconds=self.expires_in)
        access = self.mint(self.published[0], sub=client_id, roles=["service"], lifetime=lifetime,
                           claims={"jti": uuid.uuid4().hex})  # each token its own
        return 200, {"access_token": access, "token_type": "Bearer",
                     "expires_in": self.expires_in}


@pytest.fixture
def idp():
    provider = FakeIdentityProvider()
    yield provider
    provider.close()


def registry_settings(database_url: str, idp: FakeIdentityProvider | None, **extra):
    from registry.config import RegistrySettings

    trust = {"auth_jwks_url": idp.jwks_url, "auth_issuer": idp.issuer,
             "auth_audience": AUDIENCE, "auth_jwks_refresh_cooldown_seconds": 0} if idp else {}
    return RegistrySettings(WAYMARK_REGISTRY_DATABASE_URL=database_url,
                            **({"env": "test"} | trust | extra))


@asynccontextmanager
async def registry(database_urls, idp, **settings) -> AsyncIterator[httpx.AsyncClient]:
    """The registry app, in process, trusting ``idp`` (if any), writes rolled back."""
    from registry.app import create_app

    app = create_app(registry_settings(database_urls["registry"], idp, **settings))
    async with rolled_back(app), client_for(app, "registry") as client:
        yield client


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="waymark", error="invalid_token"'


@pytest.mark.parametrize("kind", ["rsa", "ec"])
async def test_a_token_signed_by_the_identity_provider_is_accepted(database_urls, idp, kind):
    kid = idp.new_key(kind)
    async with registry(database_urls, idp) as client:
        response = await client.get(PEOPLE, headers=bearer(idp.mint(kid)))
        feed = await client.get(SERVICES, headers=bearer(idp.mint(kid, roles=["service"])))
    assert response.status_code == 200, response.text
    assert feed.status_code == 200, feed.text


def _hmac_signed(secret: bytes, kid: str) -> str:
    """HS256 by hand (PyJWT rightly refuses a public key as an HMAC secret)."""
    def part(value: dict) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")

    now = int(datetime.now(UTC).timestamp())
    signing_input = part({"alg": "HS256", "typ": "JWT", "kid": kid}) + b"." + part(
        {"sub": "alice", "roles": ["supervisor"], "iat": now, "exp": now + 3600})
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


def _flawed(idp: FakeIdentityProvider, flaw: str) -> str:
    kid = idp.published[0]
    hour = timedelta(hours=1)
    tokens = {
        "wrong-issuer": lambda: idp.mint(kid, claims={"iss": "https://idp.example/other"}),
        "no-issuer": lambda: idp.mint(kid, omit=("iss",)),
        "wrong-audience": lambda: idp.mint(kid, claims={"aud": "another-application"}),
        "no-audience": lambda: idp.mint(kid, omit=("aud",)),
        "unknown-kid": lambda: idp.mint(idp.new_key(publish=False)),
        "no-kid": lambda: jwt.encode({"sub": "alice"}, idp._private[kid], algorithm="RS256"),
        "forged": lambda: idp.mint(kid, signer=idp.new_key(publish=False)),
        "algorithm-not-the-keys": lambda: idp.mint(kid, signer=idp.new_key("ec", publish=False)),
        "expired": lambda: idp.mint(kid, issued=-2 * hour, lifetime=hour),
        "not-yet-issued": lambda: idp.mint(kid, issued=timedelta(minutes=5)),
        "person-too-long": lambda: idp.mint(kid, lifetime=timedelta(hours=12, seconds=1)),
        "service-too-long": lambda: idp.mint(kid, roles=["service"], lifetime=2 * hour),
        "service-and-person-too-long": lambda: idp.mint(kid, roles=["supervisor", "service"],
                                                        lifetime=2 * hour),
        "no-iat": lambda: idp.mint(kid, omit=("iat",)),
        "no-exp": lambda: idp.mint(kid, omit=("exp",)),
        "no-sub": lambda: idp.mint(kid, omit=("sub",)),
        "roles-not-a-list": lambda: idp.mint(kid, claims={"roles": "supervisor"}),
        "alg-none": lambda: jwt.encode({"iss": idp.issuer, "aud": AUDIENCE, "sub": "alice",
                                        "roles": ["supervisor"]}, None, algorithm="none",
                                       headers={"kid": kid}),
        # The classic confusion: the provider's public key used as an HMAC secret.
        "hs256-with-the-public-key": lambda: _hmac_signed(idp.public_pem(kid), kid),
        "rs384": lambda: idp.mint(kid, algorithm="RS384"),
    }
    return tokens[flaw]()


FLAWS = ["wrong-issuer", "no-issuer", "wrong-audience", "no-audience", "unknown-kid", "no-kid",
         "forged", "algorithm-not-the-keys", "expired", "not-yet-issued", "person-too-long",
         "service-too-long", "service-and-person-too-long", "no-iat", "no-exp", "no-sub",
         "roles-not-a-list", "alg-none", "hs256-with-the-public-key", "rs384"]


@pytest.mark.parametrize("flaw", FLAWS)
async def test_a_flawed_token_is_401(database_urls, idp, flaw):
    idp.new_key()
    async with registry(database_urls, idp) as client:
        assert (await client.get(PEOPLE, headers=bearer(idp.mint(idp.published[0])))) \
            .status_code == 200  # the same service accepts the same token made right
        assert_refused(await client.get(PEOPLE, headers=bearer(_flawed(idp, flaw))))


async def test_the_maximum_lifetimes_are_accepted_to_the_second_and_are_settings(database_urls,
                                                                                 idp):
    kid = idp.new_key()
    async with registry(database_urls, idp) as client:
        person = idp.mint(kid, lifetime=timedelta(hours=12))
        service = idp.mint(kid, roles=["service"], lifetime=timedelta(hours=1))
        assert (await client.get(PEOPLE, headers=bearer(person))).status_code == 200
        assert (await client.get(SERVICES, headers=bearer(service))).status_code == 200
    async with registry(database_urls, idp, auth_max_token_hours=1) as client:
        assert_refused(await client.get(PEOPLE, headers=bearer(
            idp.mint(kid, lifetime=timedelta(hours=1, seconds=1)))))


async def test_clock_skew_within_the_leeway_is_forgiven(database_urls, idp):
    kid = idp.new_key()
    async with registry(database_urls, idp) as client:
        ahead = idp.mint(kid, issued=timedelta(seconds=20))
        just_expired = idp.mint(kid, issued=timedelta(minutes=-10), lifetime=timedelta(
            minutes=10, seconds=-10))
        assert (await client.get(PEOPLE, headers=bearer(ahead))).status_code == 200
        assert (await client.get(PEOPLE, headers=bearer(just_expired))).status_code == 200


async def test_development_tokens_are_refused_in_production(database_urls, idp):
    kid = idp.new_key()
    development = token("supervisor")
    async with registry(database_urls, idp) as client:  # WAYMARK_ENV=test, as the suite
        assert (await client.get(PEOPLE, headers=bearer(development))).status_code == 200
    async with registry(database_urls, idp, **PRODUCTION) as client:
        assert_refused(await client.get(PEOPLE, headers=bearer(development)))
        assert (await client.get(PEOPLE, headers=bearer(idp.mint(kid)))).status_code == 200


async def test_a_key_rotated_into_the_jwks_is_fetched_and_the_jwks_is_otherwise_cached(
        database_urls, idp):
    old = idp.new_key()
    async with registry(database_urls, idp) as client:
        for _ in range(3):
            assert (await client.get(PEOPLE, headers=bearer(idp.mint(old)))).status_code == 200
        assert idp.paths == ["/jwks"]
        new = idp.new_key("ec")
        idp.published.remove(old)
        assert (await client.get(PEOPLE, headers=bearer(idp.mint(new)))).status_code == 200
        assert idp.paths == ["/jwks", "/jwks"]


async def test_unknown_key_ids_refetch_the_jwks_at_most_once_per_cooldown(database_urls, idp):
    kid = idp.new_key()
    async with registry(database_urls, idp, auth_jwks_refresh_cooldown_seconds=3600) as client:
        assert (await client.get(PEOPLE, headers=bearer(idp.mint(kid)))).status_code == 200
        for _ in range(5):
            assert_refused(await client.get(PEOPLE, headers=bearer(
                idp.mint(idp.new_key(publish=False)))))
    assert idp.paths == ["/jwks"]


async def test_roles_are_read_from_the_configured_claim_path(database_urls, idp):
    kid = idp.new_key()
    keycloak = {"realm_access": {"roles": ["offline_access", "supervisor"]}}
    async with registry(database_urls, idp, auth_roles_claim="realm_access.roles") as client:
        nested = idp.mint(kid, claims=keycloak, omit=("roles",))
        top_level_only = idp.mint(kid, roles=["supervisor"])
        assert (await client.get(PEOPLE, headers=bearer(nested))).status_code == 200
        assert (await client.get(PEOPLE, headers=bearer(top_level_only))).status_code == 403
    namespaced = "https://waymark.example/roles"  # Auth0 and Okta name claims by URL
    async with registry(database_urls, idp, auth_roles_claim=namespaced) as client:
        token_ = idp.mint(kid, claims={namespaced: ["supervisor"]}, omit=("roles",))
        assert (await client.get(PEOPLE, headers=bearer(token_))).status_code == 200


async def test_an_unreachable_identity_provider_is_503_not_a_verdict_on_the_token(
        database_urls, idp):
    kid = idp.new_key()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/jwks"
    async with registry(database_urls, idp, auth_jwks_url=closed) as client:
        response = await client.get(PEOPLE, headers=bearer(idp.mint(kid)))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


@pytest.mark.parametrize(("roles", "hours", "lifetime"), [
    (["caseworker"], None, timedelta(hours=8)),
    (["service"], None, timedelta(hours=1)),
    (["caseworker"], "12", timedelta(hours=12)),
    (["caseworker"], "12.01", None),
    (["service", "supervisor"], "2", None),
    (["caseworker"], "0", None),
    (["caseworker"], "nan", None),
])
def test_waymark_token_never_issues_what_the_services_would_refuse(capsys, roles, hours,
                                                                   lifetime):
    from waymark.cli import main

    argv = ["token", "--sub", "alice", *(a for r in roles for a in ("--role", r))]
    code = main(argv + (["--hours", hours] if hours else []))
    out, err = capsys.readouterr()
    if lifetime is None:
        assert code == 2 and "refusing" in err and not out
        return
    assert code == 0
    claims = jwt.decode(out.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == lifetime.total_seconds()
