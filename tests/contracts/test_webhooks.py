"""Twilio's webhooks, fuzzed: whatever a signed request carries (text in any script,
digits that are not ASCII, thousands of keypresses, sids of the wrong shape, missing or
extra fields), the answer is never a 5xx. Unsigned requests never get past the
signature check, so the fuzzing signs every request the way Twilio does."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis.python import asgi
from twilio.request_validator import RequestValidator

from shared.config import DEV_TWILIO_TOKEN

SEED = 20261201
VALIDATOR = RequestValidator(DEV_TWILIO_TOKEN)

CHECKIN_PATHS = ("/v1/twilio/sms", "/v1/twilio/voice", "/v1/twilio/voice/prompt",
                 "/v1/twilio/voice/language", "/v1/twilio/voice/reference",
                 "/v1/twilio/voice/pin")

# Text a phone can send, and text no phone would: other scripts' digits, controls,
# emoji, very long runs.
text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789²³¹٠١٢٣٤٥٦٧٨٩०१२३४५६७८९０１２#*", max_size=30),
    st.text(alphabet="0123456789", min_size=1, max_size=5000),
    st.sampled_from(["", " ", "STOP", "START", "NEXT", "HELP", "CHECKIN 123456", "1", "#"]),
)
ACCOUNT = "AC" + "0" * 32  # the development account both services expect
junk_sid = st.one_of(st.text(max_size=50), st.just("SM" + "0" * 32 + "NumMedia0"),
                     st.from_regex(r"\A(SM|MM|CA)[0-9a-f]{32}\Z"))


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """Well formed three times in four, so the work behind the checks runs too."""
    return st.one_of(good, good, good, bad)


message_sid = mostly(st.from_regex(r"\A(SM|MM)[0-9a-f]{32}\Z"), junk_sid)
call_sid = mostly(st.from_regex(r"\ACA[0-9a-f]{32}\Z"), junk_sid)
number = st.one_of(st.from_regex(r"\A\+44791112345[0-9]\Z"), st.text(max_size=20))
status = st.one_of(
    st.sampled_from(["queued", "sent", "delivered", "undelivered", "failed", "busy",
                     "no-answer", "canceled", "completed", "in-progress", "ringing", "read"]),
    st.text(max_size=20),
)
form = st.fixed_dictionaries({
    # Another account is refused before any work (tests/checkin covers it): fuzz ours.
    "AccountSid": st.just(ACCOUNT), "MessageSid": message_sid,
    "CallSid": call_sid,
}, optional={
    "SmsSid": message_sid, "From": number, "To": number, "Body": text, "Digits": text,
    "NumMedia": text, "MessageStatus": status, "CallStatus": status, "ErrorCode": text,
    "lang": text, "case": text, "step": text,
})


def signed_post(client, base_url: str, path: str, params: dict[str, str]):
    # A query string Twilio would also sign: the voice steps carry state there.
    signature = VALIDATOR.compute_signature(base_url + path, params)
    return client.post(path, data=urlencode(params), headers={
        "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})


def _fuzz(app, base_url: str, paths: tuple[str, ...]) -> list[str]:
    failures: list[str] = []
    answered: set[int] = set()
    refused: list[str] = []
    client = asgi.get_client(app)

    @seed(SEED)
    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(paths), params=form)
    def run(path, params):
        response = signed_post(client, base_url, path, params)
        answered.add(response.status_code)
        if "not signed by Twilio" in response.text:
            refused.append(path)
        if response.status_code >= 500:
            failures.append(f"{path} {sorted(params)}: {response.status_code}")

    run()
    assert not refused, "a signed request was refused: the fuzzing signs wrongly"
    assert answered & {200, 204}, answered
    return failures


def test_no_signed_checkin_webhook_gets_a_server_error(schemas):
    app = schemas["checkin"].app
    failures = _fuzz(app, app.state.settings.base_url, CHECKIN_PATHS)
    assert not failures, "\n".join(failures[:20])


def test_no_signed_delivery_status_gets_a_server_error(schemas):
    app = schemas["notifications"].app
    failures = _fuzz(app, app.state.settings.base_url, ("/v1/twilio/status",))
    assert not failures, "\n".join(failures[:20])
