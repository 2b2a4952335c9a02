"""Pause and resume scheduled reports from a DAG.

The operators only decide what to ask and what the answer means; every HTTP
call goes through :class:`~airflow_provider_pcinsights.hooks.insights.PartnerCenterInsightsHook`,
which is imported when a task runs, not when a DAG file is parsed.

What the service answers when a report already has the wanted status, or when
an ``Inactive`` report is resumed, is undocumented; the operators therefore
judge by the report's status rather than by the answer's code.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator

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
)
from airflow_provider_pcinsights.report_ids import normalize_report_ids
from airflow_provider_pcinsights.report_status import same_status, status_of

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

    try:
        from airflow.sdk.definitions.context import Context
    except ImportError:  # Airflow 2
        from airflow.utils.context import Context

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


def _close(hook: Any) -> None:
    """Release the hook's HTTP connections; a hook without ``close`` has nothing to release."""
    close = getattr(hook, "close", None)
    if callable(close):
        close()


def _name_of(record: dict[str, Any] | None) -> str:
    name = (record or {}).get("ReportName")
    return name if isinstance(name, str) and name else "unnamed"


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, PartnerCenterInsightsError) else f"{type(exc).__name__}: {text}"


def _with_message(exc: BaseException, message: str, report_id: str) -> BaseException:
    """The same kind of error with a fuller message, so callers can still catch it by type."""
    if isinstance(exc, PartnerCenterInsightsError):
        try:
            return type(exc)(
                message,
                status_code=exc.status_code,
                api_message=exc.api_message,
                report_id=exc.report_id or report_id,
            )
        except TypeError:  # a subclass with another signature
            pass
    return PartnerCenterInsightsError(message, report_id=report_id)


class _ReportActionOperator(BaseOperator):
    """Pause or resume one report or a list of them, concurrently, reporting every outcome.

    Each report is read before the call, so the log can say what changed
    (``Active -> Paused``) or that nothing did, and read again only when the
    answer leaves its status in doubt. A list is handled to the end even when
    some reports fail; the task then fails with one ``ReportActionError`` that
    names every failed id, why, and which ids succeeded.

    :param report_id: one report id, or a list of ids (templated). One id gives
        one record; a list gives a list of records in the same order.
    :param conn_id: the ``pcinsights`` connection (templated).
    :param max_concurrency: how many reports of a list are handled at once.
    :param hook_params: keyword arguments for the hook, such as ``retries`` or ``backoff_factor``.
    """

    template_fields: Sequence[str] = ("report_id", "conn_id")
    ui_color = "#d9e7f5"

    # Set by each concrete operator.
    action: ClassVar[str]  # hook method suffix: "pause" or "resume"
    verb: ClassVar[str]  # "Paused" / "Resumed", for messages
    target_status: ClassVar[str]  # the status the action leads to

    def __init__(
        self,
        *,
        report_id: str | list[str],
        conn_id: str = "pcinsights_default",
        max_concurrency: int = 4,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.conn_id = conn_id
        self.max_concurrency = max_concurrency
        self.hook_params = dict(hook_params or {})

    # -- entry point ---------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any] | list[dict[str, Any]]:
        report_ids, single = normalize_report_ids(self.report_id)
        self._check_settings()
        hook = self._make_hook()
        try:
            # Sign in once, up front: a wrong secret or connection fails the task with its own
            # error, instead of once per report, and the threads then share the cached token.
            hook.get_token()
            if single:
                return self._handle(hook, report_ids[0])
            return self._handle_many(hook, report_ids)
        finally:
            _close(hook)

    def _check_settings(self) -> None:
        limit = self.max_concurrency
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"max_concurrency must be an integer of at least 1, got {limit!r}")
        if not isinstance(self.conn_id, str) or not self.conn_id.strip():
            raise ValueError(f"conn_id must be a non-empty string, got {self.conn_id!r}")

    def _make_hook(self) -> PartnerCenterInsightsHook:
        # Imported here so DAG files that name the operator never load requests or msal.
        from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

        return PartnerCenterInsightsHook(conn_id=self.conn_id, **self.hook_params)

    # -- a list ----------------------------------------------------------------

    def _handle_many(self, hook: PartnerCenterInsightsHook, report_ids: list[str]) -> list[dict[str, Any]]:
        """Handle every report even if some fail, then say exactly which did what."""
        workers = min(self.max_concurrency, len(report_ids))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"pcinsights-{self.action}") as pool:
            futures = {rid: pool.submit(self._handle, hook, rid) for rid in report_ids}
        records: dict[str, dict[str, Any]] = {}
        failures: dict[str, BaseException] = {}
        for rid, future in futures.items():
            exc = future.exception()
            if exc is None:
                records[rid] = future.result()
            else:
                failures[rid] = exc
        if failures:
            raise ReportActionError(
                self._summary(report_ids, records, failures), failures=failures, records=records
            )
        return [records[rid] for rid in report_ids]

    def _summary(
        self,
        report_ids: list[str],
        records: dict[str, dict[str, Any]],
        failures: dict[str, BaseException],
    ) -> str:
        lines = [f"Could not {self.action} {len(failures)} of {len(report_ids)} reports:"]
        lines += [f"- {rid}: {_reason(failures[rid])}" for rid in report_ids if rid in failures]
        done = [rid for rid in report_ids if rid in records]
        lines.append(f"{self.verb} (or already {self.target_status}): {', '.join(done) if done else 'none'}")
        return "\n".join(lines)

    # -- one report --------------------------------------------------------------

    def _handle(self, hook: PartnerCenterInsightsHook, report_id: str) -> dict[str, Any]:
        before = self._status_before(hook, report_id)
        try:
            record = self._send(hook, report_id)
        except BadRequestError as exc:
            return self._after_refusal(hook, report_id, exc)
        except _NOT_APPLIED:
            raise
        except Exception as exc:
            raise self._ambiguous(hook, report_id, exc) from exc
        return self._after_success(hook, report_id, before, record)

    def _send(self, hook: PartnerCenterInsightsHook, report_id: str) -> dict[str, Any]:
        return getattr(hook, f"{self.action}_report")(report_id)

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
            self.log.warning(
                "Could not read report %s before the %s: %s", report_id, self.action, _reason(exc)
            )
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
            f"The service accepted the {self.action} of report {report_id} ({_name_of(record)}) "
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
            raise _with_message(
                refusal, f"{refusal} (status unknown: could not read the report: {_reason(exc)})", report_id
            ) from refusal
        status = status_of(record)
        if same_status(status, self.target_status):
            self._log_outcome(report_id, record, status)
            return record
        if self.target_status == "Active" and same_status(status, "Inactive"):
            raise self._inactive(report_id, record, refusal) from refusal
        raise _with_message(refusal, f"{refusal} (status now: {status or 'missing'})", report_id) from refusal

    def _ambiguous(self, hook: PartnerCenterInsightsHook, report_id: str, exc: Exception) -> BaseException:
        """The call failed in a way that may or may not have applied it: say where the report stands."""
        try:
            state = f"status now: {status_of(hook.get_report(report_id)) or 'missing'}"
        except Exception as read_exc:
            state = f"status unknown: {_reason(read_exc)}"
        message = (
            f"{self.action} of report {report_id} may or may not have been applied: {_reason(exc)} ({state})"
        )
        return _with_message(exc, message, report_id)

    def _inactive(
        self, report_id: str, record: dict[str, Any], refusal: BadRequestError | None = None
    ) -> ReportInactiveError:
        return ReportInactiveError(
            f"Report {report_id} ({_name_of(record)}) is Inactive: its recurrences are used up, so it "
            "cannot be resumed. Modify it (a new StartTime or RecurrenceCount) or create it again.",
            status_code=refusal.status_code if refusal else None,
            api_message=refusal.api_message if refusal else None,
            report_id=report_id,
        )

    def _log_outcome(self, report_id: str, record: dict[str, Any], before: str | None) -> None:
        prefix = f"{self.verb} report {report_id} ({_name_of(record)})"
        if same_status(before, self.target_status):
            self.log.info("%s: already %s; nothing changed", prefix, self.target_status)
        else:
            self.log.info("%s: %s -> %s", prefix, before or "unknown", status_of(record))


class PauseReportOperator(_ReportActionOperator):
    """Pause the schedule of one or more reports; pausing a paused report succeeds.

    :param report_id: one report id, or a list of ids (templated).
    :param conn_id: the ``pcinsights`` connection (templated).
    :param max_concurrency: how many reports of a list are paused at once.
    :param hook_params: keyword arguments for the hook, such as ``retries``.
    """

    action = "pause"
    verb = "Paused"
    target_status = "Paused"


class ResumeReportOperator(_ReportActionOperator):
    """Resume the schedule of one or more reports; resuming an active report succeeds.

    An ``Inactive`` report (its recurrences used up) cannot be resumed: the task
    fails with :class:`~airflow_provider_pcinsights.exceptions.ReportInactiveError`.

    :param report_id: one report id, or a list of ids (templated).
    :param conn_id: the ``pcinsights`` connection (templated).
    :param max_concurrency: how many reports of a list are resumed at once.
    :param hook_params: keyword arguments for the hook, such as ``retries``.
    """

    action = "resume"
    verb = "Resumed"
    target_status = "Active"
