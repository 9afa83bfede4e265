"""The reporting desk's part of a case, as checkin knows it: the case found by its
reference, and the next window the person must report in. The registry's desk route
gives the name to greet the person by; this gives the schedule, which is checkin's.

The next window is the earliest one still to attend whose grace has not ended: one
open now (or in its grace, where a check-in still counts, as late) or, failing that,
the next to open. It is the same window an SMS ``NEXT`` names, excused windows
included (an excused window may still be attended). A case that is not active has
none: nothing is expected of a suspended, resolved or closed case."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from checkin.cases import case_by_reference, reference_code
from checkin.enums import CaseStatus
from checkin.models import CaseCopy, ExpectedCheckin
from checkin.schedule import next_expected
from shared.errors import NotFound, ValidationFailed

NOT_A_REFERENCE = "not a case reference: ABCD-EFG, or the 10-digit keypad number"


async def find_case(session: AsyncSession, *, reference: str) -> CaseCopy:
    """The case with this reference in either form (letters in any case, with a space,
    hyphen or neither; or the keypad digits), normalised as the SMS and keypad paths
    do. A reference of neither shape is a 422 naming ``reference``; one no case holds,
    a 404."""
    if reference_code(reference) is None:
        raise ValidationFailed.field("reference", NOT_A_REFERENCE)
    case = await case_by_reference(session, reference=reference)
    if case is None:
        raise NotFound("No case with this reference.")
    return case


async def next_window(session: AsyncSession, *, case: CaseCopy,
                      now: datetime) -> ExpectedCheckin | None:
    """The window the person must report in next, as of ``now`` (module docstring);
    ``None`` when the case is not active or nothing is planned. After a check-in, the
    window it settled is attended, so this names the one after it."""
    if case.status != CaseStatus.active:
        return None
    return await next_expected(session, case_id=case.case_id, now=now, include_open=True)
