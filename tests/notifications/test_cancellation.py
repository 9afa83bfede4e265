"""A dispatcher cancelled mid-batch (the service stopping) leaves no send running: the
ones not started never start, the paced ones waiting behind a cancelled one are not
stranded, and the reminders are left to the lease and reconciliation."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from notifications.claims import Claimed
from notifications.enums import Channel, ReminderKind
from notifications.pacing import Pacer
from notifications.sending import send_all


class Hanging:
    """A provider whose sends never answer."""

    name = "log"

    def __init__(self, until: int) -> None:
        self.started = 0
        self.until, self.reached = until, asyncio.Event()

    async def send(self, message, *, status_callback: str) -> str:
        self.started += 1
        if self.started == self.until:
            self.reached.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def claimed(slot: float) -> Claimed:
    return Claimed(id=uuid.uuid4(), case_id=uuid.uuid4(), expected_checkin_id=uuid.uuid4(),
                   kind=ReminderKind.evening_before, channel=Channel.sms, attempts=1,
                   deadline=datetime(2030, 1, 1, tzinfo=UTC), phone_hash="h",
                   message=object(), slot=slot)  # type: ignore[arg-type]


async def test_a_cancelled_batch_leaves_no_send_behind():
    provider = Hanging(until=2)
    now = time.time()
    batch = [claimed(now + i * 0.01) for i in range(6)]
    before = asyncio.all_tasks()

    async def deliver() -> None:
        async for _ in send_all(batch, provider=provider, status_callback="http://x",
                                concurrency=2, pacer=Pacer(2.0), group=10):
            pass

    task = asyncio.create_task(deliver())
    await asyncio.wait_for(provider.reached.wait(), timeout=5)
    task.cancel()
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), timeout=2)
    await asyncio.sleep(0)  # let the cancelled sends finish unwinding
    left = {t for t in asyncio.all_tasks() - before if not t.done()}
    left.discard(asyncio.current_task())
    assert left == set()
    assert provider.started == 2  # the gate held the rest back; none started after
