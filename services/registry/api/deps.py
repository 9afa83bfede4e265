from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, Request

from registry.access import Actor, acting
from shared.auth import CurrentUser, Role
from shared.crypto import PhoneVault
from shared.errors import ValidationFailed


def acting_as(*roles: Role):
    """A dependency: the caller as an ``Actor`` acting as the widest of ``roles`` they
    hold, or 403 (whatever the case named: a role refused everywhere leaks nothing)."""
    allowed = frozenset(roles)

    async def actor(principal: CurrentUser) -> Actor:
        return acting(principal, allowed)

    return Depends(actor)


# A case, in full, is read and written by its caseworkers (their caseload) and by
# supervisors (all). Officers have the desk's view; services the change feed.
CaseWorker = Annotated[Actor, acting_as(Role.caseworker, Role.supervisor)]
Supervisor = Annotated[Actor, acting_as(Role.supervisor)]
DeskOfficer = Annotated[Actor, acting_as(Role.officer, Role.supervisor)]


async def _vault(request: Request) -> PhoneVault:
    return request.app.state.vault


async def _languages(request: Request) -> tuple[str, ...]:
    return request.app.state.settings.language_list


# RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, with etagc any visible
# ASCII but DQUOTE, or obs-text (bytes 0x80-0xFF, which Starlette hands over as latin-1).
# One element of the comma-separated list (§5.6.1), which may be empty.
_ELEMENT = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(?:,|\Z)')
# The tags this service hands out: the version in ASCII digits, below 2^63 (BIGINT).
_OUR_TAG = re.compile(r"[0-9]{1,19}")
_MAX_TAGS = 32


def _entity_tags(header: str) -> list[tuple[bool, str]]:
    """``(weak, opaque)`` for each entity tag in the list; empty elements are skipped,
    as RFC 9110 §5.6.1 asks. Anything else is a 422 naming ``If-Match``."""
    tags: list[tuple[bool, str]] = []
    position = 0
    while position < len(header):
        element = _ELEMENT.match(header, position)
        if element is None:
            raise ValidationFailed.field(
                "If-Match", 'a list of entity tags in quotes, as ETag gave them: "3"')
        weak, opaque = element.groups()
        if opaque is not None:
            tags.append((weak is not None, opaque))
        position = element.end()
    if not tags:
        raise ValidationFailed.field("If-Match", 'no entity tag; send the ETag, such as "3"')
    if len(tags) > _MAX_TAGS:
        raise ValidationFailed.field("If-Match", f"at most {_MAX_TAGS} entity tags")
    return tags


def _parse_if_match(header: str) -> frozenset[int] | None:
    """The versions an ``If-Match`` header accepts; ``None`` means any (``*``).

    RFC 9110 §13.1.1 compares strongly: a weak tag (``W/"3"``) never matches, and an
    opaque tag matches only character for character. So a well-formed tag this service
    could not have handed out (``"²"``, Arabic-Indic ``"١"``, ``"99999999999999999999"``,
    any weak tag) names no version: if no tag in the list names one, the write answers
    **412** (the precondition is false), exactly as for a stale version. A header that
    is not a list of entity tags (``3`` without quotes, ``"3`` unterminated, ``*`` in a
    list, no tag at all, more than 32) is a **422** naming ``If-Match``: the client sent
    something other than it meant, and saying so beats a 412 that hides the slip."""
    if header.strip() == "*":
        return None
    return frozenset(
        int(opaque) for weak, opaque in _entity_tags(header)
        if not weak and _OUR_TAG.fullmatch(opaque) and int(opaque) < 2**63)


async def _if_match(if_match: Annotated[str | None, Header(description=(
        'The ETag of the version you read ("3"); 412 if the case has moved on. Without '
        "it, or with *, the write applies to whatever is current."))] = None,
) -> frozenset[int] | None:
    """The versions an ``If-Match`` ETag list accepts; no header or ``*``: any version
    (``None``). See ``_parse_if_match`` for which answers are 412 and which 422."""
    return None if if_match is None else _parse_if_match(if_match)


VaultDep = Annotated[PhoneVault, Depends(_vault)]
LanguagesDep = Annotated[tuple[str, ...], Depends(_languages)]
IfMatch = Annotated[frozenset[int] | None, Depends(_if_match)]


def etag(version: int) -> str:
    return f'"{version}"'
