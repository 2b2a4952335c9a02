"""Blocking calls of the triggers: a loop that ends never leaves one of their threads waiting."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

from airflow_provider_pcinsights._loop_threads import map_in_threads, run_blocking


def test_a_fan_out_the_ending_loop_never_starts_fails_its_call_and_the_loop_still_ends():
    """``asyncio.run`` cancels every task left when its coroutine returns, and then waits for the
    threads of its executor. A read that fans out from such a thread (the hub's single reads) asks
    the loop to start the fan-out; when the loop cancels that before its first step, the read must
    fail, not wait for ever and keep ``asyncio.run`` (a triggerer's runner, a bench) from returning.
    The loop here is held until the fan-out is queued, then its coroutine returns: that order is
    the one a loaded bench hit by chance."""
    queued = threading.Event()
    outcome: dict[str, Any] = {}

    def read() -> None:
        try:
            outcome["answers"] = map_in_threads(str, [1, 2, 3], 2, "pcinsights-test")
        except BaseException as error:  # whatever it is, the assertion names it
            outcome["error"] = error

    async def main() -> None:
        loop = asyncio.get_running_loop()
        schedule = loop.call_soon_threadsafe

        def noting(*args: Any, **kwargs: Any) -> asyncio.Handle:
            handle = schedule(*args, **kwargs)
            queued.set()
            return handle

        loop.call_soon_threadsafe = noting  # type: ignore[method-assign]
        reading = loop.create_task(run_blocking(read))
        await asyncio.sleep(0)  # the read starts in its thread
        queued.wait(60)  # holds the loop until the fan-out is queued, then returns
        assert not reading.done()

    runner = threading.Thread(target=asyncio.run, args=(main(),), name="ending-loop", daemon=True)
    runner.start()
    runner.join(120)

    assert not runner.is_alive(), "asyncio.run never returned: a thread of its executor still waits"
    assert queued.is_set()
    assert isinstance(outcome.get("error"), concurrent.futures.CancelledError), outcome


def test_under_a_running_loop_the_fan_out_answers_in_order():
    async def main() -> list[str]:
        return await run_blocking(map_in_threads, str, [3, 1, 2], 2, "pcinsights-test")

    assert asyncio.run(main()) == ["3", "1", "2"]
