"""``waymark simulate sms | call``: the person's phone, played against the running
checkin service. Each request is signed as Twilio signs it (``RequestValidator``), with
Twilio's sid shapes and the configured account, so it takes the same path a real text
or call takes; the answers are TwiML, read out here as the person would read or hear
them, in their language.

A call follows the TwiML as Twilio would: ``<Say>`` is heard, ``<Gather>`` waits for
keys (from ``--digits``, one entry per question, or typed when it is not given) and
posts them to its ``action``; no keys moves on to what follows the ``<Gather>``;
``<Redirect>`` is followed; ``<Hangup>`` ends the call. ``--reminder`` answers
Waymark's own reminder call instead: the person presses 1 at "press 1 to check in
now", which Twilio posts to checkin as our outbound call's keys.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx
import phonenumbers
from twilio.request_validator import RequestValidator

# Waymark's own number as Twilio would send it (the simulated services do not check it).
OUR_NUMBER = "+15005550006"
MAX_STEPS = 60  # a conversation that never hangs up is a bug, not a reason to spin


class SimulationError(Exception):
    """Something the person at the keyboard can fix: said in one sentence."""


def e164(number: str) -> str:
    """``number`` if it is a possible international number in E.164 form."""
    message = (f"--from must be a phone number in E.164 form, with + and the country "
               f"code, such as +447911123456 (got {number!r})")
    if not number.startswith("+"):
        raise SimulationError(message)
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        raise SimulationError(message) from None
    if not phonenumbers.is_possible_number(parsed):
        raise SimulationError(message)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@dataclass
class Phone:
    """The person's phone. ``public_url`` is checkin's URL as Twilio calls it (what the
    signature covers); requests go to ``client``, which knows where checkin listens."""

    number: str
    client: httpx.AsyncClient
    public_url: str
    account_sid: str
    auth_token: str
    say: Callable[[str], None] = print
    ask: Callable[[str], str] | None = None  # interactive keys; None: no keys
    heard: list[str] = field(default_factory=list)

    async def _post(self, url: str, params: dict[str, str]) -> str:
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        split = urlsplit(url)
        path = split.path + (f"?{split.query}" if split.query else "")
        try:
            response = await self.client.post(path, data=params,
                                              headers={"X-Twilio-Signature": signature})
        except httpx.TransportError:
            raise SimulationError(
                f"checkin does not answer at {self.client.base_url}: start the services "
                f"with `make run` (or `waymark run`) first") from None
        if response.status_code != 200:
            detail = response.json().get("detail", "") if response.headers.get(
                "content-type", "").endswith("json") else response.text[:200]
            raise SimulationError(f"checkin refused the request ({response.status_code}): "
                                  f"{detail}")
        return response.text

    async def sms(self, body: str) -> list[str]:
        """Text ``body`` to Waymark; what the person reads back."""
        params = {"MessageSid": f"SM{uuid.uuid4().hex}", "SmsSid": "",
                  "AccountSid": self.account_sid, "From": self.number, "To": OUR_NUMBER,
                  "Body": body, "NumMedia": "0"}
        params["SmsSid"] = params["MessageSid"]
        twiml = await self._post(f"{self.public_url}/v1/twilio/sms", params)
        messages = [_text(message) for message in ET.fromstring(twiml).iter("Message")]
        for message in messages:
            self._out(f"reads: {message}")
        if not messages:
            self._out("(no reply)")
        return messages

    async def call(self, digits: list[str] | None = None, *, reminder: bool = False) -> None:
        """Call Waymark (or answer its reminder call and press 1) and follow the call to
        its end; ``digits`` answers each question in turn, then silence."""
        keys = list(digits) if digits is not None else None
        params = {"CallSid": f"CA{uuid.uuid4().hex}", "AccountSid": self.account_sid}
        if reminder:
            params |= {"From": OUR_NUMBER, "To": self.number, "Direction": "outbound-api",
                       "Digits": "1"}
            self._out("answers Waymark's reminder call and presses 1")
        else:
            params |= {"From": self.number, "To": OUR_NUMBER, "Direction": "inbound"}
        url = f"{self.public_url}/v1/twilio/voice"
        twiml = await self._post(url, params)
        base = {k: v for k, v in params.items() if k != "Digits"}
        for _ in range(MAX_STEPS):
            next_url, pressed = self._listen(ET.fromstring(twiml), keys)
            if next_url is None:
                self._out("(the call ends)")
                return
            url = urljoin(url, next_url)
            twiml = await self._post(url, base | ({"Digits": pressed} if pressed else {}))
        raise SimulationError(f"the call did not end after {MAX_STEPS} steps")

    def _listen(self, response: ET.Element, keys: list[str] | None
                ) -> tuple[str | None, str | None]:
        """Play one TwiML document: where the call goes next, with which keys (``None``:
        it ends)."""
        for verb in response:
            if verb.tag == "Say":
                self._out(f"hears: {_text(verb)}")
            elif verb.tag == "Gather":
                for say in verb.iter("Say"):
                    self._out(f"hears: {_text(say)}")
                pressed = self._keys(keys)
                if pressed:
                    return verb.get("action") or "", pressed
                self._out("(presses nothing)")
            elif verb.tag == "Redirect":
                return _text(verb), None
            elif verb.tag == "Hangup":
                return None, None
        return None, None

    def _keys(self, keys: list[str] | None) -> str:
        if keys is not None:
            pressed = keys.pop(0) if keys else ""
        elif self.ask is not None:
            pressed = self.ask("keys (Enter for none): ").strip()
        else:
            pressed = ""
        if pressed:
            self._out(f"presses {pressed}")
        return pressed

    def _out(self, line: str) -> None:
        self.heard.append(line)
        self.say(f"  {line}")


def _text(element: ET.Element) -> str:
    return "".join(element.itertext()).strip()
