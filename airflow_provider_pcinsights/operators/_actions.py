"""Pause or resume reports and say exactly what happened to each: the operators' shared core.

What the service answers when a report already has the wanted status, or when
an ``Inactive`` report is resumed, is undocumented; an action therefore judges
by the report's status rather than by the answer's code. The pause operator,
its roll-back and the restore all go through the same two actions.

A list costs one batched read of every report (``hook.get_reports``: a call per
50 ids on cmp v1.1, the account's listing on mpn), then one call per report not
already in the wanted status, as many at once as an ``AdaptiveLimit`` allows:
``max_concurrency`` is its ceiling, and the service's 429s halve it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    BadRequestError,
    PermissionDeniedError,
    ReportActionError,
    ReportInactiveError,
    ReportNotFoundError,
    ThrottledError,
    UnexpectedResponseError,
    UnreadableStatusError,
    reason,
    with_message,
)
from airflow_provider_pcinsights.operators.bulk import AdaptiveLimit, Outcome, run_bulk
from airflow_provider_pcinsights.report_ids import listed
from airflow_provider_pcinsights.waiting import same_status, status_of

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

# Errors of the read before the action that make sending it pointless: it could only fail the same way.
_FATAL_BEFORE_ACTION = (ReportNotFoundError, AuthenticationError, PermissionDeniedError, ValueError)
# Errors that prove the change was not applied: the service refused or never
# accepted the request. Anything else (5xx after retries, dropped connection,
# an answer we could not read) leaves the report in an unknown state.
_NOT_APPLIED = (*_FATAL_BEFORE_ACTION, BadRequestError, ThrottledError, ReportInactiveError)


def name_of(record: dict[str, Any] | None) -> str:
    name = (record or {}).get("ReportName")
    return name if isinstance(name, str) and name else "unnamed"


# A report as read before the action: its record (``value``); neither (unreadable: the action is
# still sent, its status before unknown); or an error that ends its handling (unknown report, credentials).
Look = Outcome[str, dict[str, Any]]


def status_before(look: Look) -> str | None:
    return None if look.value is None else status_of(look.value)


# Called once with every report's look, after the read and before any action is sent: may raise
# (then nothing is sent), and returns the reports not to act on, each with its error.
Prepare = Callable[[dict[str, Look]], "Mapping[str, BaseException] | None"]


class ReportAction:
    """Pause or resume one report or a list of them, concurrently, reporting every outcome.

    Every report is read once before any call, in one batched read, so the log can say
    what changed (``Active -> Paused``) or that nothing did, and a report already in the
    wanted status is not sent anything. A report is read again only when the answer
    leaves its status in doubt. A list is handled to the end even when some reports
    fail; then one ``ReportActionError`` names every failed id, why, and which ids
    succeeded.
    """

    def __init__(self, name: str, log: logging.Logger | Any) -> None:
        self.name = name  # hook method prefix: "pause" or "resume"
        self.verb, self.target_status = {"pause": ("Paused", "Paused"), "resume": ("Resumed", "Active")}[name]
        self.log = log

    # -- a list --------------------------------------------------------------------------

    def run(
        self,
        hook: PartnerCenterInsightsHook,
        report_ids: list[str],
        max_concurrency: int,
        prepare: Prepare | None = None,
        *,
        single: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """Handle every report even if some fail, then say exactly which did what.

        Returns each report's record after the action, in the order of ``report_ids``; raises
        ``ReportActionError`` (``failures``, ``records``) if any failed, after every report was
        handled, or with ``single`` (one id) that report's own error. The workers start while
        the reports are read, so the first calls follow the read at once.
        """
        records: dict[str, dict[str, Any]] = {}
        failures: dict[str, BaseException] = {}
        looks: dict[str, Look] = {}

        def to_send() -> list[str]:
            looks.update(self.look(hook, report_ids))
            refused = dict((prepare(looks) if prepare is not None else None) or {})
            sending = []
            for rid in report_ids:
                look = looks[rid]
                error = refused.get(rid) or look.error
                if error is not None:
                    failures[rid] = error
                elif look.value is not None and same_status(status_before(look), self.target_status):
                    self._log_outcome(rid, look.value, status_before(look))
                    records[rid] = look.value
                else:
                    sending.append(rid)
            return sending

        limit = AdaptiveLimit(ceiling=max_concurrency)
        hook.add_retry_observer(limit)  # the 429s the hook's retries absorb still slow the list down
        try:
            ends = run_bulk(
                lambda rid: self.handle(hook, rid, status_before(looks[rid])),
                to_send,
                limit=limit,
                again_on=(ThrottledError,),  # refused by throttling: nothing was done, try it again last
                most_items=len(report_ids),
            )
        finally:
            hook.remove_retry_observer(limit)
        if limit.decreases:
            self.log.info(
                "The service throttled the %ss: at most %d at once, down to %d at times",
                self.name,
                limit.ceiling,
                limit.lowest,
            )
        for end in ends:
            if end.error is not None:
                failures[end.item] = end.error
            elif end.value is not None:
                records[end.item] = end.value
        if failures:
            if single:
                raise failures[report_ids[0]]
            done = {rid: records[rid] for rid in report_ids if rid in records}
            raise self.failed(report_ids, done, failures)
        return {rid: records[rid] for rid in report_ids}

    def look(self, hook: PartnerCenterInsightsHook, report_ids: list[str]) -> dict[str, Look]:
        """Every report as it stands before the action, in one batched read.

        An id the account does not know, or credentials that do not work, end that report's
        handling: sending the action could only fail the same way. A read that fails otherwise
        (the service down after the hook's retries) leaves the status unknown, and the action
        is sent all the same; a report whose status cannot be read leaves only itself unknown.
        """
        looks: dict[str, Look] = {}
        remaining = list(report_ids)
        while remaining:
            try:
                records = hook.get_reports(remaining)
            except UnreadableStatusError as exc:
                # The report it names is left unread and the others are read again; naming none, all are.
                odd = [rid for rid in remaining if rid.casefold() == (exc.report_id or "").casefold()]
                odd = odd or remaining
                looks.update(self._unread(odd, exc))
                remaining = [rid for rid in remaining if rid not in odd]
                continue
            except _FATAL_BEFORE_ACTION as exc:
                looks.update({rid: Look(rid, error=exc) for rid in remaining})
                return looks
            except Exception as exc:
                looks.update(self._unread(remaining, exc))
                return looks
            for rid in remaining:
                record = records.get(rid)
                missing = None if record is not None else ReportNotFoundError.unknown(rid, hook.account)
                looks[rid] = Look(rid, value=record, error=missing)
            return looks
        return looks

    def _unread(self, report_ids: list[str], exc: BaseException) -> dict[str, Look]:
        self.log.warning(
            "Could not read report(s) %s before the %s: %s", listed(report_ids), self.name, reason(exc)
        )
        return {rid: Look(rid) for rid in report_ids}

    def failed(
        self,
        report_ids: list[str],
        records: dict[str, dict[str, Any]],
        failures: dict[str, BaseException],
    ) -> ReportActionError:
        """The error naming every failed id and why, and the ids that succeeded."""
        lines = [f"Could not {self.name} {len(failures)} of {len(report_ids)} reports:"]
        lines += [f"- {rid}: {reason(failures[rid])}" for rid in report_ids if rid in failures]
        done = [rid for rid in report_ids if rid in records]
        lines.append(f"{self.verb} (or already {self.target_status}): {', '.join(done) if done else 'none'}")
        return ReportActionError("\n".join(lines), failures=failures, records=records)

    # -- one report ----------------------------------------------------------------------

    def handle(self, hook: PartnerCenterInsightsHook, report_id: str, before: str | None) -> dict[str, Any]:
        """Send the action for one report whose status before was ``before`` (``None``: unread);
        its record after."""
        try:
            record = getattr(hook, f"{self.name}_report")(report_id)
        except BadRequestError as refusal:
            # The service may well refuse to pause a paused report; the user asked for a paused
            # report, and has one: a refusal is success when a read shows the wanted status.
            try:
                record = hook.get_report(report_id)
            except Exception as exc:
                raise with_message(
                    refusal,
                    f"{refusal} (status unknown: could not read the report: {reason(exc)})",
                    report_id,
                ) from refusal
            return self._judge(report_id, record, status_of(record), refusal)
        except _NOT_APPLIED:
            raise
        except Exception as exc:
            # Failed in a way that may or may not have applied it: say where the report stands.
            try:
                state = f"status now: {status_of(hook.get_report(report_id)) or 'missing'}"
            except Exception as read_exc:
                state = f"status unknown: {reason(read_exc)}"
            message = (
                f"{self.name} of report {report_id} may or may not have been applied: {reason(exc)} ({state})"
            )
            raise with_message(exc, message, report_id) from exc
        if not same_status(status_of(record), self.target_status):
            # An OK whose record still shows the old status: trust a fresh read over the answer.
            record = hook.get_report(report_id)
        return self._judge(report_id, record, before)

    def _judge(
        self,
        report_id: str,
        record: dict[str, Any],
        before: str | None,
        refusal: BadRequestError | None = None,
    ) -> dict[str, Any]:
        """The record after the action if it shows the wanted status; else the error that says why not."""
        status = status_of(record)
        if same_status(status, self.target_status):
            self._log_outcome(report_id, record, before)
            return record
        if self.target_status == "Active" and same_status(status, "Inactive"):
            raise ReportInactiveError(
                f"Report {report_id} ({name_of(record)}) is Inactive: its recurrences are used up, so it "
                "cannot be resumed. Modify it (a new StartTime or RecurrenceCount) or create it again.",
                status_code=refusal.status_code if refusal else None,
                api_message=refusal.api_message if refusal else None,
                report_id=report_id,
            ) from refusal
        if refusal is not None:
            raise with_message(
                refusal, f"{refusal} (status now: {status or 'missing'})", report_id
            ) from refusal
        raise UnexpectedResponseError(
            f"The service accepted the {self.name} of report {report_id} ({name_of(record)}) "
            f"but its status is now {status or 'missing'}, not {self.target_status}",
            report_id=report_id,
        )

    def _log_outcome(self, report_id: str, record: dict[str, Any], before: str | None) -> None:
        prefix = f"{self.verb} report {report_id} ({name_of(record)})"
        if same_status(before, self.target_status):
            self.log.info("%s: already %s; nothing changed", prefix, self.target_status)
        else:
            self.log.info("%s: %s -> %s", prefix, before or "unknown", status_of(record))
