"""Run one function over many items, as many at once as an ``AdaptiveLimit`` allows; lose none.

Pausing 500 reports one by one wastes the wire; all at once trips the
service's rate limit. ``run_bulk`` keeps as many calls going as the limit
allows, and the limit follows the service (see ``adaptive_limit``). Every item
gets exactly one ``Outcome``, in input order, whatever its function raised.

Standard library only; the function does its own I/O (through the hook).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from airflow_provider_pcinsights.adaptive_limit import AdaptiveLimit

log = logging.getLogger(__name__)

# Threads per place under the ceiling: a call asleep in a backoff holds its thread but not its place,
# so that many more threads keep the places filled while a throttled share of the calls sleeps.
WORKERS_PER_SLOT = 2
# How often the calling thread wakes while it waits, to take a signal (the task being killed) in time.
_JOIN_SLICE = 0.2

T = TypeVar("T")
R = TypeVar("R")


class NotAttempted(Exception):
    """The item was never started: the run was interrupted before its turn."""


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """What happened to one item: ``value`` if its function returned, ``error`` if it raised."""

    index: int
    item: T
    value: R | None = None
    error: BaseException | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


def run_bulk(
    function: Callable[[T], R],
    items: Sequence[T],
    *,
    limit: AdaptiveLimit | None = None,
    on_outcome: Callable[[Outcome[T, R]], Any] | None = None,
    again_on: tuple[type[BaseException], ...] = (),
    max_attempts: int = 3,
    thread_name_prefix: str = "pcinsights-bulk",
) -> list[Outcome[T, R]]:
    """``function(item)`` for every item, at most ``limit.limit`` at a time; one outcome per item, in order.

    Items are started in input order. An item whose function raises gets an outcome with
    the error, and the others go on. ``on_outcome`` is called (in the worker's thread) as
    each item ends, so a caller can log or record progress as it happens.

    If the calling thread is interrupted (an exception while waiting, such as the task
    being killed), no further item is started, the ones running are waited for (their
    outcomes still reach ``on_outcome``), and the exception is raised again.

    :param limit: the adaptive limit to run under; a fresh ``AdaptiveLimit()`` (the default
        ceiling) when not given. Register the same limit with the hook
        (``hook.add_retry_observer(limit)``) so that 429s the hook retries slow it down.
    :param again_on: errors after which an item is tried again, at the end of the queue (by
        then the limit has come down), up to ``max_attempts`` times in all. Only for errors that
        prove nothing was done (``ThrottledError``: the service refused the call), so that
        throttling which outlived the hook's own retries loses no item of a long list.
    """
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be a whole number >= 1, got {max_attempts!r}")
    items = list(items)
    limit = limit or AdaptiveLimit()
    outcomes: list[Outcome[T, R] | None] = [None] * len(items)
    state = _Progress(len(items))

    def worker() -> None:
        try:
            while True:
                with limit.slot() as place:
                    index = state.next_index()
                    if index is None:
                        place.counts = False
                        return
                    outcome = _attempt(function, index, items[index], state.attempt(index))
                    place.counts = outcome.ok
                again = isinstance(outcome.error, again_on) and outcome.attempts < max_attempts
                if again and state.again(index):
                    log.info("Item %d: %s; trying it again later", index, outcome.error)
                else:
                    _finish(outcome)
        finally:
            state.worker_done()

    def _finish(outcome: Outcome[T, R]) -> None:
        outcomes[outcome.index] = outcome
        if on_outcome is not None:
            try:
                on_outcome(outcome)
            except Exception:
                log.exception("on_outcome failed for item %d", outcome.index)

    workers = [
        threading.Thread(target=worker, name=f"{thread_name_prefix}-{n}", daemon=True)
        for n in range(min(limit.ceiling * WORKERS_PER_SLOT, len(items)))
    ]
    try:
        with _signals_held():  # so no signal lands between starting a worker and counting it
            for thread in workers:
                state.worker_started()
                try:
                    thread.start()
                except BaseException:
                    state.worker_done()
                    raise
        state.wait_for_workers()
    except BaseException:
        state.stop()
        state.wait_for_workers()
        raise
    return [
        outcome if outcome is not None else Outcome(index, items[index], error=NotAttempted(f"item {index}"))
        for index, outcome in enumerate(outcomes)
    ]


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


def _attempt(function: Callable[[T], R], index: int, item: T, attempt: int) -> Outcome[T, R]:
    try:
        return Outcome(index, item, value=function(item), attempts=attempt)
    except BaseException as exc:  # an outcome, never lost: even SystemExit in a worker thread
        return Outcome(index, item, error=exc, attempts=attempt)


class _Progress:
    """Hands out the next index in input order (items tried again last) until the end, or until
    stopped; counts the workers.

    The caller waits on this count rather than on ``Thread.join``: a join that a signal
    interrupts can leave Python 3.11 taking a running thread for finished.
    """

    def __init__(self, total: int) -> None:
        self._queue = deque(range(total))
        self._attempts = [0] * total
        self._stopped = False
        self._workers = 0
        self._changed = threading.Condition()

    def next_index(self) -> int | None:
        with self._changed:
            if self._stopped or not self._queue:
                return None
            return self._queue.popleft()

    def attempt(self, index: int) -> int:
        """Count one attempt at the item; its number, from 1."""
        with self._changed:
            self._attempts[index] += 1
            return self._attempts[index]

    def again(self, index: int) -> bool:
        """Queue the item again, last, unless stopped. The worker that does so goes on taking
        items, so it is not lost."""
        with self._changed:
            if self._stopped:
                return False
            self._queue.append(index)
            return True

    def stop(self) -> None:
        with self._changed:
            self._stopped = True

    def worker_started(self) -> None:
        with self._changed:
            self._workers += 1

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
