"""The Partner Center Insights ScheduledReport family, under ``/insights/{version}/{program}/``.

Answers follow the documented shapes; where the documentation is silent the
``Behaviour`` settings choose. Reports live in ``EmulatorState``; this module
only decides what a call means and what the service would answer.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlencode

from .behaviour import FOREIGN_HOST, Behaviour
from .envelope import envelope, error_body
from .files import FileHost
from .messages import Request, Response
from .runs import Clock, RunTimes
from .state import PROGRAMS, EmulatorState, format_time, utc_now
from .tokens import AccessToken, TokenRegistry

_PREFIX = re.compile(r"^/insights/(?P<version>[^/]+)/(?P<program>[^/]+)(?P<rest>/.*)?$")
NOT_FOUND_MESSAGE = "No item found with given filters."
FORBIDDEN_MESSAGE = (
    "Forbidden. The application or user does not have the permissions required for this operation. "
    "Assign the Manager (Windows) role for commercial marketplace, or the Executive Report Viewer role "
    "for Partner Center insights."
)
UNAUTHORIZED_MESSAGE = "Authentication failed. The bearer token is missing, invalid or expired."
# An App+User token whose user did not pass multi-factor sign-in (Partner Center's own words).
MFA_REQUIRED_MESSAGE = "Authentication failed. MFA required. (10001)"
MFA_REQUIRED_CODE = 10001
APP_ONLY_REFUSED_MESSAGES = {
    401: "Authentication failed. App-only tokens are not accepted for Partner Center insights; "
    "call this API with an App+User token.",
    403: "Forbidden. This API does not support app-only authentication; call it with an App+User token.",
}
# What the executions call answers when nothing matches its filters (``executions_not_found``).
EXECUTIONS_NOT_FOUND_MESSAGE = (
    "There are no executions that have occurred for the given filter conditions. "
    "Please recheck the reportId or executionId and try again"
)
# Several values of one filter are joined with this; a ',' is part of one value.
MULTI_VALUE_SEPARATOR = ";"
_CONTINUATION = "skipToken"
_FORMATS = ("CSV", "TSV")
_CALLBACK_METHODS = ("GET", "POST")
_MODIFIABLE = (
    "ReportName",
    "Description",
    "StartTime",
    "RecurrenceInterval",
    "RecurrenceCount",
    "Format",
    "CallbackUrl",
    "CallbackMethod",
    "EndTime",
    "QueryStartTime",
    "QueryEndTime",
)


def is_insights_path(path: str) -> bool:
    return path.startswith("/insights/")


class BadRequest(Exception):
    """A 400 with the service's message."""


class Insights:
    """Dispatch one Insights API call to its handler, after checking the bearer token."""

    def __init__(
        self,
        state: EmulatorState,
        behaviour: Behaviour,
        tokens: TokenRegistry,
        authorized_clients: set[str],
        resource: str,
        clock: Clock,
        times: RunTimes,
        files: FileHost,
    ) -> None:
        self.state = state
        self.behaviour = behaviour
        self.tokens = tokens
        self.authorized_clients = authorized_clients
        self.resource = resource
        self.clock = clock
        self.times = times
        self.files = files

    # -- entry point ----------------------------------------------------------
    def handle(self, request: Request) -> Response:
        match = _PREFIX.match(request.path)
        if (
            not match
            or match["program"] not in PROGRAMS
            or match["version"] not in PROGRAMS[match["program"]]
        ):
            program = match["program"] if match and match["program"] in PROGRAMS else None
            return self._error(
                404, "Resource not found. Check the API version and program in the path.", program
            )
        program, version = match["program"], match["version"]
        rest = (match["rest"] or "/").strip("/")
        log: dict[str, Any] = {"kind": "api", "program": program}

        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._unauthorized(log, program)
        info, _reason = self.tokens.check_access_token(token.strip())
        if info is None or info.resource.rstrip("/") != self.resource:
            return self._unauthorized(log, program)
        log["client_id"] = info.client_id
        refusal = self._refusal(info, program)
        if refusal is not None:
            return self._respond(refusal, log)

        try:
            response = self._route(request, program, version, rest, log)
        except BadRequest as error:
            response = self._error(400, str(error), program)
        return self._respond(response, log)

    def _refusal(self, info: AccessToken, program: str) -> Response | None:
        """Why the service turns a valid token away: no MFA, app-only on mpn, or no Partner Center role."""
        if not info.app_only and not info.mfa:
            return self._error(401, MFA_REQUIRED_MESSAGE, program, code=MFA_REQUIRED_CODE)
        choice = self.behaviour.app_only_on_mpn
        if info.app_only and program == "mpn" and choice != "allow":
            status = int(choice)
            return self._error(status, APP_ONLY_REFUSED_MESSAGES[status], program)
        if info.client_id not in self.authorized_clients:
            return self._error(403, FORBIDDEN_MESSAGE, program)
        return None

    def _route(
        self, request: Request, program: str, version: str, rest: str, log: dict[str, Any]
    ) -> Response:
        segments = [unquote(s) for s in rest.split("/")] if rest else []
        head = segments[0].lower() if segments else ""
        method = request.method
        if head == "scheduledreport":
            if len(segments) == 1:
                if method == "GET":
                    return self._list_reports(request, program, version, log)
                if method == "POST":
                    return self._create_report(request, program, log)
            elif len(segments) == 2:
                log["report_id"] = segments[1]
                if method == "PUT":
                    return self._modify_report(request, program, segments[1], log)
                if method == "DELETE":
                    return self._delete_report(program, segments[1], log)
            elif len(segments) == 3:
                action, report_id = segments[1].lower(), segments[2]
                log["report_id"] = report_id
                if action == "pause" and method == "PUT":
                    return self._pause(program, report_id, log)
                if action == "resume" and method == "PUT":
                    return self._resume(program, report_id, log)
                if action == "execution" and method == "GET":
                    return self._executions(request, program, report_id, log)
            else:
                return self._error(404, "Resource not found.", program)
            return self._error(
                405, f"The requested resource does not support http method '{method}'.", program
            )
        if head == "scheduledqueries" and len(segments) == 1 and method == "GET":
            return self._list_queries(request, program)
        if head == "scheduleddataset" and len(segments) == 1 and method == "GET":
            return self._list_datasets(request, program)
        return self._error(404, "Resource not found.", program)

    # -- reports ------------------------------------------------------------
    def _list_reports(self, request: Request, program: str, version: str, log: dict[str, Any]) -> Response:
        # Under the lock from reading the store to counting the reads: a status change due after
        # this read is applied before any other call can read the report.
        with self.state.lock:
            return self._list_reports_locked(request, program, version, log)

    def _list_reports_locked(
        self, request: Request, program: str, version: str, log: dict[str, Any]
    ) -> Response:
        # The store's own records, filtered, and only those answered copied: a read of one report
        # out of thousands must not copy them all (the emulator shares the machine with its caller).
        records = list(self.state.store(program).reports.values())
        report_id = request.param("reportId")
        report_name = request.param("reportName")
        query_id = request.param("queryId")
        filtered = report_id is not None or report_name is not None or query_id is not None
        if report_id is not None:
            wanted = self._wanted_report_ids(report_id, program, version)
            by_id = {r["ReportId"].lower(): r for r in records}
            records = [by_id[w.lower()] for w in wanted if w.lower() in by_id]
            if len(wanted) == 1:
                log["report_id"] = wanted[0]
                if records:
                    log["report_status"] = records[0]["ReportStatus"]
        if report_name is not None:
            records = [r for r in records if r["ReportName"] == report_name]
        if query_id is not None:
            records = [r for r in records if r["QueryId"].lower() == query_id.lower()]
        if filtered and not records:
            return self._error(404, NOT_FOUND_MESSAGE, program)
        records = copy.deepcopy(records)

        def count_reads(page: list[dict[str, Any]]) -> None:
            # One read per report per answer, even if a cmp v1.1 call names it twice.
            changes = self.state.count_reads(program, list(dict.fromkeys(r["ReportId"] for r in page)))
            if changes:
                log["status_changes"] = changes

        return self._paged(request, records, program, on_page=count_reads)

    def _wanted_report_ids(self, report_id: str, program: str, version: str) -> list[str]:
        """The ids a ``reportId`` filter names: cmp v1.1 takes several joined by ';' (as
        ``behaviour.multi_report_id`` says); elsewhere ';' is just part of one (unknown) id."""
        several = _values(report_id) if (program, version) == ("cmp", "v1.1") else [report_id]
        if len(several) <= 1:
            return several or [report_id]
        choice = self.behaviour.multi_report_id
        if choice == "reject":
            raise BadRequest(f"Invalid reportId '{report_id}'. Specify a single report id.")
        if choice == "as_one_id":
            return [report_id]
        return several

    def _paged(
        self,
        request: Request,
        records: list[dict[str, Any]],
        program: str,
        on_page: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> Response:
        """One page of ``records``; ``on_page`` is called with it once the answer is built."""
        offset = _decode_continuation(request.param(_CONTINUATION))
        size = self.behaviour.page_size
        page = records[offset : offset + size]
        response = Response.json(
            200,
            self._envelope(
                page, program, total_count=len(records), next_link=self._next_link(request, offset, records)
            ),
        )
        if on_page is not None:
            on_page(page)
        return response

    def _next_link(self, request: Request, offset: int, records: list[dict[str, Any]]) -> str | None:
        """The ``nextLink`` of the page at ``offset``, as ``behaviour.next_link`` spells it.

        ``repeat``: every page links to itself; ``respell``: the last page links to itself
        spelled otherwise (path in lower case, parameters in another order and case);
        ``back``: the last page links to the first; ``overlap``: each page starts with the
        last record of the one before. The others link honestly, on this host or another.
        """
        style = self.behaviour.next_link
        size = self.behaviour.page_size
        query = request.flat_query()
        filters = {k: v for k, v in query.items() if k.lower() != _CONTINUATION.lower()}
        here = f"{request.base_url}{request.path}"
        if style == "repeat":
            return f"{here}{_query_string(query)}"
        step = max(1, size - 1) if style == "overlap" else size
        if offset + size < len(records):
            filters[_CONTINUATION] = _encode_continuation(offset + step)
            root = {"relative": "", "foreign": FOREIGN_HOST}.get(style, request.base_url)
            return f"{root}{request.path}{_query_string(filters)}"
        if style == "respell":
            respelled = [(name.swapcase(), value) for name, value in reversed(list(query.items()))]
            return f"{request.base_url}{request.path.lower()}/{_query_string(respelled)}"
        if style == "back":
            return f"{here}{_query_string(filters)}"
        return None

    def _create_report(self, request: Request, program: str, log: dict[str, Any]) -> Response:
        body = _json_object(request)
        name = body.get("ReportName")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("ReportName is required.")
        query_id = body.get("QueryId")
        queries = {q["QueryId"].lower(): q for q in self.state.queries(program)}
        if not isinstance(query_id, str) or query_id.lower() not in queries:
            raise BadRequest(f"Invalid QueryId '{query_id}'. The query does not exist.")
        fields = self._validated_fields(body, program, require_start=True)
        fields.update(
            {
                "ReportName": name,
                "Description": body.get("Description") or "",
                "QueryId": queries[query_id.lower()]["QueryId"],
                "Query": queries[query_id.lower()]["Query"],
                "ExecuteNow": bool(body.get("ExecuteNow", False)),
                "ReportStatus": "Active",
            }
        )
        fields.setdefault("RecurrenceCount", body.get("RecurrenceCount"))
        record = self.state.add_report(program, fields)
        if record["ExecuteNow"]:
            self.state.start_run(program, record["ReportId"], self.clock.now())
        log.update(report_id=record["ReportId"], report_status=record["ReportStatus"])
        return Response.json(200, self._envelope([record], program, message="Report created successfully."))

    def _modify_report(self, request: Request, program: str, report_id: str, log: dict[str, Any]) -> Response:
        if self.state.find_report(program, report_id) is None:
            return self._error(404, NOT_FOUND_MESSAGE, program)
        body = _json_object(request)
        unknown = [k for k in body if k not in _MODIFIABLE]
        if unknown:
            raise BadRequest(f"The following fields cannot be modified: {', '.join(sorted(unknown))}.")
        fields = self._validated_fields(body, program, require_start=False)
        for key in ("ReportName", "Description", "EndTime", "QueryStartTime", "QueryEndTime"):
            if key in body:
                fields[key] = body[key]
        record = self.state.update_report(program, report_id, fields)
        log["report_status"] = record["ReportStatus"]
        return Response.json(200, self._envelope([record], program, message="Report modified successfully."))

    def _delete_report(self, program: str, report_id: str, log: dict[str, Any]) -> Response:
        with self.state.lock:
            if self.state.find_report(program, report_id) is None:
                return self._error(404, NOT_FOUND_MESSAGE, program)
            record = self.state.delete_report(program, report_id)
        return Response.json(200, self._envelope([record], program, message="Report deleted successfully."))

    def _pause(self, program: str, report_id: str, log: dict[str, Any]) -> Response:
        with self.state.lock:
            record = self.state.find_report(program, report_id)
            if record is None:
                return self._error(404, NOT_FOUND_MESSAGE, program)
            status = record["ReportStatus"]
            if status == "Paused" and self.behaviour.pause_when_paused == "reject":
                log["report_status"] = status
                return self._error(400, f"Report {report_id} is already paused.", program)
            if status == "Inactive":
                log["report_status"] = status
                return self._error(
                    400,
                    f"Report {report_id} is inactive: its recurrence is complete, so it cannot be paused.",
                    program,
                )
            if status != "Paused":
                record = self.state.set_report_status(program, report_id, "Paused")
        log["report_status"] = record["ReportStatus"]
        return self._action_answer(record, program, "Report paused successfully.")

    def _resume(self, program: str, report_id: str, log: dict[str, Any]) -> Response:
        with self.state.lock:
            record = self.state.find_report(program, report_id)
            if record is None:
                return self._error(404, NOT_FOUND_MESSAGE, program)
            status = record["ReportStatus"]
            log["report_status"] = status
            if status == "Active" and self.behaviour.resume_when_active == "reject":
                return self._error(400, f"Report {report_id} is already active.", program)
            if status == "Inactive":
                choice = self.behaviour.resume_when_inactive
                if choice == "reject":
                    return self._error(
                        400,
                        f"Report {report_id} is inactive: its recurrence is complete "
                        "(RecurrenceCount reached), so it cannot be resumed. Modify the report's schedule "
                        "or create a new report.",
                        program,
                    )
                if choice == "activate":
                    record = self.state.set_report_status(program, report_id, "Active")
                    self.state.start_run(program, report_id, self.clock.now())
            elif status == "Paused":
                record = self.state.set_report_status(program, report_id, "Active")
                self.state.start_run(program, report_id, self.clock.now())  # its next export is on its way
        log["report_status"] = record["ReportStatus"]
        return self._action_answer(record, program, "Report resumed successfully.")

    def _action_answer(self, record: dict[str, Any], program: str, message: str) -> Response:
        value = [record] if self.behaviour.action_response == "record" else []
        return Response.json(200, self._envelope(value, program, message=message))

    def _executions(self, request: Request, program: str, report_id: str, log: dict[str, Any]) -> Response:
        """Executions matching ``executionId`` and ``executionStatus`` (each one value or several joined
        by ';'; a ',' is part of one value, so "Completed,Pending" matches nothing)."""
        not_found = (
            EXECUTIONS_NOT_FOUND_MESSAGE
            if self.behaviour.executions_not_found == "own_text"
            else NOT_FOUND_MESSAGE
        )
        record = self.state.find_report(program, report_id)
        if record is None:
            return self._error(404, not_found, program)
        log["report_status"] = record["ReportStatus"]
        try:
            return self._matching_executions(request, program, report_id, not_found)
        finally:  # an answered read moves the clock, if the tests asked for that
            self.clock.after_read()

    def _matching_executions(
        self, request: Request, program: str, report_id: str, not_found: str
    ) -> Response:
        self.state.advance_runs(program, report_id, self.clock.now(), self.times)
        executions = self.state.executions(program, report_id)
        execution_id = request.param("executionId")
        status = request.param("executionStatus") or "Completed"
        latest = (request.param("getLatestExecution") or "true").lower()
        if latest not in ("true", "false"):
            raise BadRequest(f"getLatestExecution must be true or false, got '{latest}'.")
        statuses = {s.lower() for s in _values(status)}
        if execution_id is not None:
            ids = {i.lower() for i in _values(execution_id)}
            executions = [e for e in executions if e["ExecutionId"].lower() in ids]
        executions = [e for e in executions if e["ExecutionStatus"].lower() in statuses]
        executions.sort(key=lambda e: e["ReportGeneratedTime"] or "", reverse=True)
        if latest == "true":
            executions = executions[:1]
        if not executions:
            return self._error(404, not_found, program)
        executions = [self.files.render(e, program, request.base_url) for e in executions]
        return Response.json(200, self._envelope(executions, program))

    # -- queries and datasets -----------------------------------------------
    def _list_queries(self, request: Request, program: str) -> Response:
        queries = self.state.queries(program)
        query_id, query_name = request.param("queryId"), request.param("queryName")
        if query_id is not None:
            queries = [q for q in queries if q["QueryId"].lower() == query_id.lower()]
        if query_name is not None:
            queries = [q for q in queries if q["Name"] == query_name]
        if (query_id is not None or query_name is not None) and not queries:
            return self._error(404, NOT_FOUND_MESSAGE, program)
        return self._paged(request, queries, program)

    def _list_datasets(self, request: Request, program: str) -> Response:
        datasets = self.state.datasets(program)
        name = request.param("datasetName")
        if name is not None:
            datasets = [d for d in datasets if d["DatasetName"] == name]
            if not datasets:
                return self._error(404, NOT_FOUND_MESSAGE, program)
        return self._paged(request, datasets, program)

    # -- validation -----------------------------------------------------------
    def _validated_fields(self, body: dict[str, Any], program: str, *, require_start: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if "StartTime" in body or require_start:
            start = _parse_time(body.get("StartTime"), "StartTime")
            if start < utc_now() + datetime.timedelta(hours=4):
                raise BadRequest("StartTime should be at least 4 hours later than the current time.")
            fields["StartTime"] = format_time(start)
        if "RecurrenceInterval" in body or require_start:
            interval = body.get("RecurrenceInterval")
            low, high = (4, 2160) if program == "mpn" else (1, 2160)
            if isinstance(interval, bool) or not isinstance(interval, int) or not low <= interval <= high:
                raise BadRequest(
                    f"RecurrenceInterval should be between {low} and {high} hours; got {interval!r}."
                )
            fields["RecurrenceInterval"] = interval
        if "RecurrenceCount" in body:
            count = body["RecurrenceCount"]
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise BadRequest(f"RecurrenceCount should be a positive integer; got {count!r}.")
            fields["RecurrenceCount"] = count
        if "Format" in body or require_start:
            fmt = body.get("Format", "CSV")
            if not isinstance(fmt, str) or fmt.upper() not in _FORMATS:
                raise BadRequest(f"Invalid Format '{fmt}'. Supported formats are CSV and TSV.")
            fields["Format"] = fmt.upper()
        if "CallbackMethod" in body and body["CallbackMethod"] is not None:
            method = body["CallbackMethod"]
            if not isinstance(method, str) or method.upper() not in _CALLBACK_METHODS:
                raise BadRequest(f"Invalid CallbackMethod '{method}'. Supported methods are GET and POST.")
            fields["CallbackMethod"] = method.upper()
        if "CallbackUrl" in body:
            url = body["CallbackUrl"]
            if url is not None and (not isinstance(url, str) or not url.startswith("https://")):
                raise BadRequest(f"Invalid CallbackUrl '{url}'. The callback URL must use https.")
            fields["CallbackUrl"] = url
        return fields

    # -- answers --------------------------------------------------------------
    def _envelope(self, value: list[dict[str, Any]], program: str, **fields: Any) -> dict[str, Any]:
        return envelope(value, program=program, behaviour=self.behaviour, **fields)

    def _error(self, status: int, message: str, program: str | None, code: int | None = None) -> Response:
        return Response.json(
            status, error_body(status, message, program=program, behaviour=self.behaviour, code=code)
        )

    def _unauthorized(self, log: dict[str, Any], program: str) -> Response:
        response = self._error(401, UNAUTHORIZED_MESSAGE, program)
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return self._respond(response, log)

    @staticmethod
    def _respond(response: Response, log: dict[str, Any]) -> Response:
        response.log = {**log, **response.log}
        return response


def _values(text: str) -> list[str]:
    """The values of a filter that takes several, joined by ';' (a ',' stays inside one value)."""
    return [part.strip() for part in text.split(MULTI_VALUE_SEPARATOR) if part.strip()]


def _query_string(query: dict[str, str] | list[tuple[str, str]]) -> str:
    return f"?{urlencode(query)}" if query else ""


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


def _parse_time(value: Any, name: str) -> datetime.datetime:
    if not isinstance(value, str):
        raise BadRequest(f"{name} is required, in the format yyyy-MM-ddTHH:mm:ssZ.")
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid {name} '{value}'. Use the format yyyy-MM-ddTHH:mm:ssZ.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def _encode_continuation(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode_continuation(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind != "offset" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest(f"Invalid {_CONTINUATION} '{token}'.") from None
