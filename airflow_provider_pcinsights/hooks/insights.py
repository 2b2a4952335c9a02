"""The hook: the only code that talks to Partner Center Insights or Entra ID.

Importing this module is cheap on purpose (no ``msal``, no ``requests``): DAG
files import operators, operators import this, and DAG files are parsed all the
time. The network machinery lives in private modules loaded on first use.
"""

from __future__ import annotations

import logging
import threading
import uuid
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from airflow_provider_pcinsights import __version__
from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    PartnerCenterInsightsError,
    ReportNotFoundError,
    UnexpectedResponseError,
)
from airflow_provider_pcinsights.hooks._retry_policy import RetryPolicy
from airflow_provider_pcinsights.hooks._settings import InsightsSettings, settings_from_connection
from airflow_provider_pcinsights.report_ids import validate_report_id

if TYPE_CHECKING:
    import requests

    from airflow_provider_pcinsights.hooks._auth import TokenSource
    from airflow_provider_pcinsights.hooks._envelope import Envelope

log = logging.getLogger(__name__)

REPORTS_PATH = "ScheduledReport"
DEFAULT_MAX_PAGES = 1000


class PartnerCenterInsightsHook(BaseHook):
    """Sign in to Microsoft Entra ID and manage Partner Center Insights scheduled reports.

    :param conn_id: the ``pcinsights`` connection to use.
    :param connection: an already-fetched Airflow ``Connection``; the trigger passes
        one it looked up asynchronously, since a synchronous lookup inside the
        triggerer's event loop fails on Airflow 3.
    :param retries: retries of a call that failed with 429, 5xx, a dropped
        connection or a timeout. Only GET, PUT and DELETE are retried.
    :param backoff_factor: the k-th retry waits ``backoff_factor * 2 ** (k - 1)`` s
        (the first is immediate), capped at ``backoff_max``.
    :param backoff_max: the longest single backoff, in seconds.
    :param max_retry_after: the longest ``Retry-After`` honoured, in seconds. With
        ``backoff_max`` it bounds the sleeping of one call to
        ``retries * max(backoff_max, max_retry_after)`` seconds; the defaults give
        30 s against a dead service and at most 5 minutes against throttling.
    :param max_pages: how many ``nextLink`` pages one listing may follow before it
        is treated as a runaway and refused.
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
        if not isinstance(max_pages, int) or isinstance(max_pages, bool) or max_pages < 1:
            raise ValueError(f"max_pages must be a whole number >= 1, got {max_pages!r}")
        self.max_pages = max_pages
        self.store_rotated_refresh_token = bool(store_rotated_refresh_token)
        self._session_lock = threading.Lock()
        self._session: requests.Session | None = None

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

    def _http(self) -> requests.Session:
        with self._session_lock:
            if self._session is None:
                from airflow_provider_pcinsights.hooks._transport import API_RETRY_METHODS, new_session

                settings = self.settings
                self._session = new_session(
                    verify=settings.verify,
                    proxies=settings.proxies,
                    timeout=settings.timeout,
                    policy=self.retry_policy,
                    retry_methods=API_RETRY_METHODS,
                    user_agent=_user_agent(),
                )
            return self._session

    def close(self) -> None:
        """Release pooled connections; the hook opens a new session if used again."""
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    # ------------------------------------------------------------------ public API

    def get_token(self) -> str:
        """The bearer token, shared by every hook of this process with the same credential."""
        return self._token_source.token()

    def get_report(self, report_id: str) -> dict[str, Any]:
        report_id = validate_report_id(report_id)
        records = self.list_reports(report_id=report_id)
        matching = [r for r in records if str(r.get("ReportId", "")).lower() == report_id.lower()]
        if not matching and len(records) == 1 and "ReportId" not in records[0]:
            matching = records
        if not matching:
            raise ReportNotFoundError(
                f"Could not read report {report_id}: report {report_id} is unknown to this account "
                f"({self.settings.program} {self.settings.api_version})",
                status_code=404,
                report_id=report_id,
            )
        if len(matching) > 1:
            raise UnexpectedResponseError(
                f"Could not read report {report_id}: the service returned {len(matching)} reports "
                "with that id",
                report_id=report_id,
            )
        return matching[0]

    def list_reports(
        self, report_id: str | None = None, report_name: str | None = None, query_id: str | None = None
    ) -> list[dict[str, Any]]:
        params = {}
        if report_id is not None:
            params["reportId"] = validate_report_id(report_id)
        if report_name is not None:
            params["reportName"] = _nonempty_text(report_name, "report_name")
        if query_id is not None:
            params["queryId"] = _nonempty_text(query_id, "query_id")
        action = f"read report {report_id}" if report_id else "list reports"
        return self._get_all(REPORTS_PATH, params, action=action, report_id=report_id)

    def pause_report(self, report_id: str) -> dict[str, Any]:
        return self._report_action("pause", report_id)

    def resume_report(self, report_id: str) -> dict[str, Any]:
        return self._report_action("resume", report_id)

    def get_report_executions(
        self,
        report_id: str,
        execution_id: str | None = None,
        execution_status: str | None = None,
        get_latest_execution: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Execution records of a report; an empty list when it has none yet.

        The service answers 404 both for an unknown report and for a report with no
        execution matching the filters (by default: no completed run yet), so a 404
        is told apart by looking the report up.
        """
        report_id = validate_report_id(report_id)
        params: dict[str, str] = {}
        if execution_id is not None:
            params["executionId"] = validate_report_id(execution_id)
        if execution_status is not None:
            params["executionStatus"] = _nonempty_text(execution_status, "execution_status")
        if get_latest_execution is not None:
            params["getLatestExecution"] = "true" if get_latest_execution else "false"
        try:
            return self._get_all(
                f"{REPORTS_PATH}/execution/{report_id}",
                params,
                action=f"read the executions of report {report_id}",
                report_id=report_id,
                not_found_ok=False,
            )
        except ReportNotFoundError:
            self.get_report(report_id)  # raises if the report itself is unknown
            return []

    def test_connection(self) -> tuple[bool, str]:
        """Sign in and read one page of reports; say what went wrong rather than raise."""
        try:
            settings = self.settings
            self.get_token()
            envelope = self._request("GET", REPORTS_PATH, action="list reports", not_found_ok=True)
        except Exception as err:
            return False, _safe_text(err, self._known_secrets())
        count = len(envelope.records) if envelope is not None else 0
        return True, (
            f"Connected to Partner Center Insights ({settings.program} {settings.api_version}) as client "
            f"{settings.client_id} in tenant {settings.tenant_id}; "
            f"{count} scheduled report(s) on the first page"
        )

    # ------------------------------------------------------------------ internals

    def _report_action(self, verb: str, report_id: str) -> dict[str, Any]:
        report_id = validate_report_id(report_id)
        envelope = self._request(
            "PUT",
            f"{REPORTS_PATH}/{verb}/{report_id}",
            action=f"{verb} report {report_id}",
            report_id=report_id,
        )
        records = envelope.records if envelope is not None else []
        for record in records:
            if str(record.get("ReportId", "")).lower() == report_id.lower():
                return record
        if len(records) == 1 and "ReportId" not in records[0]:
            return records[0]
        log.info("The %s answer for report %s carried no record; reading it back", verb, report_id)
        return self.get_report(report_id)

    def _get_all(
        self,
        path: str,
        params: dict[str, str],
        *,
        action: str,
        report_id: str | None,
        not_found_ok: bool = True,
    ) -> list[dict[str, Any]]:
        """Every record of a listing, following ``nextLink`` on the API's own host only.

        With ``not_found_ok`` a 404 envelope ("No item found with given filters.")
        is an empty listing; otherwise it is a ``ReportNotFoundError``.
        """
        records: list[dict[str, Any]] = []
        url = urljoin(self.settings.base_url, path)
        seen: set[str] = set()
        pages = 0
        current_params: dict[str, str] | None = params
        while url:
            pages += 1
            if pages > self.max_pages:
                raise UnexpectedResponseError(
                    f"Could not {action}: the service kept returning nextLink after {self.max_pages} pages; "
                    "refusing to follow more (raise max_pages if this listing is really that long)",
                    report_id=report_id,
                )
            seen.add(url)
            envelope = self._request(
                "GET",
                url,
                params=current_params,
                action=action,
                report_id=report_id,
                not_found_ok=not_found_ok,
            )
            if envelope is None:  # a 404 envelope: nothing matches the filters
                break
            records.extend(envelope.records)
            next_url = self._next_url(url, envelope.next_link, action)
            if next_url is not None and next_url in seen:
                log.warning("nextLink of %s repeats a page already read; stopping there", action)
                next_url = None
            url, current_params = next_url, None
        return records

    def _next_url(self, current_url: str, next_link: str | None, action: str) -> str | None:
        if not next_link:
            return None
        base = self.settings.base_url
        # Absolute links stand alone; a relative one is read against the API root, where
        # the service's paths live, unless it is clearly relative to the host or the page.
        anchor = current_url if next_link.startswith(("/", "?")) else base
        resolved = urljoin(anchor, next_link)
        target, origin = urlsplit(resolved), urlsplit(base)
        if (target.scheme.lower(), target.netloc.lower()) != (origin.scheme.lower(), origin.netloc.lower()):
            raise UnexpectedResponseError(
                f"Could not {action}: nextLink points to {target.scheme}://{target.netloc}, not to "
                f"{origin.scheme}://{origin.netloc}; refusing to send the access token to another host"
            )
        return resolved

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        action: str,
        params: dict[str, str] | None = None,
        report_id: str | None = None,
        not_found_ok: bool = False,
    ) -> Envelope | None:
        """One API call, with one fresh sign-in on 401; ``None`` for a 404 envelope if ``not_found_ok``.

        Transient failures are retried below, by the session's adapter.
        """
        url = urljoin(self.settings.base_url, path_or_url)
        response, request_id = self._send(method, url, params, action)
        if response.status_code == 401:
            rejected = response.request.headers.get("Authorization", "")[len("Bearer ") :]
            log.info("Partner Center answered 401 to %s; signing in again and retrying once", action)
            self._token_source.invalidate(rejected)
            response, request_id = self._send(method, url, params, action)
        return self._interpret(
            response, request_id, action=action, report_id=report_id, not_found_ok=not_found_ok
        )

    def _send(
        self, method: str, url: str, params: dict[str, str] | None, action: str
    ) -> tuple[requests.Response, str]:
        from airflow_provider_pcinsights.hooks._errors import transport_error
        from airflow_provider_pcinsights.hooks._transport import BearerAuth

        token = self.get_token()
        request_id = str(uuid.uuid4())
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "MS-RequestId": request_id,
        }
        origin = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
        log.debug("%s %s (MS-RequestId %s)", method, url, request_id)
        try:
            response = self._http().request(
                method, url, params=params, headers=headers, auth=BearerAuth(token)
            )
        except OSError as err:  # TLS, the network, or the CA bundle named by ``verify``
            raise transport_error(
                err,
                doing=action,
                origin=origin,
                secrets=self._known_secrets(),
                retries=self.retry_policy.retries,
                request_id=request_id,
            ) from None
        return response, request_id

    def _interpret(
        self,
        response: requests.Response,
        request_id: str,
        *,
        action: str,
        report_id: str | None,
        not_found_ok: bool,
    ) -> Envelope | None:
        from airflow_provider_pcinsights.hooks._envelope import (
            NotAnEnvelope,
            error_message,
            parse_envelope,
        )
        from airflow_provider_pcinsights.hooks._errors import excerpt, redact

        status = response.status_code
        secrets = self._known_secrets()
        try:
            body: Any = response.json() if response.content else None
            is_json = True
        except ValueError:
            body, is_json = None, False

        if status >= 400:
            if status == 404 and not is_json:
                raise UnexpectedResponseError(
                    f"Could not {action}: {response.url.split('?')[0]} answered HTTP 404 with a "
                    "non-JSON body "
                    f"({redact(excerpt(response.text), secrets)!r}; MS-RequestId {request_id}). Check the "
                    "connection's host, program and api_version",
                    status_code=status,
                    report_id=report_id,
                )
            if status == 404 and not_found_ok and _means_no_match(error_message(body)):
                return None
            raise self._status_error(
                status,
                error_message(body),
                request_id,
                action,
                report_id,
                response,
                body_excerpt=None if is_json else excerpt(response.text),
            )

        if not is_json:
            raise UnexpectedResponseError(
                f"Could not {action}: HTTP {status} with a body that is not JSON "
                f"({redact(excerpt(response.text), secrets)!r}; MS-RequestId {request_id})",
                status_code=status,
                report_id=report_id,
            )
        if body is None:  # 200 or 204 with no body at all: nothing to report
            return parse_envelope({"value": []})
        try:
            envelope = parse_envelope(body)
        except NotAnEnvelope as err:
            raise UnexpectedResponseError(
                f"Could not {action}: HTTP {status} with JSON that is not the Insights envelope ({err}: "
                f"{redact(excerpt(response.text), secrets)!r}; MS-RequestId {request_id})",
                status_code=status,
                report_id=report_id,
            ) from None
        if envelope.status_code is not None and envelope.status_code >= 400:
            if envelope.status_code == 404 and not_found_ok and _means_no_match(envelope.message):
                return None
            raise self._status_error(
                envelope.status_code, envelope.message, request_id, action, report_id, response
            )
        return envelope

    def _status_error(
        self,
        status: int,
        api_message: str | None,
        request_id: str,
        action: str,
        report_id: str | None,
        response: requests.Response,
        body_excerpt: str | None = None,
    ) -> PartnerCenterInsightsError:
        from airflow_provider_pcinsights.hooks._errors import error_for_status

        retry_after = None
        if status == 429:
            try:
                retry_after = float(response.headers.get("Retry-After", ""))
            except ValueError:
                retry_after = None
        return error_for_status(
            status,
            action=action,
            api_message=api_message,
            request_id=request_id,
            report_id=report_id,
            program=self.settings.program,
            client_id=self.settings.client_id,
            tenant_id=self.settings.tenant_id,
            retry_after=retry_after,
            body_excerpt=body_excerpt,
            secrets=self._known_secrets(),
        )

    def _known_secrets(self) -> tuple[str, ...]:
        try:
            return self.settings.secrets
        except Exception:
            return ()


def _means_no_match(api_message: str | None) -> bool:
    """Whether a 404 says "nothing matches your filters" rather than "no such path".

    The service documents ``No item found with given filters.`` for an empty
    match; any other 404 (a wrong version or program in the path) must not pass
    for an empty listing.
    """
    return api_message is None or "no item" in api_message.lower()


def _nonempty_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _safe_text(err: BaseException, secrets: tuple[str, ...]) -> str:
    text = str(err) or type(err).__name__
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    if isinstance(err, AuthenticationError | PartnerCenterInsightsError | ValueError):
        return text
    return f"{type(err).__name__}: {text}"


def _user_agent() -> str:
    from airflow import __version__ as airflow_version

    return f"airflow-provider-pcinsights/{__version__} (Apache Airflow {airflow_version})"
