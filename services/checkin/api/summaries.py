"""Attendance summaries for authorities and supervisors: aggregates only, suppressed
under the threshold (rules in ``checkin.summaries``). Nothing here names a case."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from checkin import summaries
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.errors import ValidationFailed, problem_responses

router = APIRouter(prefix="/v1/summaries", tags=["summaries"])

SummaryReader = Annotated[Principal, require_roles(Role.authority, Role.supervisor)]
# A year, leap years included: longer periods are asked for as several requests.
MAX_PERIOD_DAYS = 366
CSV = "text/csv"


class AttendanceSummary(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    since: date = Field(alias="from")
    until: date = Field(alias="to")
    group_by: list[str]
    suppression_threshold: int
    rows: list[dict[str, str | int | float | bool | None]] = Field(
        description="Dimension values, then people, expected, on_time, late, missed, excused, "
                    "pending, attendance_rate, on_time_rate and suppressed; a withheld cell is "
                    "null, never 0.")


def _dimensions(values: list[str] | None) -> list[str]:
    """``group_by=programme,sex`` or repeated ``group_by``; order kept, repeats dropped."""
    names = [n.strip() for v in values or () for n in v.split(",") if n.strip()]
    unknown = [n for n in dict.fromkeys(names) if n not in summaries.DIMENSIONS]
    if unknown:
        raise ValidationFailed.field(
            "group_by", f"unknown dimension {', '.join(repr(n[:40]) for n in unknown)}; "
                        f"choose from {', '.join(summaries.DIMENSIONS)}")
    return list(dict.fromkeys(names))


def _wants_csv(accept: str | None) -> bool:
    """CSV when the client ranks ``text/csv`` at least as high as JSON."""
    quality: dict[str, float] = {}
    for item in (accept or "").split(","):
        media, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        quality[media.lower()] = max(q, quality.get(media.lower(), 0.0))
    csv_q = quality.get(CSV, 0.0)
    return csv_q > 0 and csv_q >= quality.get("application/json", 0.0)


@router.get(
    "/attendance", response_model=AttendanceSummary,
    responses={200: {"content": {f"{CSV}; charset=utf-8": {}}},
               **problem_responses(401, 403, 422)},
)
async def attendance(
    request: Request, response: Response, session: SessionDep, _: SummaryReader,
    since: Annotated[date, Query(alias="from", description="first day, UTC")],
    until: Annotated[date, Query(alias="to", description="last day, included, UTC")],
    group_by: Annotated[list[str] | None, Query(
        description="comma-separated: " + ", ".join(summaries.DIMENSIONS))] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    if since > until:
        raise ValidationFailed.field("to", "must not be before from")
    if (until - since).days + 1 > MAX_PERIOD_DAYS:
        raise ValidationFailed.field("to", f"the period is at most {MAX_PERIOD_DAYS} days")
    if until == date.max:
        # The period ends at midnight after `to`, which does not exist for this one.
        raise ValidationFailed.field("to", "must be before 9999-12-31")
    dims = _dimensions(group_by)
    threshold = request.app.state.settings.suppression_threshold
    rows = await summaries.attendance(
        session, since=since, until=until, group_by=dims, threshold=threshold)
    # Same URL, two representations: caches must key on Accept.
    response.headers["Vary"] = "Accept"
    if _wants_csv(accept):
        return Response(
            summaries.to_csv(rows, dims), media_type=f"{CSV}; charset=utf-8",
            headers={
                "Content-Disposition":
                    f'attachment; filename="attendance_{since.isoformat()}_{until.isoformat()}.csv"',
                "Vary": "Accept",
            },
        )
    return {"from": since, "to": until, "group_by": dims, "suppression_threshold": threshold,
            "rows": rows}
