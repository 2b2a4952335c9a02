"""The hook: the only code that talks to Partner Center Insights or Entra ID.

Importing this module is cheap on purpose (no ``msal``, no ``requests``): DAG
files import operators, operators import this, and DAG files are parsed all the
time. What is validated (``connection``) and what reads answers (``answers``) is
standard library only; HTTP (``http``), sign-in (``entra``) and downloads
(``download``) are loaded on first use.

The hook says what it asks (``answers.Call``) and sends it; turning the answer
into records or a typed error is ``answers.read_answer``'s job, following
``nextLink`` safely is ``answers.follow_pages``'s. Ids are validated here, once, at the
public methods; the private ones trust them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin

from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from airflow_provider_pcinsights import __version__
from airflow_provider_pcinsights.exceptions import (
    PartnerCenterInsightsError,
    ReportFileError,
    ReportNotFoundError,
    redact,
)
from airflow_provider_pcinsights.hooks.answers import (
    Call,
    Envelope,
    follow_pages,
    read_answer,
    wants_new_token,
)
from airflow_provider_pcinsights.hooks.batch import (
    BATCH_SIZE,
    READ_CONCURRENCY,
    BatchIO,
    BatchReads,
    fold,
)
from airflow_provider_pcinsights.hooks.connection import (
    InsightsSettings,
    RetryPolicy,
    settings_from_connection,
    whole_number,
)
from airflow_provider_pcinsights.report_ids import normalize_report_ids, validate_report_id
from airflow_provider_pcinsights.waiting import EXECUTION_STATUSES

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.answers import Answer
    from airflow_provider_pcinsights.hooks.download import ReportDownload
    from airflow_provider_pcinsights.hooks.entra import TokenSource
    from airflow_provider_pcinsights.hooks.http import PinnedSession

log = logging.getLogger(__name__)

REPORTS_PATH = "ScheduledReport"
DEFAULT_MAX_PAGES = 1000
# Where the service reads several values of one filter joined by ';' (a ',' is part of one value).
MULTI_VALUE_SEPARATOR = ";"
# Program and version whose reportId filter takes several ids (cmp v1.1); elsewhere one call per id.
MULTI_ID_LISTING = ("cmp", "v1.1")


class RetryObserver(Protocol):
    """What ``add_retry_observer`` takes (``operators.bulk.AdaptiveLimit`` is one), called in the caller."""

    def throttled(self) -> None:
        """The service answered 429 (also one the retries then absorb)."""

    def backing_off(self) -> contextlib.AbstractContextManager[Any]:
        """Held while the retries sleep: the caller is not on the wire meanwhile."""


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
        self.max_pages = whole_number(max_pages, "max_pages", minimum=1)
        self.read_concurrency = whole_number(read_concurrency, "read_concurrency", minimum=1)
        self.store_rotated_refresh_token = bool(store_rotated_refresh_token)
        self._session_lock = threading.Lock()
        # "api" for the API's calls (their token goes with each call, as ``auth``); "file" for report
        # files, kept apart so nothing the API calls need (their token above all) reaches the storage host.
        self._sessions: dict[str, PinnedSession] = {}
        self._retry_observers: list[RetryObserver] = []

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
        from airflow_provider_pcinsights.hooks.entra import token_source_for

        source = token_source_for(self.settings, self.retry_policy, _user_agent(), mask_secret)
        if self.store_rotated_refresh_token and self.settings.auth_type == "refresh_token":
            from airflow_provider_pcinsights.hooks.entra import register_write_back

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

    def _session(self, kind: str) -> PinnedSession:
        """The hook's ``"api"`` or ``"file"`` session, made on first use with the connection's verify,
        proxies and timeout and the hook's retries (a file is only ever fetched with GET)."""
        with self._session_lock:
            if kind not in self._sessions:
                from airflow_provider_pcinsights.hooks import http

                api = kind == "api"
                self._sessions[kind] = http.new_session(
                    self.settings,
                    self.retry_policy,
                    retry_methods=http.API_RETRY_METHODS if api else ("GET",),
                    user_agent=_user_agent(),
                    observers=self._retry_observers if api else (),
                    pool_maxsize=http.API_POOL_SIZE if api else 16,
                )
            return self._sessions[kind]

    def close(self) -> None:
        """Release pooled connections; the hook opens new sessions if used again."""
        with self._session_lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()

    def add_retry_observer(self, observer: RetryObserver) -> None:
        """Tell ``observer`` of every 429 the API answers (retried or not) and of each backoff sleep.

        ``observer.throttled()`` and ``observer.backing_off()`` run in the thread making the
        call; an ``operators.bulk.AdaptiveLimit`` is one, so a bulk run slows down on throttling
        that the hook's retries would otherwise hide from it. The sign-in is not observed.
        """
        for name in ("throttled", "backing_off"):
            if not callable(getattr(observer, name, None)):
                raise TypeError(f"a retry observer needs a {name}() method, got {observer!r}")
        self._retry_observers.append(observer)

    def remove_retry_observer(self, observer: RetryObserver) -> None:
        with contextlib.suppress(ValueError):
            self._retry_observers.remove(observer)

    # ------------------------------------------------------------------ public API

    def get_token(self) -> str:
        """The bearer token, shared by every hook of this process with the same credential."""
        return self._token_source.token()

    def get_report(self, report_id: str) -> dict[str, Any]:
        """One report record; ``ReportNotFoundError`` (with the service's words) if it is unknown."""
        return self._report(validate_report_id(report_id))

    def _report(self, report_id: str) -> dict[str, Any]:
        records = self._get_all(
            REPORTS_PATH,
            {"reportId": report_id},
            Call(action=f"read report {report_id}", report_id=report_id, record="report"),
        )
        # One at most: a listing naming one report twice is refused (``answers.follow_pages``).
        for record in records:
            if record["ReportId"].casefold() == report_id.casefold():
                return record
        others = f"it answered {len(records)} other report(s)" if records else "it answered no report"
        raise ReportNotFoundError.unknown(report_id, f"{self.account}; {others}")

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
        per_call = BATCH_SIZE if len(ids) > 1 and self._batch_reads.batches_allowed else 1
        chunks = [ids[start : start + per_call] for start in range(0, len(ids), per_call)]
        return [record for chunk in chunks for record in self._read_ids(chunk, params)]

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
            read_batch=lambda chunk: self._read_ids(chunk, {}, wanted),
            listing=lambda: self._pages(REPORTS_PATH, {}, _listing("list reports", wanted)),
        )
        found = self._batch_reads.read(ids, io)
        return {one: found[fold(one)] for one in ids if fold(one) in found}

    def _read_ids(
        self, ids: list[str], params: dict[str, str], only_ids: frozenset[str] | None = None
    ) -> list[dict[str, Any]]:
        """One filtered listing of these ids, following ``nextLink``: several are joined by ';' (cmp
        v1.1 only); ``[]`` when the account knows none of them."""
        call = _listing(f"read report{'s' if len(ids) > 1 else ''} {', '.join(ids)}", only_ids)
        return self._get_all(REPORTS_PATH, {**params, "reportId": MULTI_VALUE_SEPARATOR.join(ids)}, call)

    def pause_report(self, report_id: str) -> dict[str, Any]:
        return self._report_action("pause", validate_report_id(report_id))

    def resume_report(self, report_id: str) -> dict[str, Any]:
        return self._report_action("resume", validate_report_id(report_id))

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
            params["executionId"] = _several(
                execution_id, "execution_id", partial(validate_report_id, name="execution_id")
            )
        if execution_status is not None:
            params["executionStatus"] = _several(execution_status, "execution_status", _execution_status)
        if get_latest_execution is not None:
            params["getLatestExecution"] = "true" if get_latest_execution else "false"
        return self._executions(report_id, params)

    def _executions(self, report_id: str, params: dict[str, str]) -> list[dict[str, Any]]:
        call = Call(
            action=f"read the executions of report {report_id}", report_id=report_id, record="execution"
        )
        try:
            return self._get_all(f"{REPORTS_PATH}/execution/{report_id}", params, call)
        except ReportNotFoundError:
            self._report(report_id)  # raises if the report itself is unknown
            return []

    def get_completed_execution(self, report_id: str, execution_id: str | None = None) -> dict[str, Any]:
        """The execution whose file to fetch: ``execution_id``'s, or the report's latest ``Completed`` one.

        ``ReportFileError`` when there is none, when the given one is not ``Completed`` (its file
        is not ready: the message says its status), or when it has no link.
        """
        report_id = validate_report_id(report_id)
        if execution_id is not None:
            execution_id = validate_report_id(execution_id, name="execution_id")
        return self._completed_execution(report_id, execution_id)

    def _completed_execution(self, report_id: str, execution_id: str | None) -> dict[str, Any]:
        from airflow_provider_pcinsights.waiting import latest_completed, same_status

        if execution_id is None:
            found = self._executions(
                report_id, {"executionStatus": "Completed", "getLatestExecution": "true"}
            )
            execution = latest_completed(found, report_id)
            none = (
                "no completed execution yet, so there is no file to download (wait for one with "
                "ReportExecutionSensor)"
            )
        else:
            params = {
                "executionId": execution_id,
                "executionStatus": MULTI_VALUE_SEPARATOR.join(EXECUTION_STATUSES),
                "getLatestExecution": "false",
            }
            found = self._executions(report_id, params)
            # Every execution record names itself (``answers.read_answer`` checks it).
            same_id = (e for e in found if e["ExecutionId"].casefold() == execution_id.casefold())
            execution, none = next(same_id, None), f"no execution {execution_id}"
        if execution is None:
            raise ReportFileError(f"Report {report_id} has {none}", report_id=report_id)
        status = execution.get("ExecutionStatus")
        if not same_status(status, "Completed"):
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
        from airflow_provider_pcinsights.hooks.download import download

        report_id = validate_report_id(str(execution.get("ReportId", "")))
        execution_id = validate_report_id(str(execution.get("ExecutionId", "")), name="execution_id")
        return download(
            self._session("file"),
            execution,
            sink,
            read_again=lambda: self._completed_execution(report_id, execution_id),
            secrets=self._known_secrets(),
            retries=self.retry_policy.retries,
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
        call = Call(
            action=f"{verb} report {report_id}", report_id=report_id, record="report", records_required=False
        )
        envelope = self._request("PUT", f"{REPORTS_PATH}/{verb}/{report_id}", None, call)
        for record in envelope.records:
            if record["ReportId"].lower() == report_id.lower():
                return record
        log.info("The %s answer for report %s carried no record of it; reading it back", verb, report_id)
        return self._report(report_id)

    def _get_all(self, path: str, params: dict[str, str], call: Call) -> list[dict[str, Any]]:
        """Every record of a listing, following ``nextLink`` on the API's own host only."""
        return [record for envelope, _ in self._pages(path, params, call) for record in envelope.records]

    def _pages(self, path: str, params: dict[str, str], call: Call) -> Iterator[tuple[Envelope, bool]]:
        """Each page of a listing with whether another follows; a caller may stop before the end."""
        return follow_pages(
            lambda url, query: self._request("GET", url, query, call),
            urljoin(self.settings.base_url, path),
            params,
            base_url=self.settings.base_url,
            action=call.action,
            max_pages=self.max_pages,
            record=call.record,
            secrets=self._known_secrets(),
        )

    def _request(
        self, method: str, path_or_url: str, params: Mapping[str, str] | None, call: Call
    ) -> Envelope:
        """One API call, with one fresh sign-in on a 401 a new token may mend.

        Transient failures are retried below, by the session's adapter (``http.BoundedRetry``).
        """
        from airflow_provider_pcinsights.hooks.http import fetch

        url = urljoin(self.settings.base_url, path_or_url)

        def send(token: str) -> Answer:
            secrets = (*self._known_secrets(), token)
            retries = self.retry_policy.retries
            session = self._session("api")
            return fetch(session, method, url, params, token, call, secrets=secrets, retries=retries)

        token = self.get_token()
        answer = send(token)
        if wants_new_token(answer):
            log.info("Partner Center answered 401 to %s; signing in again and retrying once", call.action)
            self._token_source.invalidate(token)
            token = self.get_token()
            answer = send(token)
        return read_answer(answer, call, self.settings, (*self._known_secrets(), token))

    def _known_secrets(self) -> tuple[str, ...]:
        try:
            return self.settings.secrets
        except Exception:
            return ()


def _listing(action: str, only_ids: frozenset[str] | None = None) -> Call:
    """A GET of reports where nothing matching is an empty listing, not an error."""
    return Call(action=action, record="report", nothing_matches_is_empty=True, only_ids=only_ids)


def _several(value: Any, name: str, check: Callable[[str], str]) -> str:
    """One value or several (a list, or one string joined by ';'), each passed through ``check``, as
    the service reads them: joined by ';'. A ',' is refused, not guessed at."""
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
    return MULTI_VALUE_SEPARATOR.join(check(one) for one in values)


def _execution_status(value: str) -> str:
    for status in EXECUTION_STATUSES:
        if status.casefold() == value.casefold():
            return status
    raise ValueError(
        f"execution_status has unknown status {value!r}; use one of {', '.join(EXECUTION_STATUSES)}"
    )


def _nonempty_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _safe_text(err: BaseException, secrets: tuple[str, ...]) -> str:
    text = redact(str(err) or type(err).__name__, secrets)
    if isinstance(err, PartnerCenterInsightsError | ValueError):
        return text
    return f"{type(err).__name__}: {text}"


def _user_agent() -> str:
    from airflow import __version__ as airflow_version

    return f"airflow-provider-pcinsights/{__version__} (Apache Airflow {airflow_version})"
