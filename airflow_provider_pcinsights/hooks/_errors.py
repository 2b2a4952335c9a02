"""Turn an HTTP failure into the typed error a DAG author can act on.

Every message names what was attempted, the HTTP status, the service's own
message and the ``MS-RequestId`` to quote to Microsoft support, and passes
through ``redact`` so no secret can slip into it: a misbehaving service or
proxy may echo the request's headers back, bearer token and all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    BadRequestError,
    NetworkSetupError,
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
APP_PLUS_USER_HINT = (
    "set the connection's auth_type to refresh_token, with the refresh token of a user who passed "
    "multi-factor sign-in (interactive or device code: python -m airflow_provider_pcinsights.signin)"
)

_EXCERPT_LENGTH = 200
_HIDDEN = "***"
# What a credential looks like inside text the service or a proxy sent back.
_CREDENTIAL_PATTERNS = (
    # "Authorization: Bearer <token>" and friends, also URL-encoded.
    (re.compile(r"(?i)\b(bearer|basic)(\s+|%20|\+)[A-Za-z0-9\-._~+/]+=*"), rf"\1\2{_HIDDEN}"),
    # Anything shaped like a JWT: base64url header (always '{"' -> 'eyJ'), payload and signature.
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), _HIDDEN),
    # Entra refresh tokens ("0.AXYA...", long).
    (re.compile(r"\b\d\.[A-Za-z][A-Za-z0-9_\-.]{30,}"), _HIDDEN),
    # A named credential in a form, a query or JSON: client_secret=..., "refresh_token": "...".
    (
        re.compile(
            r"(?i)\b(client_secret|refresh_token|access_token|id_token|client_assertion|password)"
            r"([\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]+"
        ),
        rf"\1\2{_HIDDEN}",
    ),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the known secrets nor anything that looks like a credential."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, _HIDDEN)
    for pattern, replacement in _CREDENTIAL_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def excerpt(body: str) -> str:
    """A short, single-line piece of a body, enough to recognise an HTML error page."""
    flat = " ".join(body.split())
    return flat if len(flat) <= _EXCERPT_LENGTH else flat[:_EXCERPT_LENGTH] + "..."


def transport_error(
    err: OSError,
    *,
    doing: str,
    origin: str,
    secrets: Iterable[str],
    retries: int | str = "every",
    request_id: str | None = None,
    config_error: type[PartnerCenterInsightsError] = NetworkSetupError,
    host_setting: str | None = None,
) -> PartnerCenterInsightsError:
    """A failure below HTTP, for the sign-in and the API alike.

    What retrying cannot mend (the host name does not resolve, TLS verification
    failed, the proxy refused) was not retried and names the host and the
    connection setting to check, as ``config_error``; anything else the network
    did, once the retries are spent, is the service being unavailable.
    ``host_setting`` names the setting that gave the host (default: ``authority_host``
    for the sign-in, ``host`` otherwise).
    """
    import requests

    from airflow_provider_pcinsights.hooks._transport import classify_failure, proxy_of

    reason = redact(str(err), secrets)
    host = urlsplit(origin).hostname or origin
    check_verify = "check the connection's verify setting (true, false or a CA bundle path)"
    kind = classify_failure(err)
    if kind == "name_resolution":
        setting = host_setting or ("authority_host" if doing.startswith("sign in") else "host")
        return config_error(
            f"Could not {doing}: the host name {host} does not resolve ({reason}); check the "
            f"connection's {setting} setting (not retried: asking again cannot make it resolve)"
        )
    if kind == "proxy":
        proxy = proxy_of(err)
        return config_error(
            f"Could not {doing}: the proxy{f' {proxy}' if proxy else ''} refused to connect to {host} "
            f"({reason}); check the connection's proxies setting (not retried)"
        )
    if kind == "tls_verification" or isinstance(err, requests.exceptions.SSLError):
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


def _suffix(
    status: int | None,
    api_message: str | None,
    request_id: str | None,
    body_excerpt: str | None = None,
    service_code: str | None = None,
) -> str:
    parts = []
    if status is not None:
        parts.append(f"HTTP {status}")
    if api_message:
        code = f" (code {service_code})" if service_code and service_code not in api_message else ""
        parts.append(f"service said: {api_message}{code}")
    elif body_excerpt:
        parts.append(f"body: {body_excerpt!r}")
    if request_id:
        parts.append(f"MS-RequestId {request_id}")
    return f" ({'; '.join(parts)})" if parts else ""


_MFA = re.compile(r"(?i)\bMFA\b|multi-?factor|\(10001\)")


def asks_for_mfa(api_message: str | None) -> bool:
    """Whether the service says the token lacks multi-factor sign-in (``MFA required. (10001)``)."""
    return bool(api_message and _MFA.search(api_message))


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
    auth_type: str | None = None,
    retry_after: float | None = None,
    body_excerpt: str | None = None,
    service_code: str | None = None,
    secrets: Iterable[str] = (),
) -> PartnerCenterInsightsError:
    """The typed error for a failed answer; ``action`` says what was attempted, e.g. 'pause report X'."""
    secrets = tuple(secrets)
    if api_message:
        api_message = redact(api_message, secrets)
    if body_excerpt:
        body_excerpt = redact(body_excerpt, secrets)
    detail = _suffix(status, api_message, request_id, body_excerpt, service_code)
    # The service's words, always: its message, or for a body that is not JSON, a piece of it.
    kwargs = {"status_code": status, "api_message": api_message or body_excerpt, "report_id": report_id}
    app_only_on_mpn = program == "mpn" and auth_type == "client_credentials"
    if status == 404 and report_id:
        return ReportNotFoundError(
            f"Could not {action}: report {report_id} is unknown to this account{detail}", **kwargs
        )
    if status == 404:
        return BadRequestError(
            f"Could not {action}: not found{detail}. Check the connection's host, program and api_version",
            **kwargs,
        )
    if status == 401 and asks_for_mfa(api_message):
        return AuthenticationError(
            f"Could not {action}: Partner Center requires multi-factor authentication for this call"
            f"{detail}. It needs an App+User token from a sign-in that passed MFA: {APP_PLUS_USER_HINT}",
            **kwargs,
        )
    if status in (401, 403) and app_only_on_mpn:
        return (AuthenticationError if status == 401 else PermissionDeniedError)(
            f"Could not {action}: Partner Center refused the app-only token{detail}. The mpn program "
            f"(Partner Center insights) needs App+User sign-in: {APP_PLUS_USER_HINT}. Commercial "
            "marketplace analytics (program cmp) take app-only tokens",
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
