"""Dependencies the checkin routers share."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from checkin.service import PinPolicy
from shared.auth import Principal, Role, require_roles
from shared.crypto import PhoneVault
from shared.errors import Forbidden

Caseworker = Annotated[Principal, require_roles(Role.caseworker, Role.supervisor)]
Officer = Annotated[Principal, require_roles(Role.officer, Role.caseworker, Role.supervisor)]
Supervisor = Annotated[Principal, require_roles(Role.supervisor)]


def _policy(request: Request) -> PinPolicy:
    settings = request.app.state.settings
    return PinPolicy(key=settings.pin_key, max_failures=settings.pin_max_failures,
                     window=timedelta(minutes=settings.pin_failure_window_minutes),
                     lock=timedelta(minutes=settings.pin_lock_minutes))


def _vault(request: Request) -> PhoneVault:
    return request.app.state.vault


async def _twilio_form(request: Request) -> dict[str, str]:
    """The webhook's form fields, once ``X-Twilio-Signature`` proves Twilio sent them.
    The signature covers the URL Twilio called, which behind a proxy is the configured
    public URL, not the one this process sees."""
    body = await request.body()
    params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    url = request.app.state.settings.base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not request.app.state.twilio_validator.validate(url, params, signature):
        raise Forbidden("The request is not signed by Twilio.")
    return params


PolicyDep = Annotated[PinPolicy, Depends(_policy)]
VaultDep = Annotated[PhoneVault, Depends(_vault)]
TwilioForm = Annotated[dict[str, str], Depends(_twilio_form)]
