"""The one wait core behind every sensor and trigger of the provider.

A wait is a *condition* (what to read about each report, and what the answers
mean) polled until it is met or can never be. The sensors poll it in a worker
(``poll``), the triggers in the triggerer (``apoll``, which runs the blocking
read in a thread); both go through the same read, the same verdict and the same
tolerance of short outages, so a sensor gives the same answer in every mode.

The read is a plain function of ``(hook, report_ids)``: a trigger may swap in
another one (for example one that batches the reads of several triggers)
without touching the rest of the wait.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_pcinsights.exceptions import (
    ServiceUnavailableError,
    ThrottledError,
    with_message,
)

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

# Errors the hook has already retried (5xx, dropped connections, timeouts, 429)
# are tolerated this many polls in a row before a wait gives up: a short outage
# should not end an hours-long wait, a lasting one should not hide behind it.
MAX_CONSECUTIVE_TRANSIENT_ERRORS = 3
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (ServiceUnavailableError, ThrottledError)

# Reads every report of a wait once; blocking (it makes HTTP calls through the hook).
Read = Callable[["PartnerCenterInsightsHook", list[str]], dict[str, Any]]


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
    def judge(self, observations: dict[str, Any]) -> Verdict:
        """Pure: decide from the observations. May raise for answers nobody can judge."""


class Wait:
    """One wait in progress: read, judge, and count transient failures in a row.

    :param condition: what to wait for.
    :param report_ids: the reports, already validated.
    :param read: replaces ``condition.read`` (same signature), for a trigger that reads differently.
    :param tolerance: transient failures in a row that end the wait (the ones before are tolerated).
    """

    def __init__(
        self,
        condition: Condition,
        report_ids: list[str],
        *,
        read: Read | None = None,
        tolerance: int = MAX_CONSECUTIVE_TRANSIENT_ERRORS,
        log: logging.Logger | Any | None = None,
    ) -> None:
        self.condition = condition
        self.report_ids = list(report_ids)
        self.read: Read = read or condition.read
        self.tolerance = tolerance
        self.log = log or logging.getLogger(__name__)
        self.transient_errors = 0
        self.last: dict[str, Any] = {}

    def poll(self, hook: PartnerCenterInsightsHook) -> Verdict | None:
        """Read and judge once; ``None`` when a transient failure was tolerated."""
        try:
            observations = self.read(hook, self.report_ids)
        except TRANSIENT_ERRORS as exc:
            return self._tolerate(exc)
        return self._judge(observations)

    async def apoll(self, hook: PartnerCenterInsightsHook) -> Verdict | None:
        """``poll`` for an event loop: the blocking read runs in a worker thread."""
        try:
            observations = await asyncio.to_thread(self.read, hook, self.report_ids)
        except TRANSIENT_ERRORS as exc:
            return self._tolerate(exc)
        return self._judge(observations)

    def _judge(self, observations: dict[str, Any]) -> Verdict:
        self.transient_errors = 0
        self.last = dict(observations)
        return self.condition.judge(observations)

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
