"""Who hears what the retry layer does: the 429s it sees (retried or not) and its sleeps before a retry.

Standard library only, so a hook can hold its observers from construction, before
``requests`` is imported for its first call.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol

log = logging.getLogger(__name__)


class RetryObserver(Protocol):
    """What an observer offers; ``adaptive_limit.AdaptiveLimit`` is one. Both run in the calling thread."""

    def throttled(self) -> None:
        """The service answered 429 (also one the transport then retries)."""

    def backing_off(self) -> contextlib.AbstractContextManager[Any]:
        """Held while the transport sleeps before a retry: the caller is not on the wire meanwhile."""


class RetryObservers:
    """Tell every registered observer what the retry layer does; an observer that fails is logged, not fatal.

    An observer has ``throttled()`` (the service answered 429) and ``backing_off()`` (a context
    manager around the sleep before a retry); ``adaptive_limit.AdaptiveLimit`` is one. Both run in
    the thread making the call.
    """

    def __init__(self) -> None:
        self._observers: list[Any] = []

    def add(self, observer: Any) -> None:
        for name in ("throttled", "backing_off"):
            if not callable(getattr(observer, name, None)):
                raise TypeError(f"a retry observer needs a {name}() method, got {observer!r}")
        self._observers.append(observer)

    def remove(self, observer: Any) -> None:
        with contextlib.suppress(ValueError):
            self._observers.remove(observer)

    def throttled(self) -> None:
        for observer in list(self._observers):
            try:
                observer.throttled()
            except Exception:
                log.exception("Retry observer %r failed on a 429", observer)

    @contextlib.contextmanager
    def backing_off(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for observer in list(self._observers):
                try:
                    stack.enter_context(observer.backing_off())
                except Exception:
                    log.exception("Retry observer %r failed before a backoff", observer)
            yield
