"""Pacing: the outbound rate limit, shared by every dispatcher.

Each claim reserves send slots ``1/rate`` apart in the database (``SendPace``, under a
row lock, so dispatchers take turns); in the process, a send starts at its slot and
only once the send ``rate`` places back finished more than a second ago. The provider
receives a request before it answers it, so no one-second window at the provider ever
holds more than ``rate`` requests, whatever the delays on the way.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.claims import Claimed
from notifications.models import SendPace
from shared.db import dialect_insert

PACING_HEADROOM = 0.005


async def reserve_slots(session: AsyncSession, claimed: Sequence[Claimed], *, rate: float,
                        now: datetime) -> None:
    """Give each message a send time 1/rate apart after the last one any dispatcher
    reserved, in the caller's transaction."""
    await session.execute(
        dialect_insert(session)(SendPace).values(name="outbound", next_free_at=now)
        .on_conflict_do_nothing(index_elements=["name"]))
    pace = (await session.execute(
        sa.select(SendPace).where(SendPace.name == "outbound").with_for_update())).scalar_one()
    # Evenly spaced slots 1/rate apart would put rate + 1 sends in a closed one-second
    # window; half a percent of headroom keeps every window at or under the limit
    # with a few milliseconds of network jitter to spare.
    interval = (1.0 + PACING_HEADROOM) / rate
    start = max(pace.next_free_at.timestamp(), time.time())
    for index, item in enumerate(claimed):
        item.slot = start + index * interval
    pace.next_free_at = datetime.fromtimestamp(start + len(claimed) * interval, tz=now.tzinfo)


class Pacer:
    """One dispatcher's side of the limit: the finish times of its last ``rate`` sends."""

    def __init__(self, rate: float) -> None:
        self._recent: deque[asyncio.Future[float]] = deque(maxlen=max(1, int(rate)))
        self._turn = asyncio.Lock()

    async def wait(self, slot: float) -> asyncio.Future[float]:
        """Wait for the message's slot, and until the send ``rate`` places back has
        finished more than a second ago; returns the future the caller resolves with
        the time its own send finished."""
        async with self._turn:  # sends start one at a time, in slot order
            start = slot
            if len(self._recent) == self._recent.maxlen:
                start = max(start, await asyncio.shield(self._recent[0]) + 1.0)
            wait = start - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            self._recent.append(done)
        return done
