"""Run one function over many items, as many at once as the service takes; lose none.

Pausing 500 reports one by one wastes the wire; all at once trips the
service's rate limit, which is undocumented. So ``run_bulk`` keeps as many
calls going as an ``AdaptiveLimit`` allows, and the limit adapts the way TCP's
congestion window does:

- a 429 halves it (rounded up; floor 1), once per round: 429s answering calls sent
  before the last halving were caused by the old limit and do not halve it again;
- successes grow it back slowly: +1 per ``GROWTH_ROUNDS x limit`` successes, up to
  ``ceiling``. Slowly, because every probe above the service's limit costs 429s, and
  each 429 costs its call a wait of a second or more (``Retry-After`` is in whole
  seconds). Only successes of calls sent while the limit was all taken count, so a
  limit the callers do not use (most of them asleep in a backoff) cannot swell and
  let them all loose at once when they wake.

A call sleeping in the transport's backoff before a retry gives its place back
meanwhile (``backing_off``), and takes one again before it is resent;
``PartnerCenterInsightsHook.add_retry_observer(limit)`` makes the hook's retry
layer report its 429s and backoffs to the limit. Every item gets exactly one
``Outcome``, in input order, whatever its function raised.

Standard library only; thread-safe. The function does its own I/O (through the hook).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

# High enough that 500 calls of 20 ms finish >= 8x faster than one at a time and within 1.2x of
# ``calls x 20 ms / concurrency`` on the project's 2-core machine (``make bench`` measures it).
DEFAULT_CEILING = 12
# Rounds of successes (``limit`` calls each) per step of growth after a 429: measured under the
# emulator's token bucket, 1 (TCP's pace) probes so often that a fifth of the calls are refused.
GROWTH_ROUNDS = 4
# Threads per place under the ceiling: a call asleep in a backoff holds its thread but not its place,
# so that many more threads keep the places filled while a throttled share of the calls sleeps.
WORKERS_PER_SLOT = 2
# How often the calling thread wakes while it waits, to take a signal (the task being killed) in time.
_JOIN_SLICE = 0.2

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Slot:
    """One caller's place on the wire: the round it started in, and whether it was throttled."""

    epoch: int = 0
    throttled: bool = False
    held: bool = False
    counts: bool = True  # cleared by the caller when the block did no successful call
    at_limit: bool = False  # the limit was all taken while this slot was held


class AdaptiveLimit:
    """An AIMD concurrency limit; ``slot()`` holds one place while a call runs.

    :param ceiling: the most calls at once, ever (the operators check it is a whole number >= 1). The
        limit starts there (the service's limits are unknown, so start optimistic and halve on the
        first 429) and never falls below 1: the calls never stop entirely.
    """

    def __init__(self, ceiling: int = DEFAULT_CEILING) -> None:
        self.ceiling = self.limit = self.lowest = ceiling
        self.in_flight = 0  # calls holding a place now
        self._credit = 0.0
        self._epoch = 0
        self._changed = threading.Condition()
        self._local = threading.local()
        # What happened, for logs, tests and the benchmark.
        self.decreases = self.increases = self.peak_in_flight = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[_Slot]:
        """Wait for a place under the current limit, hold it while the block runs.

        The block counts as a success (growing the limit) when it ends without raising,
        without clearing ``counts`` on the slot it was given (an error, or nothing sent), and no 429 reached
        ``throttled()`` from this thread meanwhile (that one already halved the limit).
        """
        slot = _Slot()
        with self._changed:
            self._take(slot)
        previous = getattr(self._local, "slot", None)
        self._local.slot = slot
        ok = False
        try:
            yield slot
            ok = True
        finally:
            self._local.slot = previous
            with self._changed:
                at_limit = slot.at_limit or self.in_flight >= self.limit
                self._give(slot)
                if ok and not slot.throttled and slot.counts and at_limit:
                    self._grow()  # wakes every waiter itself when the limit grows

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
            self._give(slot)
        try:
            yield
        finally:
            with self._changed:
                self._take(slot)  # resent under today's limit: its 429 counts again

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
            if self.limit > 1:
                self.limit = (self.limit + 1) // 2
                self.decreases += 1
                self.lowest = min(self.lowest, self.limit)
            self._credit = 0.0

    def succeeded(self) -> None:
        """One call went through: grow by one step per ``GROWTH_ROUNDS x limit`` successes, up to the
        ceiling."""
        with self._changed:
            self._grow()

    def _take(self, slot: _Slot) -> None:
        while self.in_flight >= self.limit:
            self._changed.wait()
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        slot.held, slot.epoch, slot.at_limit = True, self._epoch, self.in_flight >= self.limit

    def _give(self, slot: _Slot) -> None:
        if slot.held:
            self.in_flight -= 1
            slot.held = False
        # One place freed, one waiter woken: waking them all on every call that ends (a list of
        # 500 has 12 waiting) would have each one take the GIL to find the place gone.
        self._changed.notify()

    def _grow(self) -> None:
        if self.limit >= self.ceiling:
            return
        self._credit += 1.0 / (GROWTH_ROUNDS * self.limit)
        if self._credit >= 1.0 - 1e-9:
            self._credit -= 1.0
            self.limit += 1
            self.increases += 1
            self._changed.notify_all()


class NotAttempted(Exception):
    """The item was never started: the run was interrupted before its turn."""


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """What happened to one item: ``value`` if its function returned, ``error`` if it raised; neither if
    nothing was done (a report whose read before the action failed: ``operators._actions``)."""

    item: T
    value: R | None = None
    error: BaseException | None = None
    attempts: int = 1
    index: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


def run_bulk(
    function: Callable[[T], R],
    items: Sequence[T] | Callable[[], Sequence[T]],
    *,
    limit: AdaptiveLimit | None = None,
    again_on: tuple[type[BaseException], ...] = (),
    max_attempts: int = 3,
    most_items: int | None = None,
) -> list[Outcome[T, R]]:
    """``function(item)`` for every item, at most ``limit.limit`` at a time; one outcome per item, in order.

    Items are started in input order. An item whose function raises gets an outcome with
    the error, and the others go on.

    ``items`` may be a function that finds them (``most_items`` of them at most): it is
    called in the calling thread at once, while one thread starts the workers, so that
    starting them (each start waits for the new thread to run) overlaps with finding the
    items (the read before a bulk action) instead of delaying its first call.

    If the calling thread is interrupted (an exception while waiting, such as the task
    being killed), no further item is started, the ones running are waited for, and the
    exception is raised again.

    :param limit: the adaptive limit to run under; a fresh ``AdaptiveLimit()`` when not given.
        Register the same limit with the hook (``hook.add_retry_observer(limit)``) so that
        429s the hook retries slow it down.
    :param again_on: errors after which an item is tried again, at the end of the queue (by
        then the limit has come down), up to ``max_attempts`` times in all. Only for errors that
        prove nothing was done (``ThrottledError``: the service refused the call), so that
        throttling which outlived the hook's own retries loses no item of a long list.
    """
    limit = limit or AdaptiveLimit()
    workers = limit.ceiling * WORKERS_PER_SLOT
    if callable(items):
        find, workers = items, min(workers, most_items or workers)
    else:
        given = list(items)
        find, workers = (lambda: given), min(workers, len(given))
    run: _Run[T, R] = _Run(function)

    def worker() -> None:
        try:
            while True:
                with limit.slot() as place:
                    index = run.next_index()
                    if index is None:
                        place.counts = False
                        return
                    outcome = run.attempt(index)
                    place.counts = outcome.ok
                again = isinstance(outcome.error, again_on) and outcome.attempts < max_attempts
                if again and run.again(index):
                    log.info("Item %d: %s; trying it again later", index, outcome.error)
                else:
                    run.finish(outcome)
        finally:
            run.worker_done()

    def start_workers() -> None:
        """Started first, it starts the workers while the calling thread finds the items: a thread
        start waits for the new thread to run, so the read before a bulk action goes out at once."""
        try:
            for n in range(workers):
                if not run.worker_started():
                    return  # stopped meanwhile
                try:
                    threading.Thread(target=worker, name=f"pcinsights-bulk-{n}", daemon=True).start()
                except BaseException as exc:
                    run.worker_done()
                    run.start_failed(exc)
                    return
        finally:
            run.worker_done()  # the starter's own count

    try:
        with _signals_held():  # so no signal lands between starting a thread and counting it
            run.worker_started()
            try:
                threading.Thread(target=start_workers, name="pcinsights-bulk-start", daemon=True).start()
            except BaseException:
                run.worker_done()
                raise
        run.give(find())
        run.wait_for_workers()
    except BaseException:
        run.stop()
        run.wait_for_workers()
        raise
    return run.outcomes()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back in the main thread meanwhile (threads started inherit it); they
    arrive when the block ends. Elsewhere (another thread, no ``pthread_sigmask``) nothing to do:
    Python only raises a signal's exception in the main thread."""
    held = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Run(Generic[T, R]):
    """One run's state: the items (once given), the queue of indexes in input order (items tried
    again last), the outcomes, and the count of live workers.

    The caller waits on this count rather than on ``Thread.join``: a join that a signal
    interrupts can leave Python 3.11 taking a running thread for finished.
    """

    def __init__(self, function: Callable[[T], R]) -> None:
        self._function = function
        self._items: list[T] = []
        self._queue: deque[int] = deque()
        self._attempts: list[int] = []
        self._outcomes: list[Outcome[T, R] | None] = []
        self._given = self._stopped = False
        self._workers = 0
        self._start_error: BaseException | None = None
        self._changed = threading.Condition()

    def give(self, items: Sequence[T]) -> None:
        with self._changed:
            self._items = list(items)
            self._queue.extend(range(len(self._items)))
            self._attempts = [0] * len(self._items)
            self._outcomes = [None] * len(self._items)
            self._given = True
            self._changed.notify_all()

    def next_index(self) -> int | None:
        """The next item's index, once the items are given; ``None`` at the end or when stopped."""
        with self._changed:
            while not self._given and not self._stopped:
                self._changed.wait()
            if self._stopped or not self._queue:
                return None
            index = self._queue.popleft()
            self._attempts[index] += 1
            return index

    def attempt(self, index: int) -> Outcome[T, R]:
        item, attempt = self._items[index], self._attempts[index]
        try:
            return Outcome(item, value=self._function(item), attempts=attempt, index=index)
        except BaseException as exc:  # an outcome, never lost: even SystemExit in a worker thread
            return Outcome(item, error=exc, attempts=attempt, index=index)

    def again(self, index: int) -> bool:
        """Queue the item again, last, unless stopped. The worker that does so goes on taking
        items, so it is not lost."""
        with self._changed:
            if not self._stopped:
                self._queue.append(index)
            return not self._stopped

    def finish(self, outcome: Outcome[T, R]) -> None:
        self._outcomes[outcome.index] = outcome

    def outcomes(self) -> list[Outcome[T, R]]:
        why = f": no worker thread could be started ({self._start_error})" if self._start_error else ""
        return [
            outcome or Outcome(self._items[index], error=NotAttempted(f"item {index}{why}"), index=index)
            for index, outcome in enumerate(self._outcomes)
        ]

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def worker_started(self) -> bool:
        """Count a thread about to start; ``False`` (not counted) once the run is stopped."""
        with self._changed:
            if self._stopped:
                return False
            self._workers += 1
            return True

    def start_failed(self, exc: BaseException) -> None:
        """A worker could not be started: the ones running take every item; with none, the items
        end as not attempted, each with this error."""
        log.warning("Could not start a bulk worker thread (%s); going on with those started", exc)
        with self._changed:
            self._start_error = exc
            self._changed.notify_all()

    def worker_done(self) -> None:
        with self._changed:
            self._workers -= 1
            self._changed.notify_all()

    def wait_for_workers(self) -> None:
        """Until every worker started has ended; in slices, so a signal (the task being killed)
        that lands just before a wait is taken within one slice, not when the list ends."""
        with self._changed:
            while self._workers > 0:
                self._changed.wait(_JOIN_SLICE)
