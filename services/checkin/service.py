"""Checkin logic: plain functions over a session, keyword-only arguments.

Outcomes are never sanctions: a late check-in counts, a missed one opens a follow-up
for the caseworker, and a missed one the system caused (a declared outage) is excused.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from checkin.models import (
    CaseCopy,
    ChangeEvent,
    Checkin,
    ExpectedCheckin,
    FollowUp,
    Outage,
    Pin,
    PinFailure,
    Reply,
    VoiceCall,
)
from checkin.schedule import Requirement, windows
from shared.changefeed import Change, publish, publish_many
from shared.db import UTCDateTime, dialect_insert, utcnow
from shared.errors import Conflict, NotFound

CASE_EVENTS = frozenset({"case.created", "case.updated", "case.status_changed"})
ATTENDED = ("on_time", "late")


async def _publish(session: AsyncSession, type: str, subject_id: uuid.UUID,
                   data: dict[str, Any]) -> None:
    await publish(session, ChangeEvent, type=type, subject_id=str(subject_id), data=data)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# --- the case copy and its schedule -------------------------------------------------


async def apply_registry_change(session: AsyncSession, change: Change, *,
                                horizon_days: int = 56) -> None:
    """Keep the case copy current and re-plan its schedule. Events carry the whole case,
    so applying one is an upsert; one older than the copy (a replay, or out of order)
    changes nothing."""
    if change.type not in CASE_EVENTS:
        return
    data = change.data
    case_id = uuid.UUID(data["id"])
    copy = await get_case(session, case_id=case_id, for_update=True, missing_ok=True)
    if copy is not None and copy.version >= data["version"]:
        return
    person, reporting = data["person"], data["reporting"]
    values = {
        "version": data["version"], "reference": data["reference"],
        "keypad_reference": data["keypad_reference"], "status": data["status"],
        "phone_hash": person["phone_hash"], "language": person["preferred_language"],
        "caseworker": data["caseworker"], "programme": data["programme"],
        "sex": person["sex"], "nationality": person["nationality"],
        "date_of_birth": date.fromisoformat(person["date_of_birth"]),
        "vulnerabilities": list(data["vulnerabilities"]),
        "channels": list(reporting["channels"]), "rrule": reporting["rrule"],
        "window_opens": time.fromisoformat(reporting["window_opens"]),
        "window_hours": reporting["window_hours"], "grace_hours": reporting["grace_hours"],
        "timezone": reporting["timezone"],
        "starts_on": date.fromisoformat(reporting["starts_on"]), "updated_at": utcnow(),
    }
    if copy is None:
        copy = CaseCopy(case_id=case_id, **values)
        session.add(copy)
    else:
        for field, value in values.items():
            setattr(copy, field, value)
    await session.flush()
    await plan_schedule(session, case=copy, now=utcnow(), horizon=timedelta(days=horizon_days))


async def get_case(session: AsyncSession, *, case_id: uuid.UUID, for_update: bool = False,
                   missing_ok: bool = False) -> CaseCopy | None:
    query = sa.select(CaseCopy).where(CaseCopy.case_id == case_id)
    if for_update:
        query = query.with_for_update()
    case = (await session.execute(query)).scalar_one_or_none()
    if case is None and not missing_ok:
        raise NotFound("No such case.")
    return case


def requirement(case: CaseCopy) -> Requirement:
    return Requirement(rrule=case.rrule, window_opens=case.window_opens,
                       window_hours=case.window_hours, grace_hours=case.grace_hours,
                       timezone=case.timezone, starts_on=case.starts_on)


async def _cancel_pending(session: AsyncSession, *, case_id: uuid.UUID,
                          condition: sa.ColumnElement[bool]) -> None:
    rows = (await session.execute(
        sa.select(ExpectedCheckin).where(
            ExpectedCheckin.case_id == case_id, ExpectedCheckin.status == "pending", condition)
    )).scalars().all()
    for row in rows:
        await session.delete(row)
        await _publish(session, "expected_checkin.cancelled", row.id,
                       {"id": str(row.id), "case_id": str(case_id)})
    await session.flush()


async def plan_schedule(session: AsyncSession, *, case: CaseCopy, now: datetime,
                        horizon: timedelta) -> int:
    """Materialise the case's expected check-ins up to ``now + horizon``; returns how many
    were added. Only windows that open after ``now`` are planned: nothing is expected
    of a person that they could not have been told about in advance. A changed
    requirement replaces the future pending windows and keeps the past; a case that
    is not active has nothing pending that is still open or ahead."""
    if case.status != "active":
        await _cancel_pending(session, case_id=case.case_id,
                              condition=ExpectedCheckin.grace_ends_at >= now)
        case.planned_rule, case.planned_until = None, None
        return 0
    rule = requirement(case)
    signature = rule.signature()
    if case.planned_rule is not None and case.planned_rule != signature:
        await _cancel_pending(session, case_id=case.case_id,
                              condition=ExpectedCheckin.opens_at > now)
    existing = set((await session.execute(
        sa.select(ExpectedCheckin.opens_at).where(
            ExpectedCheckin.case_id == case.case_id, ExpectedCheckin.opens_at > now)
    )).scalars())
    until = now + horizon
    added = 0
    for window in windows(rule, after=now, until=until):
        if window.opens_at in existing:
            continue
        row = ExpectedCheckin(case_id=case.case_id, opens_at=window.opens_at,
                              closes_at=window.closes_at, grace_ends_at=window.grace_ends_at)
        session.add(row)
        await _publish(session, "expected_checkin.planned", row.id, expected_event(row))
        added += 1
    case.planned_rule, case.planned_until = signature, until
    await session.flush()
    return added


def expected_event(row: ExpectedCheckin) -> dict[str, Any]:
    return {"id": str(row.id), "case_id": str(row.case_id), "opens_at": _iso(row.opens_at),
            "closes_at": _iso(row.closes_at), "grace_ends_at": _iso(row.grace_ends_at),
            "status": row.status}


async def extend_horizons(session: AsyncSession, *, now: datetime, horizon: timedelta,
                          limit: int = 200) -> int:
    """Roll the horizon forward for active cases whose plan ends within a day; returns
    the number of cases re-planned (call until it returns 0)."""
    due = (await session.execute(
        sa.select(CaseCopy).where(
            CaseCopy.status == "active",
            sa.or_(CaseCopy.planned_until.is_(None),
                   CaseCopy.planned_until < now + horizon - timedelta(days=1)))
        .order_by(CaseCopy.case_id).limit(limit).with_for_update(skip_locked=True)
    )).scalars().all()
    for case in due:
        await plan_schedule(session, case=case, now=now, horizon=horizon)
    return len(due)


# --- PINs ---------------------------------------------------------------------------


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
    await _publish(session, "pin.issued", case_id, {"case_id": str(case_id)})
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
    .where(CaseCopy.phone_hash == sa.bindparam("phone_hash"), CaseCopy.status == "active")
    .order_by(CaseCopy.case_id).with_for_update())


async def pin_candidates(session: AsyncSession, *,
                         phone_hash: str) -> list[tuple[CaseCopy, Pin]]:
    """The active cases on a number that have a PIN, each with it: the one read a PIN
    check-in needs. Both rows are locked, so what is read is what is current."""
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


async def check_pin(session: AsyncSession, *, candidates: Sequence[tuple[CaseCopy, Pin]],
                    pin: str, channel: str, policy: PinPolicy, now: datetime) -> PinCheck:
    """Match ``pin`` against the candidate cases and their PINs (usually one; a family
    may share a phone). A wrong PIN counts against every unlocked candidate; the fifth
    inside the window locks telephone and SMS check-in and opens a follow-up."""
    if not candidates:
        return PinCheck(no_pin=True)
    open_pins = [(c, p) for c, p in candidates if not (p.locked_until and p.locked_until > now)]
    if not open_pins:
        return PinCheck(locked=True)
    for case, row in open_pins:
        expected = hash_pin(key=policy.key, salt=row.salt, case_id=case.case_id, pin=pin)
        if hmac.compare_digest(expected, row.hash):
            if row.last_failure_at is not None:  # earlier mistakes no longer count
                await session.execute(
                    sa.delete(PinFailure).where(PinFailure.case_id == case.case_id))
                row.last_failure_at = None
            return PinCheck(case=case)
    tries_left = policy.max_failures
    locked = False
    for case, row in open_pins:
        session.add(PinFailure(case_id=case.case_id, channel=channel, at=now))
        row.last_failure_at = now
        await session.flush()
        # A new PIN deletes the old failures, so only the window matters here.
        failures = await session.scalar(
            sa.select(sa.func.count()).select_from(PinFailure)
            .where(PinFailure.case_id == case.case_id, PinFailure.at > now - policy.window))
        if failures >= policy.max_failures:
            row.locked_until = now + policy.lock
            locked = True
            await open_follow_up(
                session, case=case, kind="pin_locked",
                detail=f"{failures} wrong PINs by {channel}: telephone and SMS check-in is "
                       f"paused until {row.locked_until:%Y-%m-%d %H:%M} UTC. A new PIN lifts it.")
        tries_left = min(tries_left, policy.max_failures - failures)
    await session.flush()
    return PinCheck(locked=locked, tries_left=max(tries_left, 0))


# --- check-ins ----------------------------------------------------------------------


# Built once: statements on the check-in path cost more to build than to run.
_OUTSTANDING_LIMIT = 3
_OUTSTANDING = (
    sa.select(ExpectedCheckin).where(
        ExpectedCheckin.case_id == sa.bindparam("case_id"),
        ExpectedCheckin.status.in_(("pending", "excused")),
        ExpectedCheckin.grace_ends_at >= sa.bindparam("now", type_=UTCDateTime))
    .order_by(ExpectedCheckin.opens_at).limit(_OUTSTANDING_LIMIT).with_for_update())
_INSERT_CHECKIN = sa.insert(Checkin.__table__)  # type: ignore[attr-defined]
_SETTLE = sa.update(ExpectedCheckin.__table__).where(  # type: ignore[attr-defined]
    ExpectedCheckin.__table__.c.id == sa.bindparam("expected_id"))  # type: ignore[attr-defined]
_CASES_BY_PHONE = (
    sa.select(CaseCopy).where(CaseCopy.phone_hash == sa.bindparam("phone_hash"))
    .order_by(CaseCopy.case_id).with_for_update())


@dataclass(frozen=True, slots=True)
class Recorded:
    checkin: Checkin
    expected: ExpectedCheckin | None
    # True when the window this falls in was already attended: nothing new is due.
    already: bool = False
    duplicate: bool = False
    # The next window still to attend after this check-in (None: none is planned).
    next: ExpectedCheckin | None = None


async def record_checkin(
    session: AsyncSession, *, case: CaseCopy, channel: str, now: datetime,
    reporting_centre: str | None = None, identity_confirmed_by: str | None = None,
    recorded_by: str | None = None,
) -> Recorded:
    """Record a check-in and settle the earliest outstanding window it falls in (inside
    the window: on time; inside the grace period: late). One that fits no window is
    kept as an unscheduled contact, never refused. Callers hold the case row locked,
    so two arriving together are settled one after the other."""
    if channel == "in_person":
        # An officer's double submit: the same case at the counter within a minute.
        recent = (await session.execute(
            sa.select(Checkin).where(
                Checkin.case_id == case.case_id, Checkin.channel == "in_person",
                Checkin.received_at > now - timedelta(minutes=1))
            .order_by(Checkin.received_at.desc()).limit(1))).scalar_one_or_none()
        if recent is not None:
            expected = (await session.get(ExpectedCheckin, recent.expected_checkin_id)
                        if recent.expected_checkin_id else None)
            return Recorded(checkin=recent, expected=expected, duplicate=True)
    # One query for the window to settle and the one after it (a reply names it).
    outstanding = (await session.execute(
        _OUTSTANDING, {"case_id": case.case_id, "now": now})).scalars().all()
    expected = next((e for e in outstanding if e.opens_at <= now), None)
    upcoming = next((e for e in outstanding if e.opens_at > now), None)
    if upcoming is None and len(outstanding) == _OUTSTANDING_LIMIT:  # cut short: look on
        upcoming = await next_expected(session, case_id=case.case_id, now=now)
    already = False
    if expected is None:
        timing = "unscheduled"
        already = bool(await session.scalar(
            sa.select(sa.func.count()).select_from(ExpectedCheckin).where(
                ExpectedCheckin.case_id == case.case_id, ExpectedCheckin.status.in_(ATTENDED),
                ExpectedCheckin.opens_at <= now, ExpectedCheckin.grace_ends_at >= now)))
    else:
        timing = "on_time" if now <= expected.closes_at else "late"
    checkin = Checkin(case_id=case.case_id, channel=channel, received_at=now, timing=timing,
                      expected_checkin_id=expected.id if expected else None,
                      reporting_centre=reporting_centre,
                      identity_confirmed_by=identity_confirmed_by, recorded_by=recorded_by)
    # Core statements rather than a unit-of-work flush: this is the busiest write path.
    await session.execute(_INSERT_CHECKIN, checkin.model_dump())
    changes = [("checkin.recorded", checkin.id, {
        "id": str(checkin.id), "case_id": str(case.case_id), "channel": channel,
        "received_at": _iso(now), "timing": timing,
        "expected_checkin_id": str(expected.id) if expected else None})]
    if expected is not None:
        settled = {"status": timing, "checkin_id": checkin.id, "decided_at": now}
        await session.execute(_SETTLE, {**settled, "expected_id": expected.id})
        for name, value in settled.items():  # the loaded row, as now stored
            set_committed_value(expected, name, value)
        changes.append(("expected_checkin.outcome", expected.id, _outcome_event(expected)))
    await publish_many(session, ChangeEvent, changes)
    return Recorded(checkin=checkin, expected=expected, already=already, next=upcoming)


def _outcome_event(expected: ExpectedCheckin) -> dict[str, Any]:
    return {**expected_event(expected), "excusal_reason": expected.excusal_reason}


async def _publish_outcome(session: AsyncSession, expected: ExpectedCheckin) -> None:
    await _publish(session, "expected_checkin.outcome", expected.id, _outcome_event(expected))


async def next_expected(session: AsyncSession, *, case_id: uuid.UUID,
                        now: datetime, include_open: bool = False) -> ExpectedCheckin | None:
    """The next window still to attend: one opening later, or (``include_open``) one
    open now and not yet attended."""
    edge = ExpectedCheckin.grace_ends_at >= now if include_open else ExpectedCheckin.opens_at > now
    return (await session.execute(
        sa.select(ExpectedCheckin).where(
            ExpectedCheckin.case_id == case_id, edge,
            ExpectedCheckin.status.in_(("pending", "excused")))
        .order_by(ExpectedCheckin.opens_at).limit(1))).scalar_one_or_none()


async def last_checkin(session: AsyncSession, *, case_id: uuid.UUID) -> Checkin | None:
    return (await session.execute(
        sa.select(Checkin).where(Checkin.case_id == case_id)
        .order_by(Checkin.received_at.desc()).limit(1))).scalar_one_or_none()


async def cases_by_phone(session: AsyncSession, *, phone_hash: str) -> list[CaseCopy]:
    """Cases registered to a number, active ones first (a family may share a phone)."""
    rows = (await session.execute(_CASES_BY_PHONE, {"phone_hash": phone_hash})).scalars().all()
    return sorted(rows, key=lambda c: c.status != "active")


async def case_by_reference(session: AsyncSession, *, reference: str,
                            for_update: bool = False) -> CaseCopy | None:
    """By the letters form (any case, spaces or hyphen) or the 10-digit keypad form."""
    code = "".join(ch for ch in reference.upper() if ch.isalnum())
    if code.isdigit():
        column, value = CaseCopy.keypad_reference, code
    else:
        column, value = CaseCopy.reference, f"{code[:4]}-{code[4:]}"
    query = sa.select(CaseCopy).where(column == value)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_checkins(session: AsyncSession, *, case_id: uuid.UUID, since: datetime | None,
                        until: datetime | None) -> tuple[list[ExpectedCheckin], list[Checkin]]:
    """A case's expected check-ins in a period and every check-in received in it."""
    await get_case(session, case_id=case_id)
    expected_q = sa.select(ExpectedCheckin).where(ExpectedCheckin.case_id == case_id)
    checkins_q = sa.select(Checkin).where(Checkin.case_id == case_id)
    if since is not None:
        expected_q = expected_q.where(ExpectedCheckin.opens_at >= since)
        checkins_q = checkins_q.where(Checkin.received_at >= since)
    if until is not None:
        expected_q = expected_q.where(ExpectedCheckin.opens_at < until)
        checkins_q = checkins_q.where(Checkin.received_at < until)
    expected = (await session.execute(expected_q.order_by(ExpectedCheckin.opens_at))).scalars()
    checkins = (await session.execute(checkins_q.order_by(Checkin.received_at))).scalars()
    return list(expected), list(checkins)


# --- outcomes: excusals, missed check-ins, outages -----------------------------------


async def excuse(session: AsyncSession, *, expected_id: uuid.UUID, reason: str,
                 actor: str) -> ExpectedCheckin:
    """Excuse a pending or missed check-in, before or after its window."""
    expected = await session.get(ExpectedCheckin, expected_id, with_for_update=True)
    if expected is None:
        raise NotFound("No such expected check-in.")
    if expected.status in ATTENDED:
        raise Conflict("The person checked in for this one; there is nothing to excuse.")
    was_missed = expected.status == "missed"
    expected.status, expected.excusal_reason, expected.excused_by = "excused", reason, actor
    expected.decided_at = utcnow()
    await _publish_outcome(session, expected)
    if was_missed:  # the caseworker has dealt with it: its follow-up is done too
        await _close_follow_ups_of(session, expected, actor=actor, note=f"Excused: {reason}")
    await session.flush()
    return expected


async def _close_follow_ups_of(session: AsyncSession, expected: ExpectedCheckin, *, actor: str,
                               note: str) -> None:
    for follow_up in (await session.execute(sa.select(FollowUp).where(
            FollowUp.expected_checkin_id == expected.id, FollowUp.status != "closed")
    )).scalars():
        await _close(session, follow_up, actor=actor, note=note)


def _covering(outages: Sequence[Outage], expected: ExpectedCheckin,
              channels: Sequence[str]) -> Outage | None:
    for outage in outages:
        if (outage.channel == "all" or outage.channel in channels) and \
                outage.starts_at <= expected.grace_ends_at and outage.ends_at >= expected.opens_at:
            return outage
    return None


def _excuse_for_outage(expected: ExpectedCheckin, outage: Outage, now: datetime) -> None:
    expected.status, expected.outage_id, expected.decided_at = "excused", outage.id, now
    expected.excusal_reason = f"Service outage ({outage.channel}): {outage.reason}"
    expected.excused_by = "system"


REMINDER_NOT_DELIVERED = ("undelivered", "failed", "no-answer", "busy", "canceled")


async def decide_missed(session: AsyncSession, *, now: datetime, limit: int = 500) -> int:
    """Settle check-ins whose grace period is over: missed, with a follow-up for the
    caseworker, or excused when a declared outage covers them. Idempotent: only
    pending rows are taken, each by one worker (``SKIP LOCKED``). Returns how many."""
    rows = (await session.execute(
        sa.select(ExpectedCheckin).where(ExpectedCheckin.status == "pending",
                                         ExpectedCheckin.grace_ends_at < now)
        .order_by(ExpectedCheckin.grace_ends_at).limit(limit).with_for_update(skip_locked=True)
    )).scalars().all()
    if not rows:
        return 0
    cases = {c.case_id: c for c in (await session.execute(
        sa.select(CaseCopy).where(CaseCopy.case_id.in_({r.case_id for r in rows})))).scalars()}
    outages = (await session.execute(sa.select(Outage).where(
        Outage.starts_at <= max(r.grace_ends_at for r in rows),
        Outage.ends_at >= min(r.opens_at for r in rows)))).scalars().all()
    for expected in rows:
        case = cases[expected.case_id]
        outage = _covering(outages, expected, case.channels)
        if outage is not None:
            _excuse_for_outage(expected, outage, now)
        else:
            expected.status, expected.decided_at = "missed", now
            detail = "The check-in window and its grace period passed without a check-in."
            if expected.reminder_status in REMINDER_NOT_DELIVERED:
                detail += f" The reminder was not delivered ({expected.reminder_status})."
            await open_follow_up(session, case=case, kind="missed_checkin",
                                 expected_checkin_id=expected.id, detail=detail)
        await _publish_outcome(session, expected)
    await session.flush()
    return len(rows)


async def declare_outage(session: AsyncSession, *, channel: str, starts_at: datetime,
                         ends_at: datetime, reason: str, actor: str) -> tuple[Outage, int]:
    """Record an outage and excuse every missed check-in whose window (grace included)
    overlapped it, for cases reporting by that channel; their open follow-ups close
    with the reason. Check-ins still pending are excused by ``decide_missed`` later."""
    outage = Outage(channel=channel, starts_at=starts_at, ends_at=ends_at, reason=reason,
                    declared_by=actor)
    session.add(outage)
    await session.flush()
    await _publish(session, "outage.declared", outage.id, {
        "id": str(outage.id), "channel": channel, "starts_at": _iso(starts_at),
        "ends_at": _iso(ends_at), "reason": reason})
    missed = (await session.execute(
        sa.select(ExpectedCheckin, CaseCopy)
        .join(CaseCopy, CaseCopy.case_id == ExpectedCheckin.case_id)
        .where(ExpectedCheckin.status == "missed", ExpectedCheckin.opens_at <= ends_at,
               ExpectedCheckin.grace_ends_at >= starts_at)
        .with_for_update(of=ExpectedCheckin))).all()
    now, excused = utcnow(), 0
    for expected, case in missed:
        if _covering([outage], expected, case.channels) is None:
            continue
        _excuse_for_outage(expected, outage, now)
        await _publish_outcome(session, expected)
        await _close_follow_ups_of(session, expected, actor="system",
                                   note=expected.excusal_reason or "")
        excused += 1
    await session.flush()
    return outage, excused


async def list_outages(session: AsyncSession, *, limit: int = 100) -> list[Outage]:
    return list((await session.execute(
        sa.select(Outage).order_by(Outage.starts_at.desc()).limit(limit))).scalars())


# --- follow-ups ---------------------------------------------------------------------


def follow_up_event(follow_up: FollowUp) -> dict[str, Any]:
    return {"id": str(follow_up.id), "case_id": str(follow_up.case_id), "kind": follow_up.kind,
            "status": follow_up.status, "assigned_to": follow_up.assigned_to,
            "expected_checkin_id": str(follow_up.expected_checkin_id)
            if follow_up.expected_checkin_id else None}


async def open_follow_up(session: AsyncSession, *, case: CaseCopy, kind: str, detail: str,
                         expected_checkin_id: uuid.UUID | None = None) -> FollowUp:
    follow_up = FollowUp(case_id=case.case_id, kind=kind, assigned_to=case.caseworker,
                         expected_checkin_id=expected_checkin_id,
                         vulnerabilities=list(case.vulnerabilities), detail=detail)
    session.add(follow_up)
    await _publish(session, "follow_up.opened", follow_up.id, follow_up_event(follow_up))
    return follow_up


async def list_follow_ups(session: AsyncSession, *, assigned_to: str | None,
                          status: str | None, case_id: uuid.UUID | None,
                          limit: int) -> list[FollowUp]:
    query = sa.select(FollowUp)
    if assigned_to is not None:
        query = query.where(FollowUp.assigned_to == assigned_to)
    if status == "open":  # open means not yet closed: acknowledged ones are still open work
        query = query.where(FollowUp.status != "closed")
    elif status is not None:
        query = query.where(FollowUp.status == status)
    if case_id is not None:
        query = query.where(FollowUp.case_id == case_id)
    query = query.order_by(FollowUp.opened_at.desc(), FollowUp.id).limit(limit)
    return list((await session.execute(query)).scalars())


async def _get_follow_up(session: AsyncSession, follow_up_id: uuid.UUID) -> FollowUp:
    follow_up = await session.get(FollowUp, follow_up_id, with_for_update=True)
    if follow_up is None:
        raise NotFound("No such follow-up.")
    return follow_up


async def acknowledge_follow_up(session: AsyncSession, *, follow_up_id: uuid.UUID,
                                actor: str) -> FollowUp:
    follow_up = await _get_follow_up(session, follow_up_id)
    if follow_up.status == "closed":
        raise Conflict("The follow-up is closed.")
    if follow_up.status == "open":
        follow_up.status, follow_up.acknowledged_by = "acknowledged", actor
        follow_up.acknowledged_at = utcnow()
        await _publish(session, "follow_up.acknowledged", follow_up.id, follow_up_event(follow_up))
    await session.flush()
    return follow_up


async def _close(session: AsyncSession, follow_up: FollowUp, *, actor: str, note: str) -> None:
    follow_up.status, follow_up.closed_by, follow_up.closed_at = "closed", actor, utcnow()
    follow_up.note = note
    await _publish(session, "follow_up.closed", follow_up.id, follow_up_event(follow_up))


async def close_follow_up(session: AsyncSession, *, follow_up_id: uuid.UUID, actor: str,
                          note: str) -> FollowUp:
    follow_up = await _get_follow_up(session, follow_up_id)
    if follow_up.status == "closed":
        raise Conflict("The follow-up is already closed.")
    await _close(session, follow_up, actor=actor, note=note)
    await session.flush()
    return follow_up


# --- opt-out, reminders, webhook replies --------------------------------------------


async def record_opt_out(session: AsyncSession, *, phone_hash: str, cases: Sequence[CaseCopy],
                         opted_out: bool) -> None:
    """STOP or START, for the notifications service to honour (keyed by the number's
    hash). After STOP the caseworker gets a follow-up to agree another way to remind
    the person: opting out of texts is never non-compliance."""
    await _publish(session, "contact.opted_out" if opted_out else "contact.opted_in",
                   cases[0].case_id if cases else uuid.UUID(int=0),
                   {"phone_hash": phone_hash, "case_ids": [str(c.case_id) for c in cases]})
    if opted_out:
        for case in cases:
            await _open_once(session, case=case, kind="opted_out", detail=(
                "The person replied STOP: no more SMS reminders go to their number. Agree "
                "another way to remind them (a call, or in person). This is not "
                "non-compliance."))


async def _open_once(session: AsyncSession, *, case: CaseCopy, kind: str, detail: str) -> None:
    """Open a follow-up unless one of the same kind is still open for the case."""
    open_already = await session.scalar(
        sa.select(FollowUp.id).where(FollowUp.case_id == case.case_id, FollowUp.kind == kind,
                                     FollowUp.status != "closed").limit(1))
    if open_already is None:
        await open_follow_up(session, case=case, kind=kind, detail=detail)


# A reminder that reached the person outranks one that did not: a follow-up only says
# "not delivered" when none of the check-in's reminders got through.
_REMINDER_RANK = {"failed": 1, "undelivered": 1, "sent": 2, "delivered": 3}


async def apply_notifications_change(session: AsyncSession, change: Change) -> None:
    """From the notifications feed: each reminder's delivery, noted on its expected
    check-in, and numbers that cannot be reached, which open a follow-up."""
    data = change.data
    if change.type == "reminder.status" and data.get("expected_checkin_id"):
        expected = await session.get(ExpectedCheckin, uuid.UUID(data["expected_checkin_id"]))
        status = str(data["status"])[:16]
        if expected is not None and _REMINDER_RANK.get(status, 0) >= _REMINDER_RANK.get(
                expected.reminder_status or "", 0):
            expected.reminder_status = status
    elif change.type == "reminder.undeliverable":
        case = await get_case(session, case_id=uuid.UUID(data["case_id"]), missing_ok=True)
        if case is None:
            return
        why = ("the number opted out of messages at the carrier"
               if data.get("reason") == "opted_out" else "the number cannot receive them")
        await _open_once(session, case=case, kind="contact_unreachable", detail=(
            f"Reminders by {data.get('channel', 'sms')} cannot reach the person: {why}. "
            "Check the number with them or agree another way to remind them."))


@functools.cache
def _store_reply_statement(insert: Callable[..., Any]) -> Any:
    """Built once per dialect's ``insert``: every webhook answer goes through it."""
    table = Reply.__table__  # type: ignore[attr-defined]
    return (insert(table).on_conflict_do_nothing(index_elements=["key"])
            .returning(table.c.key))


async def store_reply(session: AsyncSession, *, key: str, body: str, status_code: int = 200,
                      media_type: str = "application/xml") -> Reply | None:
    """Store the answer to the request ``key`` in the request's own transaction. If an
    earlier request with the same key (a retry's original) got there first, its answer
    is returned and the caller must roll back everything this one did. On PostgreSQL
    a concurrent insert of the same key waits for the first to commit; SQLite takes
    writers one at a time. Retries are rare, so the work is done first and the key
    checked once, at the end: one statement on the common path."""
    inserted = await session.scalar(_store_reply_statement(dialect_insert(session)), {
        "key": key, "body": body, "status_code": status_code, "media_type": media_type,
        "created_at": utcnow()})
    if inserted is not None:
        return None
    await session.rollback()
    return await session.get(Reply, key, populate_existing=True)


async def voice_call(session: AsyncSession, *, call_sid: str) -> VoiceCall:
    call = await session.get(VoiceCall, call_sid, with_for_update=True)
    if call is None:
        call = VoiceCall(call_sid=call_sid)
        session.add(call)
    return call


async def prune(session: AsyncSession, *, before: datetime) -> None:
    """Webhook replies and call state are only needed while Twilio might retry."""
    await session.execute(sa.delete(Reply).where(Reply.created_at < before))
    await session.execute(sa.delete(VoiceCall).where(VoiceCall.created_at < before))
