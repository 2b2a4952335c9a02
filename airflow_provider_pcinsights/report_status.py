"""What a set of report statuses means for a wait: done, failed, or not yet.

Pure functions, shared by the sensor (which polls in the worker) and the
trigger (which polls in the triggerer), so both modes of the same sensor give
the same verdict for the same answers. The service documents the statuses in
PascalCase but its samples use other casings, so every comparison ignores case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_pcinsights.exceptions import UnreadableStatusError

KNOWN_STATUSES: tuple[str, ...] = ("Paused", "Active", "Inactive")
# Execution statuses the docs name; no ``Failed`` is documented.
EXECUTION_STATUSES: tuple[str, ...] = ("Pending", "Running", "Paused", "Completed")
DEFAULT_FAILURE_STATUSES: tuple[str, ...] = ("Inactive",)

_BY_FOLDED = {status.casefold(): status for status in KNOWN_STATUSES}


def canonical_status(value: Any, *, argument: str = "status") -> str:
    """Return the documented spelling of a status given in any case, or raise ``ValueError``."""
    if not isinstance(value, str) or value.strip().casefold() not in _BY_FOLDED:
        raise ValueError(
            f"{argument} has unknown report status {value!r}; use one of {', '.join(KNOWN_STATUSES)}"
        )
    return _BY_FOLDED[value.strip().casefold()]


def normalize_statuses(value: Any, *, argument: str, allow_empty: bool = False) -> tuple[str, ...]:
    """Turn one status or a list of them into documented spellings, without duplicates, in order."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or isinstance(items, Mapping):
        raise ValueError(
            f"{argument} must be one of {', '.join(KNOWN_STATUSES)} or a list of them, got {value!r}"
        )
    statuses: list[str] = []
    for item in items:
        status = canonical_status(item, argument=argument)
        if status not in statuses:
            statuses.append(status)
    if not statuses and not allow_empty:
        raise ValueError(f"{argument} is empty; give at least one of {', '.join(KNOWN_STATUSES)}")
    return tuple(statuses)


def resolve_wait_statuses(target_status: Any, failure_statuses: Any = None) -> tuple[tuple[str, ...], ...]:
    """Validate what a wait looks for: ``(targets, failures)``.

    ``failure_statuses=None`` means ``Inactive`` unless ``Inactive`` is itself a
    target. A status cannot be both: the wait would have no single meaning.
    """
    targets = normalize_statuses(target_status, argument="target_status")
    if failure_statuses is None:
        failures = tuple(s for s in DEFAULT_FAILURE_STATUSES if s not in targets)
    else:
        failures = normalize_statuses(failure_statuses, argument="failure_statuses", allow_empty=True)
        overlap = [s for s in failures if s in targets]
        if overlap:
            raise ValueError(
                f"{', '.join(overlap)} is both a target status and a failure status; "
                "remove it from one of target_status and failure_statuses"
            )
    return targets, failures


def refuse_unreadable(statuses: Mapping[str, Any], why: str) -> None:
    """Raise ``UnreadableStatusError`` naming every report whose status is missing or undocumented.

    Nobody can say whether such a report will ever reach a target, so a wait must not go on.
    """
    unreadable = {rid: s for rid, s in statuses.items() if not _matches_any(s, KNOWN_STATUSES)}
    if unreadable:
        raise UnreadableStatusError(
            f"{why}: "
            + ", ".join(
                f"report {rid} has {'no status' if s is None else f'status {s!r}'}"
                for rid, s in unreadable.items()
            )
            + f"; the docs name {', '.join(KNOWN_STATUSES)}",
            report_id=next(iter(unreadable)),
        )


def same_status(left: str | None, right: str | None) -> bool:
    """Compare two statuses the way the service means them: without regard to case."""
    if not isinstance(left, str) or not isinstance(right, str):
        return False
    return left.strip().casefold() == right.strip().casefold()


def status_of(record: Mapping[str, Any]) -> str | None:
    """The record's ``ReportStatus``, or ``None`` when the service left it out."""
    status = record.get("ReportStatus")
    return status if isinstance(status, str) else None


def _matches_any(status: str | None, candidates: Iterable[str]) -> bool:
    return any(same_status(status, candidate) for candidate in candidates)


@dataclass(frozen=True)
class WaitVerdict:
    """Where a wait stands after one look at every report."""

    state: str  # "success", "failure" or "waiting"
    statuses: dict[str, str | None]
    failed: dict[str, str | None] = field(default_factory=dict)
    waiting: dict[str, str | None] = field(default_factory=dict)
    message: str = ""

    @property
    def done(self) -> bool:
        return self.state == "success"

    @property
    def is_failure(self) -> bool:
        return self.state == "failure"


def _describe(statuses: Mapping[str, str | None]) -> str:
    return ", ".join(
        f"{report_id} is {status or 'without a status'}" for report_id, status in statuses.items()
    )


def evaluate(
    statuses: Mapping[str, str | None], targets: Iterable[str], failures: Iterable[str]
) -> WaitVerdict:
    """Decide the wait from each report's current status.

    A failure status anywhere ends the wait at once, even if other reports are
    not there yet: waiting longer cannot change the outcome. A documented status
    that is neither a target nor a failure means "not yet". A missing status, or
    one the docs do not name, raises ``UnreadableStatusError``: nobody can say
    whether it will ever become a target, so waiting on it could never end.
    """
    targets = tuple(targets)
    failures = tuple(failures)
    statuses = dict(statuses)
    refuse_unreadable(statuses, "Cannot tell where the wait stands")
    failed = {rid: s for rid, s in statuses.items() if _matches_any(s, failures)}
    if failed:
        return WaitVerdict(
            state="failure",
            statuses=statuses,
            failed=failed,
            message=(
                f"{_describe(failed)}, a failure status (waiting for {' or '.join(targets)}); "
                "it will not reach the target status without being modified"
            ),
        )
    waiting = {rid: s for rid, s in statuses.items() if not _matches_any(s, targets)}
    if waiting:
        return WaitVerdict(
            state="waiting",
            statuses=statuses,
            waiting=waiting,
            message=(
                f"waiting for {len(waiting)} of {len(statuses)} report(s) to be {' or '.join(targets)}: "
                f"{_describe(waiting)}"
            ),
        )
    return WaitVerdict(
        state="success",
        statuses=statuses,
        message=f"every report is {' or '.join(targets)}: {_describe(statuses)}",
    )
