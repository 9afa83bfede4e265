"""A fake Twilio REST API, run as a real HTTP server.

Tests and the SMS/voice benchmark need to exercise the real ``twilio`` client over the network
without reaching Twilio: this server answers the few Messages/Calls endpoints Waymark uses with
Twilio-shaped JSON, records every request, and can be scripted (``/_fake/...``) to fail, slow down
or report throughput. It is a raw ASGI callable, not FastAPI, because the benchmark drives it at
thousands of requests per second on a small machine.

Run standalone: ``python -m tests.support.twilio_server --port 8765``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import math
import secrets
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

API_PREFIX = "/2010-04-01/Accounts/"
DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "dev-twilio-token"
REPO_ROOT = Path(__file__).resolve().parents[2]

# Filters the twilio client sends for list(); "X>" and "X<" are on-or-after / on-or-before.
TIME_FILTERS = {"Messages": "DateSent", "Calls": "StartTime"}
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "The 'To' number is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}
JSON_HEADERS = [(b"content-type", b"application/json")]


def rfc2822(t: float) -> str:
    """Twilio's date format, e.g. "Mon, 23 Nov 2026 10:00:00 +0000"."""
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))


def error_body(status: int, code: int) -> dict[str, Any]:
    message = ERROR_MESSAGES.get(code, f"Scripted failure (HTTP {status})")
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def to_dict(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form/query pairs as a dict; a repeated key (StatusCallbackEvent) keeps all values in a list."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key not in out:
            out[key] = value
        elif isinstance(out[key], list):
            out[key].append(value)
        else:
            out[key] = [out[key], value]
    return out


def parse_time(value: str) -> tuple[float, bool]:
    """(epoch seconds, whether only a date was given) for a filter value."""
    value = value.strip()
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp(), True
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp(), False


def max_per_window(times: list[float], window: float = 1.0) -> int:
    """Largest number of times falling within any half-open window of the given length."""
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


class FakeTwilio:
    """The ASGI app. All state lives here; one event loop means no locking is needed."""

    def __init__(self, account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = DEFAULT_AUTH_TOKEN):
        self.account_sid = account_sid
        self.auth_token = auth_token
        token = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._auth_header = f"Basic {token}".encode()
        self.reset()

    def reset(self) -> None:
        self.records: list[dict[str, Any]] = []
        # Per resource, (created time, resource) in creation order.
        self.created: dict[str, list[tuple[float, dict[str, Any]]]] = {"Messages": [], "Calls": []}
        self.by_sid: dict[str, dict[str, Any]] = {}
        self.failures: list[dict[str, Any]] = []
        self.create_times: list[float] = []
        self.seen_messages: set[tuple[str, str]] = set()
        self.duplicates = 0
        self.delay = 0.0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        received = time.time()
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path: str = scope["path"]
        if path.startswith(API_PREFIX):
            delay = self.delay
            status, payload = self._api(scope, body, received)
            if delay > 0:
                await asyncio.sleep(delay)
        elif path.startswith("/_fake/"):
            status, payload = self._control(scope["method"], path, body)
        else:
            status, payload = 404, error_body(404, 20404)
        data = json.dumps(payload).encode()
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [*JSON_HEADERS, (b"content-length", str(len(data)).encode())],
        })
        await send({"type": "http.response.body", "body": data})

    # --- Twilio API -------------------------------------------------------------------------

    def _api(self, scope: dict, body: bytes, received: float) -> tuple[int, Any]:
        method: str = scope["method"]
        path: str = scope["path"]
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        form = parse_qsl(body.decode(), keep_blank_values=True) if body else []
        record: dict[str, Any] = {
            "method": method, "path": path, "query": to_dict(query), "form": to_dict(form),
            "time": received, "status": 0,
        }
        self.records.append(record)
        if self._authorised(scope["headers"]):
            status, payload = self._route(method, path, query, record["form"], received)
        else:
            status, payload = 401, error_body(401, 20003)
        record["status"] = status
        if status == 201:
            record["sid"] = payload["sid"]
        return status, payload

    def _authorised(self, scope_headers: list[tuple[bytes, bytes]]) -> bool:
        for name, value in scope_headers:
            if name == b"authorization":
                return value == self._auth_header
        return False

    def _route(
        self, method: str, path: str, query: list[tuple[str, str]], form: dict[str, Any], now: float
    ) -> tuple[int, Any]:
        # ['', '2010-04-01', 'Accounts', sid, 'Messages.json'] or [..., 'Messages', 'SM....json']
        parts = path.split("/")
        if len(parts) < 5 or parts[3] != self.account_sid:
            return 404, error_body(404, 20404)
        if len(parts) == 5 and parts[4] in ("Messages.json", "Calls.json"):
            resource = parts[4][:-5]
            if method == "POST":
                return self._create(resource, form, now)
            if method == "GET":
                return self._list(resource, path, query)
        if len(parts) == 6 and parts[4] in ("Messages", "Calls") and method == "GET":
            found = self.by_sid.get(parts[5].removesuffix(".json"))
            if found is not None:
                return 200, found
        return 404, error_body(404, 20404)

    def _scripted_failure(self, resource: str, to: str | None) -> tuple[int, Any] | None:
        for rule in list(self.failures):
            if rule["until"] is not None and time.monotonic() >= rule["until"]:
                self.failures.remove(rule)  # an outage that is over
                continue
            if rule["resource"] not in (None, resource) or rule["to"] not in (None, to):
                continue
            if rule["until"] is not None:  # timed: every matching create fails until then
                return rule["status"], error_body(rule["status"], rule["code"])
            rule["times"] -= 1
            if rule["times"] <= 0:
                self.failures.remove(rule)
            return rule["status"], error_body(rule["status"], rule["code"])
        return None

    def _create(self, resource: str, form: dict[str, Any], now: float) -> tuple[int, Any]:
        to = form.get("To")
        if self.failures:
            failure = self._scripted_failure(resource, to)
            if failure is not None:
                return failure
        if not to or not form.get("From") and not form.get("MessagingServiceSid"):
            return 400, {**error_body(400, 21604), "message": "A 'To' and 'From' number are required."}
        stamp = rfc2822(now)
        prefix = "SM" if resource == "Messages" else "CA"
        sid = prefix + secrets.token_hex(16)
        uri = f"{API_PREFIX}{self.account_sid}/{resource}/{sid}.json"
        common = {
            "sid": sid, "account_sid": self.account_sid, "api_version": "2010-04-01",
            "to": to, "from": form.get("From"), "status": "queued", "direction": "outbound-api",
            "date_created": stamp, "date_updated": stamp, "price": None, "price_unit": "USD",
            "uri": uri,
        }
        if resource == "Messages":
            body = form.get("Body") or ""
            segments = 1 if len(body) <= 160 else math.ceil(len(body) / 153)
            item = {
                **common, "body": body, "date_sent": stamp, "num_segments": str(segments),
                "num_media": "0", "messaging_service_sid": form.get("MessagingServiceSid"),
                "error_code": None, "error_message": None,
                "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            }
            key = (to, body)
            if key in self.seen_messages:
                self.duplicates += 1
            else:
                self.seen_messages.add(key)
        else:
            item = {
                **common, "start_time": stamp, "end_time": None, "duration": None,
                "parent_call_sid": None, "to_formatted": to, "from_formatted": form.get("From"),
                "answered_by": None, "caller_name": None, "forwarded_from": None, "group_sid": None,
                "phone_number_sid": None, "queue_time": "0", "trunk_sid": None,
                "subresource_uris": {},
            }
        self.created[resource].append((now, item))
        self.by_sid[sid] = item
        self.create_times.append(now)
        return 201, item

    def _list(self, resource: str, path: str, query: list[tuple[str, str]]) -> tuple[int, Any]:
        params = dict(query)
        field = TIME_FILTERS[resource]
        try:
            page = int(params.get("Page", 0))
            page_size = min(max(int(params.get("PageSize", 50)), 1), 1000)
            bounds = [
                (op, *parse_time(params[field + op])) for op in (">", "<", "") if field + op in params
            ]
        except ValueError as exc:
            return 400, {**error_body(400, 20001), "message": f"Invalid parameter: {exc}"}
        to, from_ = params.get("To"), params.get("From")
        matches = []
        # Newest first, as Twilio lists them; times compare at whole seconds like Twilio's dates.
        for created, item in reversed(self.created[resource]):
            if to and item["to"] != to or from_ and item["from"] != from_:
                continue
            second = math.floor(created)
            if all(_within(second, op, bound, date_only) for op, bound, date_only in bounds):
                matches.append(item)
        start = page * page_size
        items = matches[start:start + page_size]
        kept = [(k, v) for k, v in query if k not in ("Page", "PageToken", "PageSize")]

        def uri(n: int) -> str:
            return f"{path}?{urlencode([*kept, ('PageSize', page_size), ('Page', n)])}"

        return 200, {
            resource.lower(): items, "page": page, "page_size": page_size,
            "start": start, "end": start + max(len(items) - 1, 0),
            "uri": uri(page), "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) if start + page_size < len(matches) else None,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
        }

    # --- control ----------------------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        try:
            options = json.loads(body) if body else {}
        except ValueError:
            return 400, {"error": "body must be JSON"}
        if method == "GET" and path == "/_fake/requests":
            return 200, self.records
        if method == "GET" and path == "/_fake/stats":
            return 200, self.stats()
        if method == "POST" and path == "/_fake/reset":
            self.reset()
            return 200, {"ok": True}
        if method == "POST" and path == "/_fake/delay":
            self.delay = float(options.get("seconds", 0))
            return 200, {"ok": True}
        if method == "POST" and path == "/_fake/fail":
            status = options.get("status")
            if not isinstance(status, int):
                return 400, {"error": "status (int) is required"}
            code = options.get("code") or {429: 20429, 500: 20500}.get(status, 20000 + status)
            seconds = options.get("seconds")
            self.failures.append({
                "status": status, "code": code, "times": int(options.get("times", 1)),
                "to": options.get("to"), "resource": options.get("resource"),
                "until": time.monotonic() + float(seconds) if seconds else None,
            })
            return 200, {"ok": True}
        return 404, {"error": f"no control endpoint {method} {path}"}

    def stats(self) -> dict[str, Any]:
        times = self.create_times
        return {
            "created": len(times),
            "duplicates": self.duplicates,
            "max_per_second": max_per_window(times),
            "first": min(times) if times else None,
            "last": max(times) if times else None,
        }


def _within(second: int, op: str, bound: float, date_only: bool) -> bool:
    if op == ">":
        return second >= bound
    if op == "<":
        return second < bound + 86400 if date_only else second <= bound
    return bound <= second < bound + 86400 if date_only else second == bound


class TwilioServer:
    """Runs the fake in a subprocess (a real port, like production) and scripts it over HTTP."""

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        port: int | None = None,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None
        self._http: Any = None

    def __enter__(self) -> TwilioServer:
        import httpx  # the server process itself never needs it

        command = [
            sys.executable, "-m", "tests.support.twilio_server", "--port", str(self.port),
            "--account-sid", self.account_sid, "--auth-token", self.auth_token,
        ]
        self._process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
        self._http = httpx.Client(base_url=self.url, timeout=10)
        deadline = time.monotonic() + 10
        while True:
            try:
                self._http.get("/_fake/stats").raise_for_status()
                return self
            except httpx.TransportError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"fake Twilio server did not start on {self.url}") from None
                time.sleep(0.05)

    def __exit__(self, *exc_info: object) -> None:
        if self._http is not None:
            self._http.close()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def _post(self, path: str, payload: dict[str, Any] | None = None) -> None:
        self._http.post(path, json=payload or {}).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        """Every Twilio API request received, oldest first."""
        return self._http.get("/_fake/requests").json()

    def reset(self) -> None:
        self._post("/_fake/reset")

    def fail(
        self,
        *,
        status: int,
        code: int | None = None,
        times: int = 1,
        to: str | None = None,
        resource: str | None = None,
        seconds: float | None = None,
    ) -> None:
        """Make the next ``times`` matching creates answer ``status`` with Twilio error ``code``;
        with ``seconds``, every matching create for that long instead (an outage). Rules apply
        in the order given, so a 500 outage then a 429 one is two calls, the second longer."""
        self._post("/_fake/fail", {"status": status, "code": code, "times": times, "to": to,
                                   "resource": resource, "seconds": seconds})

    def delay(self, seconds: float) -> None:
        self._post("/_fake/delay", {"seconds": seconds})

    def stats(self) -> dict[str, Any]:
        return self._http.get("/_fake/stats").json()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    args = parser.parse_args(argv)
    fast: dict[str, str] = {}
    if importlib.util.find_spec("httptools"):
        fast["http"] = "httptools"
    if importlib.util.find_spec("uvloop"):
        fast["loop"] = "uvloop"
    app = FakeTwilio(args.account_sid, args.auth_token)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, **fast)


if __name__ == "__main__":
    main()
