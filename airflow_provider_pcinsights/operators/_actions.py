"""Pause or resume reports and say exactly what happened to each: the operators' shared core.

What the service answers when a report already has the wanted status, or when
an ``Inactive`` report is resumed, is undocumented; an action therefore judges
by the report's status rather than by the answer's code. The pause operator,
its roll-back and the restore all go through the same two actions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    BadRequestError,
    PartnerCenterInsightsError,
    PermissionDeniedError,
    ReportActionError,
    ReportInactiveError,
    ReportNotFoundError,
    ThrottledError,
    UnexpectedResponseError,
    with_message,
)
from airflow_provider_pcinsights.report_status import same_status, status_of

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

# Errors that prove the change was not applied: the service refused or never
# accepted the request. Anything else (5xx after retries, dropped connection,
# an answer we could not read) leaves the report in an unknown state.
_NOT_APPLIED = (
    BadRequestError,
    ReportNotFoundError,
    AuthenticationError,
    PermissionDeniedError,
    ThrottledError,
    ReportInactiveError,
    ValueError,
)
# Errors a first look at the report may raise that make sending the action pointless.
_FATAL_BEFORE_ACTION = (ReportNotFoundError, AuthenticationError, PermissionDeniedError, ValueError)

# Called with a report's id and its status before the action (``None``: unreadable), just before
# the action is sent; raising stops the action for that report.
BeforeSend = Callable[[str, "str | None"], None]


def name_of(record: dict[str, Any] | None) -> str:
    name = (record or {}).get("ReportName")
    return name if isinstance(name, str) and name else "unnamed"


def reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, PartnerCenterInsightsError) else f"{type(exc).__name__}: {text}"


@dataclass(frozen=True)
class Outcome:
    """What one action did to one report: its status before (``None``: unread) and its record after."""

    report_id: str
    before: str | None
    record: dict[str, Any]

    @property
    def after(self) -> str | None:
        return status_of(self.record)


class ReportAction:
    """Pause or resume one report or a list of them, concurrently, reporting every outcome.

    Each report is read before the call, so the log can say what changed
    (``Active -> Paused``) or that nothing did, and read again only when the
    answer leaves its status in doubt. A list is handled to the end even when
    some reports fail; then one ``ReportActionError`` names every failed id, why,
    and which ids succeeded.
    """

    def __init__(self, name: str, verb: str, target_status: str, log: logging.Logger | Any) -> None:
        self.name = name  # hook method prefix: "pause" or "resume"
        self.verb = verb  # "Paused" / "Resumed", for messages
        self.target_status = target_status
        self.log = log

    # -- a list --------------------------------------------------------------------------

    def run(
        self,
        hook: PartnerCenterInsightsHook,
        report_ids: list[str],
        max_concurrency: int,
        before_send: BeforeSend | None = None,
    ) -> list[Outcome]:
        """Handle every report even if some fail, then say exactly which did what.

        Returns the outcomes in the order of ``report_ids``; raises ``ReportActionError``
        (``failures``, ``records``) if any failed, after every report was handled.
        """
        workers = min(max_concurrency, len(report_ids))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"pcinsights-{self.name}") as pool:
            futures = {rid: pool.submit(self.handle, hook, rid, before_send) for rid in report_ids}
        outcomes: dict[str, Outcome] = {}
        failures: dict[str, BaseException] = {}
        for rid, future in futures.items():
            exc = future.exception()
            if exc is None:
                outcomes[rid] = future.result()
            else:
                failures[rid] = exc
        if failures:
            records = {rid: outcome.record for rid, outcome in outcomes.items()}
            raise ReportActionError(
                self.summary(report_ids, records, failures), failures=failures, records=records
            )
        return [outcomes[rid] for rid in report_ids]

    def summary(
        self,
        report_ids: list[str],
        records: dict[str, dict[str, Any]],
        failures: dict[str, BaseException],
    ) -> str:
        lines = [f"Could not {self.name} {len(failures)} of {len(report_ids)} reports:"]
        lines += [f"- {rid}: {reason(failures[rid])}" for rid in report_ids if rid in failures]
        done = [rid for rid in report_ids if rid in records]
        lines.append(f"{self.verb} (or already {self.target_status}): {', '.join(done) if done else 'none'}")
        return "\n".join(lines)

    # -- one report ----------------------------------------------------------------------

    def handle(
        self, hook: PartnerCenterInsightsHook, report_id: str, before_send: BeforeSend | None = None
    ) -> Outcome:
        before = self._status_before(hook, report_id)
        if before_send is not None:
            before_send(report_id, before)
        try:
            record = getattr(hook, f"{self.name}_report")(report_id)
        except BadRequestError as exc:
            return Outcome(report_id, before, self._after_refusal(hook, report_id, exc))
        except _NOT_APPLIED:
            raise
        except Exception as exc:
            raise self._ambiguous(hook, report_id, exc) from exc
        return Outcome(report_id, before, self._after_success(hook, report_id, before, record))

    def _status_before(self, hook: PartnerCenterInsightsHook, report_id: str) -> str | None:
        """The status before the call, so the log can say what changed; ``None`` if unreadable.

        A report that does not exist, or credentials that do not work, end here:
        sending the action could only fail the same way.
        """
        try:
            return status_of(hook.get_report(report_id))
        except _FATAL_BEFORE_ACTION:
            raise
        except Exception as exc:
            self.log.warning("Could not read report %s before the %s: %s", report_id, self.name, reason(exc))
            return None

    def _after_success(
        self, hook: PartnerCenterInsightsHook, report_id: str, before: str | None, record: dict[str, Any]
    ) -> dict[str, Any]:
        after = status_of(record)
        if not same_status(after, self.target_status):
            # An OK whose record still shows the old status: trust a fresh read over the answer.
            record = hook.get_report(report_id)
            after = status_of(record)
        if same_status(after, self.target_status):
            self._log_outcome(report_id, record, before)
            return record
        if self.target_status == "Active" and same_status(after, "Inactive"):
            raise self._inactive(report_id, record)
        raise UnexpectedResponseError(
            f"The service accepted the {self.name} of report {report_id} ({name_of(record)}) "
            f"but its status is now {after or 'missing'}, not {self.target_status}",
            report_id=report_id,
        )

    def _after_refusal(
        self, hook: PartnerCenterInsightsHook, report_id: str, refusal: BadRequestError
    ) -> dict[str, Any]:
        """A refusal is success when the report already has the wanted status.

        The service may well refuse to pause a paused report; the user asked for
        a paused report, and has one.
        """
        try:
            record = hook.get_report(report_id)
        except Exception as exc:
            raise with_message(
                refusal, f"{refusal} (status unknown: could not read the report: {reason(exc)})", report_id
            ) from refusal
        status = status_of(record)
        if same_status(status, self.target_status):
            self._log_outcome(report_id, record, status)
            return record
        if self.target_status == "Active" and same_status(status, "Inactive"):
            raise self._inactive(report_id, record, refusal) from refusal
        raise with_message(refusal, f"{refusal} (status now: {status or 'missing'})", report_id) from refusal

    def _ambiguous(self, hook: PartnerCenterInsightsHook, report_id: str, exc: Exception) -> BaseException:
        """The call failed in a way that may or may not have applied it: say where the report stands."""
        try:
            state = f"status now: {status_of(hook.get_report(report_id)) or 'missing'}"
        except Exception as read_exc:
            state = f"status unknown: {reason(read_exc)}"
        message = (
            f"{self.name} of report {report_id} may or may not have been applied: {reason(exc)} ({state})"
        )
        return with_message(exc, message, report_id)

    def _inactive(
        self, report_id: str, record: dict[str, Any], refusal: BadRequestError | None = None
    ) -> ReportInactiveError:
        return ReportInactiveError(
            f"Report {report_id} ({name_of(record)}) is Inactive: its recurrences are used up, so it "
            "cannot be resumed. Modify it (a new StartTime or RecurrenceCount) or create it again.",
            status_code=refusal.status_code if refusal else None,
            api_message=refusal.api_message if refusal else None,
            report_id=report_id,
        )

    def _log_outcome(self, report_id: str, record: dict[str, Any], before: str | None) -> None:
        prefix = f"{self.verb} report {report_id} ({name_of(record)})"
        if same_status(before, self.target_status):
            self.log.info("%s: already %s; nothing changed", prefix, self.target_status)
        else:
            self.log.info("%s: %s -> %s", prefix, before or "unknown", status_of(record))


def pause_action(log: logging.Logger | Any) -> ReportAction:
    return ReportAction("pause", "Paused", "Paused", log)


def resume_action(log: logging.Logger | Any) -> ReportAction:
    return ReportAction("resume", "Resumed", "Active", log)
