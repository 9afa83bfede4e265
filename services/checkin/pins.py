"""PINs: issuing them (only a keyed hash is kept) and checking one a caller entered,
with the lockout that makes guessing hopeless."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.cases import get_case
from checkin.enums import Channel, FollowUpKind
from checkin.events import PinIssued, publish_events
from checkin.follow_ups import open_follow_up, open_once
from checkin.models import CaseCopy, Pin, PinFailure, PinLock
from shared.db import utcnow


def hash_pin(*, key: str, salt: str, case_id: uuid.UUID, pin: str) -> str:
    """HMAC-SHA256 over salt, case and PIN (see ``checkin.models.Pin`` for why)."""
    message = f"{salt}:{case_id}:{pin}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _guessable(pin: str) -> bool:
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
    return len(set(pin)) <= 2 or steps in ({1}, {-1})


def new_pin() -> str:
    """Six random digits, never one a stranger would try first (111111, 123456 …)."""
    while True:
        pin = f"{secrets.randbelow(10**6):06d}"
        if not _guessable(pin):
            return pin


async def issue_pin(session: AsyncSession, *, case_id: uuid.UUID, actor: str, key: str) -> str:
    """A new PIN for the case, returned once; it replaces the old one and lifts a lock."""
    await get_case(session, case_id=case_id, for_update=True)
    pin, salt, now = new_pin(), secrets.token_hex(16), utcnow()
    row = await session.get(Pin, case_id, with_for_update=True)
    if row is None:
        row = Pin(case_id=case_id, salt=salt, hash="", issued_at=now, issued_by=actor)
        session.add(row)
    row.salt, row.issued_at, row.issued_by, row.locked_until = salt, now, actor, None
    row.last_failure_at = None
    row.hash = hash_pin(key=key, salt=salt, case_id=case_id, pin=pin)
    await session.execute(sa.delete(PinFailure).where(PinFailure.case_id == case_id))
    await session.execute(sa.update(PinLock).where(  # every route's lock ends now
        PinLock.case_id == case_id, PinLock.ends_at > now).values(ends_at=now))
    await publish_events(session, PinIssued(case_id=case_id))
    await session.flush()
    return pin


@dataclass(frozen=True, slots=True)
class PinPolicy:
    key: str
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class PinCheck:
    """``case`` is set when a PIN matched; otherwise why not."""

    case: CaseCopy | None = None
    no_pin: bool = False
    locked: bool = False
    tries_left: int = 0


_PIN_CANDIDATES = (
    sa.select(CaseCopy, Pin).join(Pin, Pin.case_id == CaseCopy.case_id)
    .where(CaseCopy.phone_hash == sa.bindparam("phone_hash"))
    .order_by(CaseCopy.case_id).with_for_update())


async def pin_candidates(session: AsyncSession, *,
                         phone_hash: str) -> list[tuple[CaseCopy, Pin]]:
    """The cases on a number that have a PIN, each with it, whatever their status (which
    is told only once the PIN is right): the one read a PIN check-in needs. Both rows
    are locked, so what is read is what is current."""
    rows = await session.execute(_PIN_CANDIDATES, {"phone_hash": phone_hash})
    return [(case, pin) for case, pin in rows]


async def pins_for(session: AsyncSession, *,
                   cases: Sequence[CaseCopy]) -> list[tuple[CaseCopy, Pin]]:
    """The cases (already locked) that have a PIN, each with it."""
    if not cases:
        return []
    pins = {pin.case_id: pin for pin in (await session.execute(
        sa.select(Pin).where(Pin.case_id.in_([c.case_id for c in cases]))
        .with_for_update())).scalars()}
    return [(case, pins[case.case_id]) for case in cases if case.case_id in pins]


def _route_is(route: str | None) -> sa.ColumnElement[bool]:
    return PinFailure.route.is_(None) if route is None else PinFailure.route == route


async def _route_locked(session: AsyncSession, *, case_id: uuid.UUID, route: str,
                        now: datetime) -> bool:
    return await session.scalar(sa.select(sa.exists().where(
        PinLock.case_id == case_id, PinLock.route == route, PinLock.ends_at > now))) or False


async def check_pin(session: AsyncSession, *, candidates: Sequence[tuple[CaseCopy, Pin]],
                    pin: str, channel: Channel, policy: PinPolicy, now: datetime,
                    route: str | None = None) -> PinCheck:
    """Match ``pin`` against the candidate cases and their PINs (usually one; a family
    may share a phone). A wrong PIN counts against every unlocked candidate; the fifth
    inside the window locks telephone and SMS check-in and opens a follow-up.

    ``route`` names a phone that is not the case's own, from which the case's number was
    typed on the keypad (its number's hash, or ``withheld``). Its wrong PINs count, and
    lock, only that phone for that case: a stranger can never lock the person out of
    their own phone or SMS; and the person's own lock does not stop them calling from
    another phone."""
    if not candidates:
        return PinCheck(no_pin=True)
    if route is None:
        open_pins = [(c, p) for c, p in candidates
                     if not (p.locked_until and p.locked_until > now)]
    else:
        open_pins = [(c, p) for c, p in candidates if not await _route_locked(
            session, case_id=c.case_id, route=route, now=now)]
    if not open_pins:
        return PinCheck(locked=True)
    for case, row in open_pins:
        expected = hash_pin(key=policy.key, salt=row.salt, case_id=case.case_id, pin=pin)
        if hmac.compare_digest(expected, row.hash):
            if route is not None or row.last_failure_at is not None:
                # Earlier mistakes by this route no longer count.
                await session.execute(sa.delete(PinFailure).where(
                    PinFailure.case_id == case.case_id, _route_is(route)))
                if route is None:
                    row.last_failure_at = None
            return PinCheck(case=case)
    tries_left = policy.max_failures
    locked = False
    for case, row in open_pins:
        session.add(PinFailure(case_id=case.case_id, channel=channel, at=now, route=route))
        if route is None:
            row.last_failure_at = now
        await session.flush()
        # A new PIN deletes the old failures, so only the window matters here.
        failures = await session.scalar(
            sa.select(sa.func.count()).select_from(PinFailure)
            .where(PinFailure.case_id == case.case_id, _route_is(route),
                   PinFailure.at > now - policy.window))
        if failures >= policy.max_failures:
            locked = True
            await _lock(session, case=case, row=row, route=route, failures=failures,
                        channel=channel, until=now + policy.lock, now=now)
        tries_left = min(tries_left, policy.max_failures - failures)
    await session.flush()
    return PinCheck(locked=locked, tries_left=max(tries_left, 0))


async def _lock(session: AsyncSession, *, case: CaseCopy, row: Pin, route: str | None,
                failures: int, channel: Channel, until: datetime, now: datetime) -> None:
    """Lock one route, keep the lock on record (a window that closes during the
    person's own lock is excused, see ``checkin.outcomes``) and tell the caseworker."""
    session.add(PinLock(case_id=case.case_id, route=route, starts_at=now, ends_at=until))
    if route is None:
        row.locked_until = until
        await open_follow_up(
            session, case=case, kind=FollowUpKind.pin_locked,
            detail=f"{failures} wrong PINs by {channel}: telephone and SMS check-in is "
                   f"paused until {until:%Y-%m-%d %H:%M} UTC. A new PIN lifts it. A check-in "
                   f"window that closes while it is paused is excused (locked out), not missed.")
    else:
        # One open follow-up however many phones someone tries from.
        await open_once(
            session, case=case, kind=FollowUpKind.pin_locked,
            detail=f"{failures} wrong PINs typed after this case's number, from a phone that "
                   f"is not the person's: that phone is paused for this case until "
                   f"{until:%Y-%m-%d %H:%M} UTC. The person's own phone and SMS still work.")
