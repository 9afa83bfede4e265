"""Dependencies the checkin routers share."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from checkin.config import CheckinSettings
from checkin.pins import PinPolicy
from shared.auth import Principal, Role, require_roles
from shared.crypto import PhoneVault

Caseworker = Annotated[Principal, require_roles(Role.caseworker, Role.supervisor)]
Officer = Annotated[Principal, require_roles(Role.officer, Role.caseworker, Role.supervisor)]
Supervisor = Annotated[Principal, require_roles(Role.supervisor)]
# The desk's view by reference: the registry's desk roles, exactly.
DeskOfficer = Annotated[Principal, require_roles(Role.officer, Role.supervisor)]


def pin_policy(settings: CheckinSettings) -> PinPolicy:
    """The PIN rules from the settings, made once when the app starts."""
    return PinPolicy(key=settings.pin_key, max_failures=settings.pin_max_failures,
                     window=timedelta(minutes=settings.pin_failure_window_minutes),
                     lock=timedelta(minutes=settings.pin_lock_minutes))


# async: FastAPI runs a plain ``def`` dependency in a worker thread, which on a webhook
# that answers in about a millisecond costs more than the work.
async def _policy(request: Request) -> PinPolicy:
    return request.app.state.pin_policy


async def _vault(request: Request) -> PhoneVault:
    return request.app.state.vault


PolicyDep = Annotated[PinPolicy, Depends(_policy)]
VaultDep = Annotated[PhoneVault, Depends(_vault)]
