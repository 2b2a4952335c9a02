"""Turn an HTTP failure into the typed error a DAG author can act on.

Every message names what was attempted, the HTTP status, the service's own
message and the ``MS-RequestId`` to quote to Microsoft support, and passes
through ``redact`` so no secret can slip into it.
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    BadRequestError,
    PartnerCenterInsightsError,
    PermissionDeniedError,
    ReportNotFoundError,
    ServiceUnavailableError,
    ThrottledError,
)

ROLE_HINTS = {
    "cmp": "the Entra app must be added to the Partner Center account with the Manager role",
    "mpn": "the signed-in user needs the Executive Report Viewer role in Partner Center",
}

_EXCERPT_LENGTH = 200


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def transport_error(
    err: OSError,
    *,
    doing: str,
    origin: str,
    secrets: Iterable[str],
    retries: int | str = "every",
    request_id: str | None = None,
    config_error: type[PartnerCenterInsightsError] = PartnerCenterInsightsError,
) -> PartnerCenterInsightsError:
    """A failure below HTTP, for the sign-in and the API alike.

    A TLS failure or an unreadable CA bundle is the connection's ``verify``
    setting to fix (``config_error``); anything else the network did, once the
    retries are spent, is the service being unavailable.
    """
    import requests

    reason = redact(str(err), secrets)
    check_verify = "check the connection's verify setting (true, false or a CA bundle path)"
    if isinstance(err, requests.exceptions.SSLError):
        return config_error(
            f"Could not {doing}: TLS verification of {origin} failed ({reason}); {check_verify}"
        )
    if isinstance(err, requests.exceptions.RequestException):
        quote = f"; MS-RequestId {request_id}" if request_id else ""
        return ServiceUnavailableError(
            f"Could not {doing}: {origin} did not answer after {retries} retries "
            f"({type(err).__name__}: {reason}{quote})"
        )
    return config_error(f"Could not {doing}: {reason}; {check_verify}")  # e.g. the CA bundle is gone


def excerpt(body: str) -> str:
    """A short, single-line piece of a body, enough to recognise an HTML error page."""
    flat = " ".join(body.split())
    return flat if len(flat) <= _EXCERPT_LENGTH else flat[:_EXCERPT_LENGTH] + "..."


def _suffix(
    status: int | None, api_message: str | None, request_id: str | None, body_excerpt: str | None = None
) -> str:
    parts = []
    if status is not None:
        parts.append(f"HTTP {status}")
    if api_message:
        parts.append(f"service said: {api_message}")
    elif body_excerpt:
        parts.append(f"body: {body_excerpt!r}")
    if request_id:
        parts.append(f"MS-RequestId {request_id}")
    return f" ({'; '.join(parts)})" if parts else ""


def error_for_status(
    status: int,
    *,
    action: str,
    api_message: str | None,
    request_id: str | None,
    report_id: str | None,
    program: str,
    client_id: str,
    tenant_id: str,
    retry_after: float | None = None,
    body_excerpt: str | None = None,
    secrets: Iterable[str] = (),
) -> PartnerCenterInsightsError:
    """The typed error for a failed answer; ``action`` says what was attempted, e.g. 'pause report X'."""
    secrets = tuple(secrets)
    if api_message:
        api_message = redact(api_message, secrets)
    if body_excerpt:
        body_excerpt = redact(body_excerpt, secrets)
    detail = _suffix(status, api_message, request_id, body_excerpt)
    kwargs = {"status_code": status, "api_message": api_message, "report_id": report_id}
    if status == 404 and report_id:
        return ReportNotFoundError(
            f"Could not {action}: report {report_id} is unknown to this account{detail}", **kwargs
        )
    if status == 404:
        return BadRequestError(
            f"Could not {action}: not found{detail}. Check the connection's host, program and api_version",
            **kwargs,
        )
    if status == 401:
        return AuthenticationError(
            f"Could not {action}: Partner Center rejected the access token even after signing in again"
            f"{detail}. Check the tenant id ({tenant_id}), the client id ({client_id}), the client secret "
            "or certificate, and for App+User sign-in the refresh token",
            **kwargs,
        )
    if status == 403:
        return PermissionDeniedError(
            f"Could not {action}: permission denied{detail}. For the {program} program "
            f"{ROLE_HINTS.get(program, ROLE_HINTS['mpn'])} (client id {client_id})",
            **kwargs,
        )
    if status == 429:
        wait = f"; the service asked to wait {retry_after:g} s" if retry_after is not None else ""
        return ThrottledError(
            f"Could not {action}: still throttled after every retry{detail}{wait}",
            retry_after=retry_after,
            **kwargs,
        )
    if status >= 500:
        return ServiceUnavailableError(
            f"Could not {action}: Partner Center failed after every retry{detail}", **kwargs
        )
    return BadRequestError(f"Could not {action}: Partner Center refused the request{detail}", **kwargs)
