"""Stopping a service's background work: the scheduler's running jobs are cancelled and
awaited (bounded) before what they use is closed."""

from __future__ import annotations

import asyncio
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from shared.shutdown import stop_scheduler


async def started(job) -> tuple[AsyncIOScheduler, asyncio.Event]:
    running = asyncio.Event()

    async def run() -> None:
        running.set()
        await job()

    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(run, "interval", seconds=0.05, id="job", max_instances=1)
    scheduler.start()
    await asyncio.wait_for(running.wait(), timeout=5)
    return scheduler, running


async def test_a_running_job_is_cancelled_and_awaited():
    finished = []

    async def poll_forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            finished.append("cleaned up")  # e.g. a transaction rolled back

    scheduler, _ = await started(poll_forever)
    await asyncio.wait_for(stop_scheduler(scheduler, within=2), timeout=3)
    assert finished == ["cleaned up"]  # before stop_scheduler returned
    assert not scheduler.running


async def test_a_job_that_ignores_cancellation_costs_at_most_the_bound(caplog):
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue  # a bug: swallows the cancellation

    scheduler, _ = await started(stubborn)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with caplog.at_level(logging.WARNING, logger="waymark.shutdown"):
        await stop_scheduler(scheduler, within=0.3)
    assert loop.time() - began < 2
    assert "still running" in caplog.text
    release.set()  # let the test's own loop finish it
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task() and "stubborn" in repr(task.get_coro()):
            task.cancel()
