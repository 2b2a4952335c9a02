"""The hook: the only code that talks to Partner Center Insights or Entra ID.

Importing this module is cheap on purpose (no ``msal``, no ``requests``): DAG
files import operators, operators import this, and DAG files are parsed all the
time. The network machinery lives in private modules loaded on first use.

The hook says what it asks (``_answers.Call``) and sends it; turning the answer
into records or a typed error is ``_answers.read_answer``'s job, following
``nextLink`` safely is ``_paging.Pages``'s.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from airflow_provider_pcinsights import __version__
from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    PartnerCenterInsightsError,
    ReportFileError,
    ReportNotFoundError,
    ServiceUnavailableError,
    UnexpectedResponseError,
)
from airflow_provider_pcinsights.hooks._answers import Call, Caller, read_answer, wants_new_token
from airflow_provider_pcinsights.hooks._batch import (
    BATCH_SIZE,
    READ_CONCURRENCY,
    BatchIO,
    BatchReads,
    Page,
    fold,
)
from airflow_provider_pcinsights.hooks._paging import Pages, with_query
from airflow_provider_pcinsights.hooks._retry_observers import RetryObserver, RetryObservers
from airflow_provider_pcinsights.hooks._retry_policy import RetryPolicy
from airflow_provider_pcinsights.hooks._settings import InsightsSettings, settings_from_connection
from airflow_provider_pcinsights.report_ids import normalize_report_ids, validate_report_id
from airflow_provider_pcinsights.waiting import EXECUTION_STATUSES

if TYPE_CHECKING:
    import requests

    from airflow_provider_pcinsights.hooks._answers import Answer
    from airflow_provider_pcinsights.hooks._auth import TokenSource
    from airflow_provider_pcinsights.hooks._envelope import Envelope

log = logging.getLogger(__name__)

REPORTS_PATH = "ScheduledReport"
DEFAULT_MAX_PAGES = 1000
# Where the service reads several values of one filter joined by ';' (a ',' is part of one value).
MULTI_VALUE_SEPARATOR = ";"
# Program and version whose reportId filter takes several ids (cmp v1.1); elsewhere one call per id.
MULTI_ID_LISTING = ("cmp", "v1.1")


@dataclass(frozen=True)
class ReportDownload:
    """What ``download_report_file`` wrote: the execution (as last read), its decoded size in bytes,
    its data rows, whether it came gzip-compressed, and whether its link had to be replaced."""

    execution: dict[str, Any]
    bytes: int
    rows: int
    compressed: bool
    link_refreshed: bool


class PartnerCenterInsightsHook(BaseHook):
    """Sign in to Microsoft Entra ID and manage Partner Center Insights scheduled reports.

    :param conn_id: the ``pcinsights`` connection to use.
    :param connection: an already-fetched Airflow ``Connection``; the trigger passes
        one it looked up asynchronously, since a synchronous lookup inside the
        triggerer's event loop fails on Airflow 3.
    :param retries: retries of a call that failed with 429, 5xx, a dropped
        connection or a timeout. Only GET, PUT and DELETE are retried; a host name
        that does not resolve, a TLS verification failure or a refusing proxy never is.
    :param backoff_factor: the k-th retry waits ``backoff_factor * 2 ** (k - 1)`` s
        (the first one too: never immediately), capped at ``backoff_max``.
    :param backoff_max: the longest single backoff, in seconds.
    :param max_retry_after: the longest ``Retry-After`` honoured, in seconds. With
        ``backoff_max`` it bounds the sleeping of one call to
        ``retries * max(backoff_max, max_retry_after)`` seconds; the defaults give
        31 s against a dead service and at most 5 minutes against throttling.
        Each attempt is bounded by the connection's ``timeout``, its body as a whole too.
    :param max_pages: how many ``nextLink`` pages one listing may follow before it
        is treated as a runaway and refused.
    :param read_concurrency: how many calls one ``get_reports`` sends at once (its batches, or
        its single reads); a listing's pages always follow one another.
    :param store_rotated_refresh_token: App+User only, off by default: write each
        refresh token Entra hands back into the connection row in Airflow's
        database (Airflow 2, where tasks may write it). Ignored, with a warning, on
        Airflow 3 and for connections from the environment or a secrets backend.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "pcinsights_default"
    conn_type = "pcinsights"
    hook_name = "Microsoft Partner Center Insights"

    def __init__(
        self,
        conn_id: str = default_conn_name,
        *,
        connection: Any | None = None,
        retries: int = 5,
        backoff_factor: float = 1.0,
        backoff_max: float = 30.0,
        max_retry_after: float = 60.0,
        max_pages: int = DEFAULT_MAX_PAGES,
        read_concurrency: int = READ_CONCURRENCY,
        store_rotated_refresh_token: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self._given_connection = connection
        self.retry_policy = RetryPolicy(
            retries=retries,
            backoff_factor=backoff_factor,
            backoff_max=backoff_max,
            max_retry_after=max_retry_after,
        )
        self.max_pages = _at_least_one(max_pages, "max_pages")
        self.read_concurrency = _at_least_one(read_concurrency, "read_concurrency")
        self.store_rotated_refresh_token = bool(store_rotated_refresh_token)
        self._session_lock = threading.Lock()
        self._session: requests.Session | None = None
        self._file_session: requests.Session | None = None  # for report files: never sends the token
        self._retry_observers = RetryObservers()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r})"

    # ------------------------------------------------------------------ connection form

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields for the classic connection form; Airflow 3's UI reads ``conn-fields`` instead.

        Both come from ``connection_fields.FIELDS``.
        """
        try:
            from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
            from flask_babel import lazy_gettext
            from wtforms import PasswordField, StringField
        except ImportError:  # Airflow 3 without the FAB UI: nothing to draw here
            return {}

        from airflow_provider_pcinsights.connection_fields import EXTRA_FIELDS

        # Only the arguments Airflow 3.0/3.1's stand-ins for these classes accept: their UI builds
        # the form from this method with wtforms mocked. Examples go in as placeholders instead.
        widgets: dict[str, Any] = {}
        for f in EXTRA_FIELDS:
            kind, widget = (
                (PasswordField, BS3PasswordFieldWidget) if f.secret else (StringField, BS3TextFieldWidget)
            )
            widgets[f.name] = kind(
                lazy_gettext(f.label),
                widget=widget(),
                description=f.help_text,
                default=None if f.default is None else str(f.default),
            )
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from airflow_provider_pcinsights.connection_fields import ui_field_behaviour

        return ui_field_behaviour(kebab_case=False)

    # ------------------------------------------------------------------ lazy state

    @cached_property
    def connection(self) -> Any:
        if self._given_connection is not None:
            return self._given_connection
        return self.get_connection(self.conn_id)

    @cached_property
    def settings(self) -> InsightsSettings:
        """The connection, validated; secrets are registered for masking as soon as they are read."""
        settings = settings_from_connection(self.connection)
        for secret in settings.secrets:
            mask_secret(secret)
        return settings

    @cached_property
    def _token_source(self) -> TokenSource:
        from airflow_provider_pcinsights.hooks._auth import token_source_for

        source = token_source_for(self.settings, self.retry_policy, _user_agent(), mask_secret)
        if self.store_rotated_refresh_token and self.settings.auth_type == "refresh_token":
            from airflow_provider_pcinsights.hooks._writeback import register_write_back

            register_write_back(source, self.conn_id)
        return source

    @property
    def account(self) -> str:
        """The program and API version this connection talks to (``mpn v1``), for messages."""
        return f"{self.settings.program} {self.settings.api_version}"

    @cached_property
    def _batch_reads(self) -> BatchReads:
        """What this hook learned about reading many reports at once (see ``_batch``)."""
        settings = self.settings
        return BatchReads(
            multi_id_filter=(settings.program, settings.api_version) == MULTI_ID_LISTING,
            where=self.account,
            concurrency=self.read_concurrency,
        )

    def _http(self) -> requests.Session:
        """The session of API calls (their token goes with each call, as ``auth``)."""
        with self._session_lock:
            if self._session is None:
                from airflow_provider_pcinsights.hooks._transport import API_POOL_SIZE, API_RETRY_METHODS

                self._session = self._new_session(
                    API_RETRY_METHODS, observer=self._retry_observers, pool_maxsize=API_POOL_SIZE
                )
            return self._session

    def _file_http(self) -> requests.Session:
        """A session of its own for report files, kept apart from the API's, so nothing the API
        calls need (their token above all) can reach the storage host."""
        with self._session_lock:
            if self._file_session is None:
                self._file_session = self._new_session(("GET",))
            return self._file_session

    def _new_session(
        self, retry_methods: Sequence[str], *, observer: Any = None, pool_maxsize: int = 16
    ) -> requests.Session:
        """A session with the connection's verify, proxies and timeout, and the hook's retries."""
        from airflow_provider_pcinsights.hooks._transport import new_session

        settings = self.settings
        return new_session(
            verify=settings.verify,
            proxies=settings.proxies,
            timeout=settings.timeout,
            policy=self.retry_policy,
            retry_methods=retry_methods,
            user_agent=_user_agent(),
            observer=observer,
            pool_maxsize=pool_maxsize,
        )

    def close(self) -> None:
        """Release pooled connections; the hook opens new sessions if used again."""
        with self._session_lock:
            for session in (self._session, self._file_session):
                if session is not None:
                    session.close()
            self._session = self._file_session = None

    def add_retry_observer(self, observer: RetryObserver) -> None:
        """Tell ``observer`` of every 429 the API answers (retried or not) and of each backoff sleep.

        ``observer.throttled()`` and ``observer.backing_off()`` run in the thread making the
        call; an ``adaptive_limit.AdaptiveLimit`` is one, so a bulk run slows down on throttling
        that the hook's retries would otherwise hide from it. The sign-in is not observed.
        """
        self._retry_observers.add(observer)

    def remove_retry_observer(self, observer: RetryObserver) -> None:
        self._retry_observers.remove(observer)

    # ------------------------------------------------------------------ public API

    def get_token(self) -> str:
        """The bearer token, shared by every hook of this process with the same credential."""
        return self._token_source.token()

    def get_report(self, report_id: str) -> dict[str, Any]:
        """One report record; ``ReportNotFoundError`` (with the service's words) if it is unknown."""
        report_id = validate_report_id(report_id)
        records = self._get_all(
            REPORTS_PATH,
            {"reportId": report_id},
            Call(action=f"read report {report_id}", report_id=report_id, record="report"),
        )
        matching = [r for r in records if r["ReportId"].lower() == report_id.lower()]
        if not matching:
            others = f"it answered {len(records)} other report(s)" if records else "it answered no report"
            raise ReportNotFoundError.unknown(report_id, f"{self.account}; {others}")
        if len(matching) > 1:
            raise UnexpectedResponseError(
                f"Could not read report {report_id}: the service returned {len(matching)} reports "
                "with that id",
                report_id=report_id,
            )
        return matching[0]

    def list_reports(
        self,
        report_id: str | Sequence[str] | None = None,
        report_name: str | None = None,
        query_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every report matching the filters (all of them without any), following ``nextLink``.

        ``report_id`` may be a list: cmp v1.1 takes the ids in one call, joined by
        ``;``; elsewhere each id is asked for on its own. Nothing matching is ``[]``.
        """
        params = {}
        if report_name is not None:
            params["reportName"] = _nonempty_text(report_name, "report_name")
        if query_id is not None:
            params["queryId"] = _nonempty_text(query_id, "query_id")
        if report_id is None:
            return self._get_all(REPORTS_PATH, params, _listing("list reports"))
        ids, _ = normalize_report_ids(report_id)
        if len(ids) > 1 and self._batch_reads.batches_allowed:
            return [
                record
                for start in range(0, len(ids), BATCH_SIZE)
                for record in self._read_batch(ids[start : start + BATCH_SIZE], params)
            ]
        return [record for one in ids for record in self._read_one(one, params)]

    def get_reports(self, report_ids: str | Sequence[str]) -> dict[str, dict[str, Any]]:
        """The records of many reports in few calls, keyed by the ids as given, in their order.

        Ids the account does not know are absent from the answer (no exception per id):
        ``[rid for rid in ids if rid not in answer]`` are the unknown ones. Ids compare
        without regard to case; the same id twice is read once.

        Costs one call per 50 ids on cmp v1.1 (``;``-joined ``reportId``), or one paged
        listing of the account's reports where that is cheaper (on mpn, which takes one id
        per filter, unless the account's listing is longer than the list of ids: then one call
        per id). When the service refuses a batch, or leaves out of one a report that a single
        read then finds, the hook reads singly (or lists) from then on. An id a batch or a
        complete listing did not return is read once on its own before it is called unknown.
        Only the records asked for must carry a documented status.
        """
        given = [report_ids] if isinstance(report_ids, str) else list(report_ids)
        ids = [validate_report_id(one) for one in given]
        if not ids:
            return {}
        wanted = frozenset(fold(one) for one in ids)
        io = BatchIO(
            read_batch=lambda chunk: self._read_batch(chunk, {}, only_ids=wanted),
            read_one=lambda one: self._read_one(one, {}, only_ids=wanted),
            listing=lambda: self._listing_pages(only_ids=wanted),
        )
        found = self._batch_reads.read(ids, io)
        return {one: found[fold(one)] for one in ids if fold(one) in found}

    def _read_batch(
        self, ids: list[str], params: dict[str, str], only_ids: frozenset[str] | None = None
    ) -> list[dict[str, Any]]:
        """One filtered listing of several ids joined by ';' (cmp v1.1), following ``nextLink``."""
        call = _listing(f"read reports {', '.join(ids)}", only_ids)
        return self._get_all(REPORTS_PATH, {**params, "reportId": MULTI_VALUE_SEPARATOR.join(ids)}, call)

    def _read_one(
        self, report_id: str, params: dict[str, str], only_ids: frozenset[str] | None = None
    ) -> list[dict[str, Any]]:
        """One id's filtered listing: its record, or ``[]`` when the account does not know it."""
        call = _listing(f"read report {report_id}", only_ids)
        return self._get_all(REPORTS_PATH, {**params, "reportId": report_id}, call)

    def _listing_pages(self, only_ids: frozenset[str] | None) -> Iterator[Page]:
        call = _listing("list reports", only_ids)
        for envelope, has_next in self._pages(REPORTS_PATH, {}, call):
            yield Page(records=envelope.records, total_count=envelope.total_count, has_next=has_next)

    def pause_report(self, report_id: str) -> dict[str, Any]:
        return self._report_action("pause", report_id)

    def resume_report(self, report_id: str) -> dict[str, Any]:
        return self._report_action("resume", report_id)

    def get_report_executions(
        self,
        report_id: str,
        execution_id: str | Sequence[str] | None = None,
        execution_status: str | Sequence[str] | None = None,
        get_latest_execution: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Execution records of a report; an empty list when none matches (none has run yet).

        ``execution_id`` and ``execution_status`` take one value or several (a list, or
        joined by ``;``, as the service reads them). The service answers 404 both for an
        unknown report and for a report with no matching execution, so a 404 is told apart
        by looking the report up. ``Pending`` executions come back with ``null`` links and times.
        """
        report_id = validate_report_id(report_id)
        params: dict[str, str] = {}
        if execution_id is not None:
            ids = _several(execution_id, "execution_id")
            params["executionId"] = MULTI_VALUE_SEPARATOR.join(
                validate_report_id(one, name="execution_id") for one in ids
            )
        if execution_status is not None:
            params["executionStatus"] = MULTI_VALUE_SEPARATOR.join(
                _execution_status(one) for one in _several(execution_status, "execution_status")
            )
        if get_latest_execution is not None:
            params["getLatestExecution"] = "true" if get_latest_execution else "false"
        call = Call(
            action=f"read the executions of report {report_id}", report_id=report_id, record="execution"
        )
        try:
            return self._get_all(f"{REPORTS_PATH}/execution/{report_id}", params, call)
        except ReportNotFoundError:
            self.get_report(report_id)  # raises if the report itself is unknown
            return []

    def get_completed_execution(self, report_id: str, execution_id: str | None = None) -> dict[str, Any]:
        """The execution whose file to fetch: ``execution_id``'s, or the report's latest ``Completed`` one.

        ``ReportFileError`` when there is none, when the given one is not ``Completed`` (its file
        is not ready: the message says its status), or when it has no link.
        """
        from airflow_provider_pcinsights.waiting import latest_completed

        report_id = validate_report_id(report_id)
        if execution_id is None:
            found = self.get_report_executions(
                report_id, execution_status="Completed", get_latest_execution=True
            )
            execution = latest_completed(found, report_id)
            if execution is None:
                raise ReportFileError(
                    f"Report {report_id} has no completed execution yet, so there is no file to download "
                    "(wait for one with ReportExecutionSensor)",
                    report_id=report_id,
                )
        else:
            execution_id = validate_report_id(execution_id, name="execution_id")
            found = self.get_report_executions(
                report_id,
                execution_id=execution_id,
                execution_status=list(EXECUTION_STATUSES),
                get_latest_execution=False,
            )
            matching = [e for e in found if str(e.get("ExecutionId", "")).lower() == execution_id.lower()]
            if not matching:
                raise ReportFileError(
                    f"Report {report_id} has no execution {execution_id}", report_id=report_id
                )
            execution = matching[0]
            status = execution.get("ExecutionStatus")
            if not isinstance(status, str) or status.casefold() != "completed":
                raise ReportFileError(
                    f"Execution {execution_id} of report {report_id} is {status}, not Completed: its file "
                    "is not ready",
                    report_id=report_id,
                )
        if not execution.get("ReportAccessSecureLink"):
            raise ReportFileError(
                f"Execution {execution.get('ExecutionId')} of report {report_id} is Completed but the "
                "service gave no ReportAccessSecureLink for its file",
                report_id=report_id,
            )
        return execution

    def download_report_file(self, execution: dict[str, Any], sink: Callable[[bytes], Any]) -> ReportDownload:
        """Stream an execution's file into ``sink``: gunzipped, without a byte-order mark, rows counted.

        The file is fetched from its ``ReportAccessSecureLink`` without the bearer token, on a
        session of its own with the connection's ``verify``, ``proxies`` and ``timeout``. A link
        the storage host refuses (an expired one answers 403) is replaced once, by reading the
        execution again, before anything is written; a second refusal is a ``ReportFileError``.
        """
        from airflow_provider_pcinsights.hooks._download import LinkRefused, link_secrets, shown, stream_file
        from airflow_provider_pcinsights.hooks._errors import transport_error

        report_id = validate_report_id(str(execution.get("ReportId", "")))
        execution_id = str(execution.get("ExecutionId", ""))
        doing = f"download the file of execution {execution_id} of report {report_id}"
        refreshed = False
        while True:
            link = str(execution.get("ReportAccessSecureLink") or "")
            try:
                streamed = stream_file(
                    self._file_http(), link, sink, file_format=execution.get("Format"), doing=doing
                )
                break
            except LinkRefused as refusal:
                if refreshed:
                    raise ReportFileError(
                        f"Could not {doing}: the file host refused its link even after the execution was "
                        f"read again for a fresh one ({refusal.reason})",
                        status_code=403,
                        report_id=report_id,
                    ) from None
                log.info(
                    "The file host refused the link to %s (%s); reading the execution again for a fresh link",
                    shown(link),
                    refusal.reason,
                )
                execution = self.get_completed_execution(report_id, execution_id)
                refreshed = True
            except OSError as err:
                origin = shown(link).rsplit("/", 1)[0]
                raise transport_error(
                    err,
                    doing=doing,
                    origin=origin,
                    secrets=(*self._known_secrets(), *link_secrets(link)),
                    retries=self.retry_policy.retries,
                ) from None
        return ReportDownload(
            execution=execution,
            bytes=streamed.bytes,
            rows=streamed.rows,
            compressed=streamed.compressed,
            link_refreshed=refreshed,
        )

    def test_connection(self) -> tuple[bool, str]:
        """Sign in and read one page of reports; say what went wrong rather than raise."""
        try:
            settings = self.settings
            self.get_token()
            envelope = self._request("GET", REPORTS_PATH, None, _listing("list reports"))
        except Exception as err:
            return False, _safe_text(err, self._known_secrets())
        return True, (
            f"Connected to Partner Center Insights ({settings.program} {settings.api_version}) as client "
            f"{settings.client_id} in tenant {settings.tenant_id}; "
            f"{len(envelope.records)} scheduled report(s) on the first page"
        )

    # ------------------------------------------------------------------ internals

    def _report_action(self, verb: str, report_id: str) -> dict[str, Any]:
        report_id = validate_report_id(report_id)
        call = Call(
            action=f"{verb} report {report_id}", report_id=report_id, record="report", records_required=False
        )
        envelope = self._request("PUT", f"{REPORTS_PATH}/{verb}/{report_id}", None, call)
        for record in envelope.records:
            if record["ReportId"].lower() == report_id.lower():
                return record
        log.info("The %s answer for report %s carried no record of it; reading it back", verb, report_id)
        return self.get_report(report_id)

    def _get_all(self, path: str, params: dict[str, str], call: Call) -> list[dict[str, Any]]:
        """Every record of a listing, following ``nextLink`` on the API's own host only."""
        return [record for envelope, _ in self._pages(path, params, call) for record in envelope.records]

    def _pages(self, path: str, params: dict[str, str], call: Call) -> Iterator[tuple[Envelope, bool]]:
        """Each page of a listing with whether another follows; a caller may stop before the end."""
        url: str | None = urljoin(self.settings.base_url, path)
        pages = Pages(
            self.settings.base_url,
            action=call.action,
            max_pages=self.max_pages,
            record=call.record,
            secrets=self._known_secrets(),
        )
        current_params: dict[str, str] | None = params
        while url:
            envelope = self._request("GET", url, current_params, call)
            pages.add(with_query(url, current_params), envelope.records)
            url, current_params = pages.next_url(url, envelope.next_link), None
            yield envelope, url is not None

    def _request(self, method: str, path_or_url: str, params: dict[str, str] | None, call: Call) -> Envelope:
        """One API call, with one fresh sign-in on a 401 a new token may mend.

        Transient failures are retried below, by the session's adapter.
        """
        url = urljoin(self.settings.base_url, path_or_url)
        answer, token = self._send(method, url, params, call)
        if wants_new_token(answer):
            log.info("Partner Center answered 401 to %s; signing in again and retrying once", call.action)
            self._token_source.invalidate(token)
            answer, token = self._send(method, url, params, call)
        settings = self.settings
        caller = Caller(
            program=settings.program,
            auth_type=settings.auth_type,
            client_id=settings.client_id,
            tenant_id=settings.tenant_id,
            secrets=(*self._known_secrets(), token),
        )
        return read_answer(answer, call, caller)

    def _send(self, method: str, url: str, params: dict[str, str] | None, call: Call) -> tuple[Answer, str]:
        from airflow_provider_pcinsights.hooks._errors import redact, transport_error
        from airflow_provider_pcinsights.hooks._transport import AnswerNotReceived, BearerAuth, fetch

        token = self.get_token()
        request_id = str(uuid.uuid4())
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "MS-RequestId": request_id,
        }
        origin = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
        log.debug("%s %s (MS-RequestId %s)", method, url, request_id)
        secrets = (*self._known_secrets(), token)
        try:
            answer = fetch(
                self._http(),
                method,
                url,
                params=params,
                headers=headers,
                auth=BearerAuth(token),
                request_id=request_id,
            )
        except AnswerNotReceived as err:
            if err.why == "too slow":
                what = f"did not arrive in full within {err.within:g} s (the connection's timeout bounds it)"
            else:
                what = f"was cut off: {redact(err.why, secrets)}"
            raise ServiceUnavailableError(
                f"Could not {call.action}: the answer from {origin} {what}; {err.received} bytes came "
                f"(MS-RequestId {request_id})",
                report_id=call.report_id,
            ) from None
        except OSError as err:  # TLS, the network, the proxy, or the CA bundle named by ``verify``
            raise transport_error(
                err,
                doing=call.action,
                origin=origin,
                secrets=secrets,
                retries=self.retry_policy.retries,
                request_id=request_id,
            ) from None
        return answer, token

    def _known_secrets(self) -> tuple[str, ...]:
        try:
            return self.settings.secrets
        except Exception:
            return ()


def _listing(action: str, only_ids: frozenset[str] | None = None) -> Call:
    """A GET of reports where nothing matching is an empty listing, not an error."""
    return Call(action=action, record="report", nothing_matches_is_empty=True, only_ids=only_ids)


def _several(value: Any, name: str) -> list[str]:
    """One value or several: a list, or one string joined by ';'. A ',' is refused, not guessed at."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or isinstance(items, (bytes, bytearray)) or not items:
        raise ValueError(f"{name} must be a non-empty string or a list of them, got {value!r}")
    values: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{name} must be a non-empty string or a list of them, got {value!r}")
        if "," in item:
            raise ValueError(
                f"{name} {item!r} contains ',': the service reads a ',' as part of one value. "
                f"Join several with ';' ({';'.join(p.strip() for p in item.split(','))!r}) or pass a list"
            )
        values += [part.strip() for part in item.split(MULTI_VALUE_SEPARATOR) if part.strip()]
    return values


def _execution_status(value: str) -> str:
    for status in EXECUTION_STATUSES:
        if status.casefold() == value.strip().casefold():
            return status
    raise ValueError(
        f"execution_status has unknown status {value!r}; use one of {', '.join(EXECUTION_STATUSES)}"
    )


def _at_least_one(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return value


def _nonempty_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _safe_text(err: BaseException, secrets: tuple[str, ...]) -> str:
    from airflow_provider_pcinsights.hooks._errors import redact

    text = redact(str(err) or type(err).__name__, secrets)
    if isinstance(err, AuthenticationError | PartnerCenterInsightsError | ValueError):
        return text
    return f"{type(err).__name__}: {text}"


def _user_agent() -> str:
    from airflow import __version__ as airflow_version

    return f"airflow-provider-pcinsights/{__version__} (Apache Airflow {airflow_version})"
