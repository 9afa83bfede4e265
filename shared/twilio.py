"""Twilio webhooks: the signature check every service's webhook routes depend on."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from shared.errors import Forbidden


async def _twilio_form(request: Request) -> dict[str, str]:
    """The webhook's form fields, once ``X-Twilio-Signature`` proves Twilio sent them.
    The signature covers the URL Twilio called, which behind a proxy is the configured
    public URL, not the one this process sees. The app keeps a
    ``twilio.request_validator.RequestValidator`` in ``app.state.twilio_validator``."""
    body = await request.body()
    params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    url = request.app.state.settings.base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not request.app.state.twilio_validator.validate(url, params, signature):
        raise Forbidden("The request is not signed by Twilio.")
    return params


TwilioForm = Annotated[dict[str, str], Depends(_twilio_form)]
