"""How a service stops, within ``SHUTDOWN_SECONDS`` of being asked (SIGINT or SIGTERM
to its uvicorn), with requests and feed polls in flight:

1. uvicorn stops accepting and waits for the requests in flight, at most
   ``DRAIN_SECONDS`` (``--timeout-graceful-shutdown``; ``waymark serve`` sets it), then
   cancels them;
2. the lifespan stops the scheduler: its running jobs (feed polls, the dispatcher, the
   jobs) are cancelled and awaited, at most ``JOBS_SECONDS``, before the database
   engine and the HTTP clients close under them. Cancelling is safe by design: a feed
   page commits with its cursor, a claimed reminder's lease runs out and is reconciled;
3. under ``waymark serve``, a watchdog armed when the lifespan's shutdown begins ends
   the process ``HARD_STOP_SECONDS`` later, whatever is still running (a task that
   ignores cancellation once hung a notifications process after Ctrl-C). Not armed
   in-process (tests), where there is no process of ours to end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI

log = logging.getLogger("waymark.shutdown")

SHUTDOWN_SECONDS = 10.0
DRAIN_SECONDS = 6.0
JOBS_SECONDS = 2.0
HARD_STOP_SECONDS = SHUTDOWN_SECONDS - DRAIN_SECONDS - 0.5
# Set by ``waymark serve`` for its uvicorn (and inherited by its workers).
HARD_STOP_ENV = "_WAYMARK_HARD_STOP"


async def stop_scheduler(scheduler: AsyncIOScheduler, *, within: float = JOBS_SECONDS) -> None:
    """Stop ``scheduler``: no new runs, the running jobs cancelled and awaited for at
    most ``within`` seconds (APScheduler's own shutdown cancels them but cannot wait)."""
    if not scheduler.running:
        return
    # APScheduler 3 (pinned below 4) keeps an executor's running jobs in
    # ``_pending_futures``; it has no public way to wait for them.
    running = [future for executor in scheduler._executors.values()
               for future in getattr(executor, "_pending_futures", ())]
    scheduler.shutdown(wait=False)
    if running:
        _, stuck = await asyncio.wait(running, timeout=within)
        if stuck:
            log.warning("%d scheduler job(s) still running %.0f s after cancellation",
                        len(stuck), within)


def _hard_stop() -> None:
    log.error("shutdown overran its %.0f s budget: exiting now", SHUTDOWN_SECONDS)
    logging.shutdown()
    os._exit(1)


def arm_hard_stop(after: float = HARD_STOP_SECONDS) -> threading.Timer:
    timer = threading.Timer(after, _hard_stop)
    timer.daemon = True
    timer.start()
    return timer


def install_hard_stop(app: FastAPI) -> None:
    """Wrap the app's lifespan so that, in a ``waymark serve`` process, the watchdog is
    armed as its shutdown begins."""
    inner: Callable[[Any], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            yield state
            if os.environ.get(HARD_STOP_ENV):
                arm_hard_stop(float(os.environ[HARD_STOP_ENV]))

    app.router.lifespan_context = lifespan
