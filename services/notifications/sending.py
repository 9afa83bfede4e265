"""Sending: hands claimed reminders to the provider, each at its paced slot, a bounded
number at once, and reports what the provider said. Nothing here touches the
database: the outcomes are recorded by the caller."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from notifications.claims import Claimed
from notifications.pacing import Pacer
from notifications.providers import PermanentError, Provider, TransientError

log = logging.getLogger("waymark.notifications.dispatch")


@dataclass
class Outcome:
    claimed: Claimed
    provider_id: str | None = None
    error: Exception | None = None


def callback_url(status_callback: str, item: Claimed) -> str:
    # Our id rides along, so a callback can settle a send we did not get to record.
    return f"{status_callback}?reminder={item.id}"


async def send_all(claimed: Sequence[Claimed], *, provider: Provider, status_callback: str,
                   concurrency: int, pacer: Pacer | None,
                   group: int) -> AsyncIterator[list[Outcome]]:
    """Send each at its slot (``pacer``, if any), at most ``concurrency`` at once,
    yielding the outcomes in groups of ``group`` as they come in. A provider error
    becomes an outcome, never an exception: a provider bug must not strand the batch."""
    gate = asyncio.Semaphore(concurrency)

    async def send(item: Claimed) -> Outcome:
        done = await pacer.wait(item.slot) if pacer is not None else None
        try:
            async with gate:
                try:
                    sid = await provider.send(
                        item.message, status_callback=callback_url(status_callback, item))
                except (TransientError, PermanentError) as exc:
                    return Outcome(item, error=exc)
                except Exception as exc:
                    log.error("provider raised %s", type(exc).__name__)
                    return Outcome(item, error=TransientError(type(exc).__name__))
                return Outcome(item, provider_id=sid)
        finally:
            # Even when cancelled while waiting for the gate: the sends paced after
            # this one wait for this future.
            if done is not None and not done.done():
                done.set_result(time.time())

    # Tasks made here start in slot order (as_completed would start them in any).
    tasks = [asyncio.ensure_future(send(item)) for item in claimed]
    try:
        pending: list[Outcome] = []
        for finished in asyncio.as_completed(tasks):
            pending.append(await finished)
            if len(pending) >= group:
                yield pending
                pending = []
        if pending:
            yield pending
    finally:
        # Cancelled (the service is stopping): no send starts after this; those cut
        # short are settled by the lease and reconciliation, as after a crash.
        for task in tasks:
            task.cancel()
