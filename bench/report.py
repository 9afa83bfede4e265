"""One format for every benchmark's figures. Each script prints its own table and, when
``WAYMARK_BENCH_REPORT`` names a file, appends its figures there as JSON lines;
``bench/run.py`` (``make bench``) runs every script and prints them as one table."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

COLUMNS = ("benchmark", "measure", "goal", "result", "baseline", "ratio", "met")


@dataclass(frozen=True, slots=True)
class Figure:
    """A measured figure beside its goal, and beside the baseline measured in the same
    run when it has one (``ratio`` = result / baseline)."""

    measure: str
    goal: str
    result: str
    met: bool | None = None  # None: a figure with no goal, reported for context
    baseline: str = "-"
    ratio: str = "-"


def met(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "NO")


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
              for row in rows]
    return "\n".join(lines)


def emit(benchmark: str, figures: list[Figure]) -> None:
    """Print ``figures`` as a table, and append them to ``WAYMARK_BENCH_REPORT``."""
    print(table([(f.measure, f.goal, f.result, f.baseline, f.ratio, met(f.met))
                 for f in figures], COLUMNS[1:]))
    path = os.environ.get("WAYMARK_BENCH_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            for figure in figures:
                out.write(json.dumps({"benchmark": benchmark, **asdict(figure)}) + "\n")
