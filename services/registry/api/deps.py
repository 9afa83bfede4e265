from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from shared.auth import Principal, Role, require_roles
from shared.crypto import PhoneVault
from shared.errors import ValidationFailed

CaseWriter = Annotated[Principal, require_roles(Role.caseworker, Role.supervisor)]
# Officers read cases to confirm who is at the counter; services to reconcile.
CaseReader = Annotated[
    Principal, require_roles(Role.caseworker, Role.supervisor, Role.officer, Role.service)
]


async def _vault(request: Request) -> PhoneVault:
    return request.app.state.vault


async def _languages(request: Request) -> tuple[str, ...]:
    return request.app.state.settings.language_list


async def _if_match(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """The version from an ``If-Match`` ETag; ``*`` or no header means any version."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise ValidationFailed.field("If-Match", "an ETag this service handed out")
    return int(tag)


VaultDep = Annotated[PhoneVault, Depends(_vault)]
LanguagesDep = Annotated[tuple[str, ...], Depends(_languages)]
IfMatch = Annotated[int | None, Depends(_if_match)]


def etag(version: int) -> str:
    return f'"{version}"'
