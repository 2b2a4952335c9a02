"""Run a trigger the way the triggerer does, to its end, under asyncio."""

from __future__ import annotations

import asyncio
from typing import Any


async def all_events(trigger: Any) -> list:
    """Drain run() completely: proves it yields one event and then ends, rather than only the first."""
    return [event async for event in trigger.run()]


def run_to_end(trigger: Any) -> dict[str, Any]:
    """The payload of the one event ``trigger`` yields (asserting there is exactly one)."""
    events = asyncio.run(all_events(trigger))
    assert len(events) == 1, events
    return events[0].payload
