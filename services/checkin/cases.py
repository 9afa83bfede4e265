"""The case copy: looking up the cases this service holds, by id, phone or reference."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.enums import CaseStatus
from checkin.models import CaseCopy
from shared.errors import NotFound

REFERENCE_CHARACTERS = 7
KEYPAD_REFERENCE_DIGITS = 10

# Built once: the SMS and voice paths look cases up by phone on every message.
_CASES_BY_PHONE = (
    sa.select(CaseCopy).where(CaseCopy.phone_hash == sa.bindparam("phone_hash"))
    .order_by(CaseCopy.case_id).with_for_update())


async def get_case(session: AsyncSession, *, case_id: uuid.UUID, for_update: bool = False,
                   missing_ok: bool = False) -> CaseCopy | None:
    """The case, or ``NotFound`` (``None`` with ``missing_ok``)."""
    query = sa.select(CaseCopy).where(CaseCopy.case_id == case_id)
    if for_update:
        query = query.with_for_update()
    case = (await session.execute(query)).scalar_one_or_none()
    if case is None and not missing_ok:
        raise NotFound("No such case.")
    return case


async def cases_by_phone(session: AsyncSession, *, phone_hash: str) -> list[CaseCopy]:
    """Cases registered to a number, active ones first (a family may share a phone)."""
    rows = (await session.execute(_CASES_BY_PHONE, {"phone_hash": phone_hash})).scalars().all()
    return sorted(rows, key=lambda c: c.status != CaseStatus.active)


def reference_code(reference: str) -> str | None:
    """A reference as stored: the letters form (any case, spaces or hyphen, read back as
    ``ABCD-EFG``) or the 10-digit keypad form; ``None`` when it has neither shape (other
    scripts' digits included, which no reference holds)."""
    code = "".join(ch for ch in reference.upper() if ch.isalnum())
    if not code.isascii():
        return None
    if len(code) == KEYPAD_REFERENCE_DIGITS and code.isdigit():
        return code
    if len(code) == REFERENCE_CHARACTERS:
        return f"{code[:4]}-{code[4:]}"
    return None


async def case_by_reference(session: AsyncSession, *, reference: str,
                            for_update: bool = False) -> CaseCopy | None:
    """By either form of its reference (``reference_code``)."""
    code = reference_code(reference)
    if code is None:
        return None
    column = CaseCopy.keypad_reference if code.isdigit() else CaseCopy.reference
    query = sa.select(CaseCopy).where(column == code)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()
