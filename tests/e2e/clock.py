"""The running services' clock, moved forward while they run: libfaketime (the Debian
package ``faketime``, which CI installs) preloaded into every service process, reading
its offset from a file (``FAKETIME_TIMESTAMP_FILE``) that ``ServiceClock.travel``
rewrites. The content is always an offset from the real clock (``+N`` seconds, as
``faketime -f +N``), never a date, so the services' time keeps running and moves only
forward, and nothing is restarted: jobs, feeds and the dispatcher see the evening
come as a running system would, only sooner.

Each process re-reads the file once a second at most (``FAKETIME_CACHE_DURATION=0``:
whenever a second has turned, at no measurable cost per call); ``travel`` returns
once every service's own clock (its ``Date`` header) shows the new time, so the test
never reads its own wall clock to say what time it is for them. Monotonic clocks
move with the offset too: asyncio's timers fire early at a jump, which the services
take as a slow tick."""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from tests.e2e.cluster import eventually, served_at

# As ``faketime`` itself preloads it: the dynamic linker fills in $LIB.
LIBRARY = "/usr/$LIB/faketime/libfaketime.so.1"
# The test's own faketime settings (CI runs a suite under ``faketime -f +N``) would take
# priority over the file: the services get only the file's.
INHERITED = ("FAKETIME", "FAKETIME_SHARED", "FAKETIME_NO_CACHE", "FAKETIME_CACHE_DURATION",
             "FAKETIME_TIMESTAMP_FILE", "FAKETIME_DONT_FAKE_MONOTONIC")


def installed() -> bool:
    return bool(glob.glob("/usr/lib*/faketime/libfaketime.so.1")
                or glob.glob("/usr/lib*/*/faketime/libfaketime.so.1"))


class ServiceClock:
    """Moves the clock of every process started with ``env()`` forward by rewriting the
    offset they all read: at ``+0`` (the real clock) to begin with."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0
        self._write()

    def env(self) -> dict[str, str]:
        preload = [p for p in os.environ.get("LD_PRELOAD", "").split() if "faketime" not in p]
        return {"LD_PRELOAD": " ".join([LIBRARY, *preload]),
                "FAKETIME_TIMESTAMP_FILE": str(self.path), "FAKETIME_CACHE_DURATION": "0"}

    def travel(self, to: datetime, urls: Sequence[str]) -> datetime:
        """Move the services at ``urls`` to ``to`` (to the second, a little after) or
        leave them where they are when they are past it already; their time now."""
        now = served_at(urls[0])
        if to <= now:
            return now
        self.offset += math.ceil((to - now).total_seconds())
        self._write()
        for url in urls:
            eventually(lambda url=url: served_at(url) >= to, timeout=15, every=0.2,
                       what=f"the clock of {url} reaching {to:%Y-%m-%d %H:%M:%S}")
        return served_at(urls[0])

    def _write(self) -> None:
        # Renamed into place: a process never reads half a line.
        partial = self.path.with_suffix(".partial")
        partial.write_text(f"+{self.offset}\n")
        os.replace(partial, self.path)
