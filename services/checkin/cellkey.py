"""The cell-key method, as national statistics offices use it for tables built on
demand (ONS for Census 2021, ABS TableBuilder), and exactly as ONS's
``cell-key-perturbation`` package computes it (``tests/checkin/test_cell_key.py``
proves it against the package).

Every unit carries a record key 0-255 fixed for its life; a cell's key is the sum of
its units' keys modulo the table's key range (256); the noise is the perturbation
table's ``pvalue`` for the cell's count and key (``pcv``: the count itself up to 750;
above, ``(count - 1) % 250 + 501``, so large counts reuse the rows 501-750); a count
that ends under the threshold is withheld (``None``). The same units always give the
same cell key, so the same cell always gets the same value: asking again, or asking
for the same people through another query, averages nothing out.

The shipped table (``data/ptable.csv``, made by ``scripts/make_ptable.py``) is
unbiased (the noise averages 0 for every count), moves a count by at most 2 and never
publishes a count of 1 to 4 as itself. ``WAYMARK_PTABLE`` replaces it with another
CSV of the same format (``pcv,ckey,pvalue``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SHIPPED = Path(__file__).parent / "data" / "ptable.csv"


@dataclass(frozen=True)
class PTable:
    values: dict[tuple[int, int], int]
    modulus: int  # the largest ckey plus one, as the package takes it

    def perturb(self, count: int, key_sum: int, threshold: int) -> int | None:
        """The published value of a cell of ``count`` units whose record keys add up
        to ``key_sum``; ``None`` when it ends under ``threshold``."""
        pcv = count if count <= 750 else (count - 1) % 250 + 501
        value = count + self.values.get((pcv, key_sum % self.modulus), 0)
        return None if value < threshold else value


@cache
def load(path: str | None = None) -> PTable:
    """The perturbation table at ``path`` (the shipped one by default); a file that is
    not ``pcv,ckey,pvalue`` integers raises ``ValueError`` naming the line."""
    source = Path(path) if path else SHIPPED
    values: dict[tuple[int, int], int] = {}
    with source.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not {"pcv", "ckey", "pvalue"} <= set(reader.fieldnames or ()):
            raise ValueError(f"{source}: the header must name pcv, ckey and pvalue")
        for line, row in enumerate(reader, start=2):
            try:
                values[int(row["pcv"]), int(row["ckey"])] = int(row["pvalue"])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{source}, line {line}: not an integer") from exc
    if not values:
        raise ValueError(f"{source}: no rows")
    return PTable(values=values, modulus=max(k for _, k in values) + 1)
