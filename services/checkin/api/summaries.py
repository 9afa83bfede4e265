"""Attendance summaries for supervisors (exact) and authorities (cell-key perturbed):
aggregates only (rules in ``checkin.summaries``). Nothing here names a case."""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from checkin import cellkey, summaries
from checkin.enums import Audience, Period
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.errors import ValidationFailed, problem_responses
from shared.negotiation import accept_quality

router = APIRouter(prefix="/v1/summaries", tags=["summaries"])

SummaryReader = Annotated[Principal, require_roles(Role.authority, Role.supervisor)]
# Five years, leap days included: rollups make a long range as quick as a short one.
MAX_PERIOD_DAYS = 5 * 365 + 2
CSV = "text/csv"
# Periods are walked a month at a time: the calendar's last month cannot be.
LAST_DAY = date(9999, 12, 1)
Cell = str | int | float | None


class Format(StrEnum):
    json = "json"
    csv = "csv"


class AttendanceSummary(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    since: date = Field(alias="from")
    until: date = Field(alias="to")
    group_by: list[str]
    period: Period | None = None
    protection: Audience = Field(
        description="exact (supervisor) or cell_key (authority: every count perturbed, "
                    "counts under the threshold withheld)")
    suppression_threshold: int | None = Field(
        description="counts under it are withheld (cell_key only)")
    withheld_rows: int = Field(description="rows left out because their people count is withheld")
    rows: list[dict[str, Cell]] = Field(
        description="Dimension values, then people, expected, on_time, late, missed, excused, "
                    "pending, attendance_rate, on_time_rate; a withheld count is null, never 0.")
    total: dict[str, Cell] = Field(
        description="The same over every row, its own cells (not the sum of the rows).")


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
    quality = accept_quality(accept)
    csv_q = quality.get(CSV, 0.0)
    return csv_q > 0 and csv_q >= quality.get("application/json", 0.0)


@router.get(
    "/attendance", response_model=AttendanceSummary,
    responses={200: {"content": {f"{CSV}; charset=utf-8": {}}},
               **problem_responses(401, 403, 422)},
)
async def attendance(
    request: Request, response: Response, session: SessionDep, reader: SummaryReader,
    since: Annotated[date, Query(alias="from", description="first local date of opening")],
    until: Annotated[date, Query(alias="to", description="last local date, included")],
    group_by: Annotated[list[str] | None, Query(
        description="comma-separated: " + ", ".join(summaries.DIMENSIONS))] = None,
    period: Annotated[Period | None, Query(
        description="what `period` groups by (month when not given); giving it groups "
                    "by period")] = None,
    format: Annotated[Format | None, Query(
        description="json or csv; without it, the Accept header decides")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    if since > until:
        raise ValidationFailed.field("from", "must not be after to")
    if (until - since).days + 1 > MAX_PERIOD_DAYS:
        raise ValidationFailed.field("to", f"the range is at most five years "
                                           f"({MAX_PERIOD_DAYS} days)")
    if until >= LAST_DAY:
        raise ValidationFailed.field("to", f"must be before {LAST_DAY.isoformat()}")
    dims = _dimensions(group_by)
    if period is not None and "period" not in dims:
        dims.append("period")
    if "period" in dims:
        period = period or Period.month
    settings = request.app.state.settings
    # A supervisor sees exact counts; an authority (who is not also a supervisor) never does.
    audience = (Audience.exact if reader.has(Role.supervisor)
                else Audience.cell_key)
    threshold = settings.suppression_threshold
    result = await summaries.attendance(
        session, since=since, until=until, group_by=dims, period=period, audience=audience,
        ptable=cellkey.load(settings.ptable) if audience == Audience.cell_key
        else None, threshold=threshold, cache=request.app.state.bitmap_cache)
    # Same URL, two representations: caches must key on Accept.
    response.headers["Vary"] = "Accept"
    if format == Format.csv or (format is None and _wants_csv(accept)):
        return Response(
            summaries.to_csv([*result["rows"], result["total"]], dims),
            media_type=f"{CSV}; charset=utf-8",
            headers={
                "Content-Disposition":
                    f'attachment; filename="attendance_{since.isoformat()}_{until.isoformat()}.csv"',
                "Vary": "Accept",
            },
        )
    body = {"from": since.isoformat(), "to": until.isoformat(), "group_by": dims,
            "period": period, "protection": audience,
            "suppression_threshold": threshold if audience == Audience.cell_key
            else None, **result}
    # Written directly: validating tens of thousands of rows against the response model
    # would cost more than computing them (the model still documents the shape).
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json",
                    headers={"Vary": "Accept"})
