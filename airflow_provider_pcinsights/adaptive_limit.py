"""How many calls may be on the wire at once: as many as the service takes, found as it goes (AIMD).

The service's rate limits are undocumented, and a fixed concurrency is wrong
both ways: too low and a long list crawls, too high and it fails on throttling.
So the limit adapts the way TCP's congestion window does:

- a 429 halves it (rounded up; floor 1), once per round: 429s answering calls sent
  before the last halving were caused by the old limit and do not halve it again;
- successes grow it back slowly: +1 per ``GROWTH_ROUNDS x limit`` successes, one step
  every few rounds of calls, up to ``ceiling``. Slowly, because every probe above the
  service's limit costs 429s, and each 429 costs its call a wait of a second or more
  (``Retry-After`` is in whole seconds). Only successes of calls sent while the limit
  was all taken count, so a limit the callers do not use (most of them asleep in a
  backoff) cannot swell and let them all loose at once when they wake.

A call sleeping in the transport's backoff before a retry gives its slot back
meanwhile (``backing_off``), so a throttled call never holds the wire it is not
using, and takes a slot again before it is resent.

Standard library only; thread-safe. ``bulk.run_bulk`` runs items under a limit;
``PartnerCenterInsightsHook.add_retry_observer(limit)`` makes the hook's retry
layer report its 429s and backoffs to it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

# High enough that 500 calls of 20 ms finish >= 8x faster than one at a time and within 1.2x of
# ``calls x 20 ms / concurrency`` on the project's 2-core machine (``make bench`` measures it).
DEFAULT_CEILING = 12
# Rounds of successes (``limit`` calls each) per step of growth after a 429: measured under the
# emulator's token bucket, 1 (TCP's pace) probes so often that a fifth of the calls are refused.
GROWTH_ROUNDS = 4


@dataclass
class _Slot:
    """One caller's place on the wire: the round it started in, and whether it was throttled."""

    epoch: int
    throttled: bool = False
    held: bool = True
    counts: bool = True  # cleared by the caller when the block did no successful call
    at_limit: bool = False  # the limit was all taken while this slot was held


class AdaptiveLimit:
    """An AIMD concurrency limit; ``slot()`` holds one place while a call runs.

    :param ceiling: the most calls at once, ever.
    :param floor: the fewest the limit falls to (1: never stop entirely).
    :param start: the limit at first; the ceiling by default (the service's limits are
        unknown, so start optimistic and halve on the first 429).
    """

    def __init__(self, ceiling: int = DEFAULT_CEILING, *, floor: int = 1, start: int | None = None) -> None:
        for name, value in (("ceiling", ceiling), ("floor", floor)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        if floor > ceiling:
            raise ValueError(f"floor ({floor}) must not exceed ceiling ({ceiling})")
        start = ceiling if start is None else start
        if isinstance(start, bool) or not isinstance(start, int) or not floor <= start <= ceiling:
            raise ValueError(f"start must be a whole number from {floor} to {ceiling}, got {start!r}")
        self.ceiling = ceiling
        self.floor = floor
        self._limit = start
        self._credit = 0.0
        self._in_flight = 0
        self._epoch = 0
        self._changed = threading.Condition()
        self._local = threading.local()
        # What happened, for logs, tests and the benchmark.
        self.decreases = 0
        self.increases = 0
        self.lowest = start
        self.peak_in_flight = 0

    def __repr__(self) -> str:
        return f"AdaptiveLimit(limit={self._limit}, floor={self.floor}, ceiling={self.ceiling})"

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    # -- holding a place ----------------------------------------------------------------

    @contextlib.contextmanager
    def slot(self) -> Iterator[_Slot]:
        """Wait for a place under the current limit, hold it while the block runs.

        The block counts as a success (growing the limit) when it ends without raising,
        without clearing ``counts`` on the slot it was given (an error, or nothing sent), and no 429 reached
        ``throttled()`` from this thread meanwhile (that one already halved the limit).
        """
        slot = self._acquire()
        previous = getattr(self._local, "slot", None)
        self._local.slot = slot
        ok = False
        try:
            yield slot
            ok = True
        finally:
            self._local.slot = previous
            self._release(slot, success=ok and not slot.throttled and slot.counts)

    @contextlib.contextmanager
    def backing_off(self) -> Iterator[None]:
        """Give this thread's place back while the transport sleeps before a retry; take one again after.

        Outside ``slot()`` (a call the limit does not pace) it does nothing.
        """
        slot = getattr(self._local, "slot", None)
        if slot is None or not slot.held:
            yield
            return
        with self._changed:
            self._in_flight -= 1
            slot.held = False
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._wait_for_room()
                self._in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
                slot.held = True
                slot.epoch = self._epoch  # resent under today's limit: its 429 counts again
                slot.at_limit = self._in_flight >= self._limit

    # -- what the service said ----------------------------------------------------------------

    def throttled(self) -> None:
        """The service answered 429: halve the limit, unless this call was sent before the last halving."""
        slot = getattr(self._local, "slot", None)
        with self._changed:
            if slot is not None:
                slot.throttled = True
                if slot.epoch != self._epoch:
                    return  # sent under a limit already halved for this round
                slot.epoch = self._epoch + 1
            self._epoch += 1
            if self._limit > self.floor:
                self._limit = max(self.floor, (self._limit + 1) // 2)
                self.decreases += 1
                self.lowest = min(self.lowest, self._limit)
            self._credit = 0.0

    def succeeded(self) -> None:
        """One call went through: grow by one step per ``GROWTH_ROUNDS x limit`` successes, up to the
        ceiling."""
        with self._changed:
            self._grow()

    # -- internals -------------------------------------------------------------------------------

    def _acquire(self) -> _Slot:
        with self._changed:
            self._wait_for_room()
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            return _Slot(epoch=self._epoch, at_limit=self._in_flight >= self._limit)

    def _release(self, slot: _Slot, *, success: bool) -> None:
        with self._changed:
            at_limit = slot.at_limit or self._in_flight >= self._limit
            if slot.held:
                self._in_flight -= 1
                slot.held = False
            if success and at_limit:
                self._grow()  # wakes every waiter itself when the limit grows
            # One place freed, one waiter woken: waking them all on every call that ends (a list of
            # 500 has 12 waiting) would have each one take the GIL to find the place gone.
            self._changed.notify()

    def _wait_for_room(self) -> None:
        while self._in_flight >= self._limit:
            self._changed.wait()

    def _grow(self) -> None:
        if self._limit >= self.ceiling:
            return
        self._credit += 1.0 / (GROWTH_ROUNDS * self._limit)
        if self._credit >= 1.0 - 1e-9:
            self._credit -= 1.0
            self._limit += 1
            self.increases += 1
            self._changed.notify_all()
