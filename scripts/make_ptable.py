"""Write the perturbation table summaries ship (services/checkin/data/ptable.csv).

    python scripts/make_ptable.py [OUT]

For every count (pcv) 1-750 and cell key 0-255, the noise to add. Each count's noise
is a distribution over the 256 keys (probabilities in 256ths) that:

- is unbiased: the noise averages exactly 0, so totals of many cells are unbiased;
- moves a count by at most 2;
- never leaves a count of 1 to 4 as it is, and never takes a count below 0: a small
  published count is never known to be the true one;
- for 5 and over, leaves 128 in 256 counts alone, moves 96 by one and 32 by two
  (variance 0.875): enough that a difference of two tables cannot be read as a
  person, little enough that a rate over a few dozen people stays useful.

The keys each noise value goes to are shuffled with a fixed seed, so the file is the
same every run and a cell's key says nothing about its direction. Why these
parameters: README, "Attendance summaries"."""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

KEYS = 256
MAX_PCV = 750
# noise -> how many of the 256 keys get it, for each small count, then for the rest.
SMALL = {
    1: {-1: 160, 1: 32, 2: 64},           # to 0, 2 or 3: -160 + 32 + 128 = 0
    2: {-2: 64, -1: 64, 1: 64, 2: 64},
    3: {-2: 64, -1: 64, 1: 64, 2: 64},
    4: {-2: 64, -1: 64, 1: 64, 2: 64},
}
LARGE = {-2: 16, -1: 48, 0: 128, 1: 48, 2: 16}


def table(seed: int = 20261202) -> list[tuple[int, int, int]]:
    rng = random.Random(seed)
    rows = []
    for pcv in range(1, MAX_PCV + 1):
        spread = SMALL.get(pcv, LARGE)
        assert sum(spread.values()) == KEYS and sum(v * n for v, n in spread.items()) == 0
        noise = [v for v, n in sorted(spread.items()) for _ in range(n)]
        rng.shuffle(noise)
        rows += [(pcv, ckey, noise[ckey]) for ckey in range(KEYS)]
    return rows


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else (
        Path(__file__).resolve().parent.parent / "services" / "checkin" / "data" / "ptable.csv")
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("pcv", "ckey", "pvalue"))
        writer.writerows(table())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
