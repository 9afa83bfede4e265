"""``make bench``: run every benchmark in ``bench/`` against PostgreSQL, one after the
other (they would skew each other), and print one table of every figure beside its
goal, its in-run baseline and the ratio, with the machine it ran on.

    .venv/bin/python bench/run.py [--only reminders] [--summary-cases 100000]

The PostgreSQL server is ``WAYMARK_BENCH_POSTGRES_URL`` (default the local one, user
postgres); each benchmark makes and drops its own database. Exit status 0 even when a
goal is missed: the table says which (``NO``)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from report import COLUMNS, met, table  # noqa: E402

# Every benchmark script, in the order they run; report.py and helper apps are not.
SCRIPTS = ("checkin_sms", "reminders", "summaries")


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=SCRIPTS, action="append",
                        help="run only this benchmark (repeat for several)")
    parser.add_argument("--summary-cases", type=int, default=1_000_000,
                        help="cases for bench/summaries.py (a year of weekly windows each; "
                             "the million-case load takes about an hour on 2 cores)")
    args = parser.parse_args()
    extra = {"summaries": ["--cases", str(args.summary_cases)]}
    scripts = [s for s in SCRIPTS if (BENCH / f"{s}.py").exists()
               and (not args.only or s in args.only)]
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as report:
        path = report.name
    env = {**os.environ, "WAYMARK_BENCH_REPORT": path}
    failed = []
    started = time.perf_counter()
    for script in scripts:
        print(f"== {script}", flush=True)
        result = subprocess.run([sys.executable, str(BENCH / f"{script}.py"),
                                 *extra.get(script, [])],
                                env=env, check=False)
        if result.returncode != 0:
            failed.append(script)
    rows = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            figure = json.loads(line)
            rows.append((figure["benchmark"], figure["measure"], figure["goal"],
                         figure["result"], figure["baseline"], figure["ratio"],
                         met(figure["met"])))
    os.unlink(path)
    print()
    print(f"machine: {machine()}; {time.perf_counter() - started:.0f} s in all")
    print(table(rows, COLUMNS))
    for script in failed:
        print(f"{script}: the benchmark itself failed (see its output above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
