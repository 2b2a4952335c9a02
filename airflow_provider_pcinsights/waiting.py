"""The one wait core behind every sensor and trigger of the provider.

A wait is a *condition* (what to read about each report, and what the answers
mean) polled until it is met or can never be. The sensors poll it in a worker
(``poll``: the condition's blocking ``read`` with a hook of their own), the
triggers in the triggerer (``apoll``: its ``aread`` through the poll hub, which
shares one session and one batched read among every trigger of a connection);
both go through the same verdict and the same tolerance of short outages, so a
sensor gives the same answer in every mode.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_pcinsights.exceptions import (
    ServiceUnavailableError,
    ThrottledError,
    with_message,
)

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook
    from airflow_provider_pcinsights.triggers._hub import Reader

# Errors the hook has already retried (5xx, dropped connections, timeouts, 429)
# are tolerated this many polls in a row before a wait gives up: a short outage
# should not end an hours-long wait, a lasting one should not hide behind it.
MAX_CONSECUTIVE_TRANSIENT_ERRORS = 3
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (ServiceUnavailableError, ThrottledError)

# Reads every report of a wait once, for an event loop: the observations, awaited.
AsyncRead = Callable[[list[str]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Verdict:
    """Where a wait stands after one look at every report.

    ``value`` is what the wait hands back (the sensor's XCom) on success, and the
    latest observations otherwise, so an error event can still say what was seen.
    """

    state: str  # "success", "failure" or "waiting"
    message: str
    value: dict[str, Any]

    @property
    def final(self) -> bool:
        return self.state != "waiting"


class Condition(ABC):
    """What a wait waits for: how to read each report, and what the answers mean."""

    @abstractmethod
    def read(self, hook: PartnerCenterInsightsHook, report_ids: list[str]) -> dict[str, Any]:
        """Blocking: one observation per report id."""

    @abstractmethod
    async def aread(self, reader: Reader, report_ids: list[str]) -> dict[str, Any]:
        """``read`` for the triggerer's event loop, through a reader of the poll hub: never blocks it."""

    @abstractmethod
    def judge(self, observations: dict[str, Any]) -> Verdict:
        """Pure: decide from the observations. May raise for answers nobody can judge."""


class Wait:
    """One wait in progress: read, judge, and count transient failures in a row.

    :param condition: what to wait for.
    :param report_ids: the reports, already validated.
    :param tolerance: transient failures in a row that end the wait (the ones before are tolerated).
    """

    def __init__(
        self,
        condition: Condition,
        report_ids: list[str],
        *,
        tolerance: int = MAX_CONSECUTIVE_TRANSIENT_ERRORS,
        log: logging.Logger | Any | None = None,
    ) -> None:
        self.condition = condition
        self.report_ids = list(report_ids)
        self.tolerance = tolerance
        self.log = log or logging.getLogger(__name__)
        self.transient_errors = 0
        self.last: dict[str, Any] = {}
        self.last_verdict: Verdict | None = None

    def poll(self, hook: PartnerCenterInsightsHook) -> Verdict | None:
        """Read and judge once; ``None`` when a transient failure was tolerated."""
        try:
            observations = self.condition.read(hook, self.report_ids)
        except TRANSIENT_ERRORS as exc:
            return self._tolerate(exc)
        return self._judge(observations)

    async def apoll(self, read: AsyncRead) -> Verdict | None:
        """``poll`` for an event loop, with an awaitable read of the reports (a trigger's, through
        the poll hub: ``lambda ids: condition.aread(reader, ids)``)."""
        try:
            observations = await read(self.report_ids)
        except TRANSIENT_ERRORS as exc:
            return self._tolerate(exc)
        return self._judge(observations)

    def _judge(self, observations: dict[str, Any]) -> Verdict:
        self.transient_errors = 0
        self.last = dict(observations)
        self.last_verdict = self.condition.judge(observations)
        return self.last_verdict

    def _tolerate(self, exc: Exception) -> None:
        self.transient_errors += 1
        if self.transient_errors >= self.tolerance:
            raise with_message(
                exc, f"gave up after {self.transient_errors} failed polls in a row: {exc}"
            ) from exc
        self.log.warning(
            "Could not read the reports (%d of %d tolerated in a row): %s",
            self.transient_errors,
            self.tolerance,
            exc,
        )
        return None


# -- how a wait that ran out of time says so -------------------------------------------------

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def in_words(seconds: float) -> str:
    """A length of time as a person says it: ``10 minutes``, ``1 hour 5 minutes``, ``45 seconds``.

    Two units at most, rounded to the smaller one (a wait of 10 minutes and 0.4 seconds is
    "10 minutes"): the message is for a person reading a task log, not a stopwatch.
    """
    total = max(0, round(seconds))
    for i, (name, size) in enumerate(_UNITS):
        if total < size:
            continue
        smaller = _UNITS[i + 1] if i + 1 < len(_UNITS) else None
        if smaller is not None:  # 1 hour 4 minutes 50 seconds is "1 hour 5 minutes"
            total = round(total / smaller[1]) * smaller[1]
        count, rest = divmod(total, size)
        words = [_plural(count, name)]
        if smaller is not None and rest:
            words.append(_plural(rest // smaller[1], smaller[0]))
        return " ".join(words)
    return "less than a second"


def _plural(count: int, name: str) -> str:
    return f"{count} {name}{'s' * (count != 1)}"


def timed_out_message(waited: float, last: Verdict | None, waiting_for: str) -> str:
    """What a wait that reached its ``timeout`` says: how long it waited, in words, and what it last saw."""
    seen = last.message if last is not None else f"no read of the {waiting_for} succeeded"
    return f"Timed out after waiting {in_words(waited)} (the sensor's timeout) after one last read; {seen}"
