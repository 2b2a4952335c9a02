"""What a report's executions mean for a wait for its next export: done, failed, or not yet.

Pure functions, shared by ``ReportExecutionSensor`` and ``ReportExecutionTrigger``
through :mod:`airflow_provider_pcinsights.wait_conditions`.

An execution counts when it is ``Completed`` and was generated at or after
``completed_after``. The service states times to the second
(``yyyy-MM-ddTHH:mm:ssZ``), so ``completed_after`` is compared to the second
too: a file generated in the very second the DAG run started belongs to it.
A report that is ``Paused`` or ``Inactive`` will not run, so a wait for its next
execution fails at once instead of waiting for its timeout.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from airflow_provider_pcinsights.exceptions import UnexpectedResponseError
from airflow_provider_pcinsights.report_status import refuse_unreadable, same_status

# Statuses in which a report produces no execution: waiting for one could only time out.
NOT_RUNNING_STATUSES: tuple[str, ...] = ("Paused", "Inactive")


def parse_completed_after(value: Any) -> datetime.datetime:
    """A datetime (naive means UTC) or an ISO 8601 string, as an aware UTC datetime.

    Raises ``ValueError`` naming ``completed_after`` for anything else.
    """
    moment = value
    if isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
        except ValueError:
            raise ValueError(
                f"completed_after {value!r} is not an ISO 8601 date and time "
                "(such as '2026-03-01T06:00:00Z'); give a datetime or an ISO string"
            ) from None
    elif isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        moment = datetime.datetime.combine(value, datetime.time(), tzinfo=datetime.timezone.utc)
    if not isinstance(moment, datetime.datetime):
        raise ValueError(
            f"completed_after must be a datetime or an ISO 8601 string, got {type(value).__name__}: {value!r}"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def to_service_second(moment: datetime.datetime) -> datetime.datetime:
    """``moment`` without its fraction of a second: the precision of the service's times."""
    return moment.replace(microsecond=0)


def format_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def service_time(value: Any) -> datetime.datetime | None:
    """A time as the service writes it (``2026-03-01T06:00:00Z``, with or without fractions), or ``None``."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_completed_after(value)
    except ValueError:
        return None


def latest_completed(executions: list[Mapping[str, Any]], report_id: str) -> dict[str, Any] | None:
    """The ``Completed`` execution generated last, or ``None``.

    Asked for the latest completed execution, the service should answer one; any
    other execution in the answer is ignored. A completed execution without a
    readable ``ReportGeneratedTime`` cannot be placed in time, so it is an error,
    not a reason to wait forever.
    """
    best: tuple[datetime.datetime, dict[str, Any]] | None = None
    for execution in executions:
        if not same_status(execution.get("ExecutionStatus"), "Completed"):
            continue
        generated = service_time(execution.get("ReportGeneratedTime"))
        if generated is None:
            raise UnexpectedResponseError(
                f"Execution {execution.get('ExecutionId')} of report {report_id} is Completed but its "
                f"ReportGeneratedTime is {execution.get('ReportGeneratedTime')!r}, not a time; cannot tell "
                "whether it is the export being waited for",
                report_id=report_id,
            )
        if best is None or generated > best[0]:
            best = (generated, dict(execution))
    return best[1] if best else None


def is_after(execution: Mapping[str, Any] | None, completed_after: datetime.datetime) -> bool:
    if execution is None:
        return False
    generated = service_time(execution.get("ReportGeneratedTime"))
    return generated is not None and generated >= to_service_second(completed_after)


def describe_wait(report_id: str, observation: Mapping[str, Any]) -> str:
    execution = observation.get("execution")
    status = observation.get("status") or "of unknown status"
    if execution is None:
        return f"{report_id} ({status}) has no completed execution yet"
    return (
        f"{report_id} ({status}): its latest completed execution {execution.get('ExecutionId')} "
        f"was generated {execution.get('ReportGeneratedTime')}"
    )


# The execution's pre-signed file URL: a credential for that file until it expires. A wait's
# verdict goes into trigger events (stored in Airflow's database) and XCom, so it never carries
# it; DownloadReportOperator reads the execution again by id for a link of its own.
LINK_FIELD = "ReportAccessSecureLink"


def without_link(execution: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The execution record without its download link (``None`` stays ``None``)."""
    if execution is None:
        return None
    return {key: value for key, value in execution.items() if key != LINK_FIELD}


def evaluate_executions(
    observations: Mapping[str, Mapping[str, Any]], completed_after: datetime.datetime
) -> tuple[str, str, dict[str, Any]]:
    """Decide the wait: ``(state, message, value)``.

    ``observations`` maps each report id to ``{"execution": latest completed record or
    None, "status": the report's status, or None when it was not read}``. ``value`` maps
    each id to its latest completed execution (or ``None``).

    A report with a completed execution since ``completed_after`` is done, whatever its
    status now. Otherwise a ``Paused`` or ``Inactive`` report ends the wait at once.
    """
    since = format_time(to_service_second(completed_after))
    value = {rid: without_link(obs.get("execution")) for rid, obs in observations.items()}
    pending = {
        rid: obs for rid, obs in observations.items() if not is_after(obs.get("execution"), completed_after)
    }
    refuse_unreadable(
        {rid: obs.get("status") for rid, obs in pending.items()}, "Cannot tell whether an execution will come"
    )
    stopped = {
        rid: obs
        for rid, obs in pending.items()
        if any(same_status(obs.get("status"), s) for s in NOT_RUNNING_STATUSES)
    }
    if stopped:
        reasons = "; ".join(
            f"{describe_wait(rid, obs)}, and a {obs['status']} report does not run"
            for rid, obs in stopped.items()
        )
        return (
            "failure",
            f"no execution after {since} will come: {reasons}. Resume the report "
            "(an Inactive one must be modified first) and wait again",
            value,
        )
    if pending:
        return (
            "waiting",
            f"waiting for {len(pending)} of {len(observations)} report(s) to complete an execution generated "
            f"at or after {since}: " + "; ".join(describe_wait(rid, obs) for rid, obs in pending.items()),
            value,
        )
    return (
        "success",
        f"every report completed an execution at or after {since}: "
        + ", ".join(
            f"{rid} execution {rec.get('ExecutionId')} generated {rec.get('ReportGeneratedTime')}"
            for rid, rec in value.items()
        ),
        value,
    )
