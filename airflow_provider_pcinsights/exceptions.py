"""Typed errors, so DAG authors can catch what they can act on.

Every error carries the HTTP status (``status_code``) and the service's own
``message`` (``api_message``) where there was one, and never a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

_HIDDEN = "***"
_EXCERPT_LENGTH = 200
# What a credential looks like inside text the service, a proxy, a storage host or MSAL sent back.
_CREDENTIAL_PATTERNS = (
    # "Authorization: Bearer <token>" and friends, also URL-encoded.
    (re.compile(r"(?i)\b(bearer|basic)(\s+|%20|\+)[A-Za-z0-9\-._~+/]+=*"), rf"\1\2{_HIDDEN}"),
    # Anything shaped like a JWT: base64url header (always '{"' -> 'eyJ'), payload and signature.
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), _HIDDEN),
    # Entra refresh tokens ("0.AXYA...", long).
    (re.compile(r"\b\d\.[A-Za-z][A-Za-z0-9_\-.]{30,}"), _HIDDEN),
    # The signature of a pre-signed storage link (its whole credential), as sent or decoded.
    (re.compile(r"(?i)\bsig=[^&\s\"'<]+"), _HIDDEN),
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
    """``text`` without the known secrets nor anything that looks like a credential.

    The one redaction of the package: every message, log line and MSAL log record that may quote
    what a service or a proxy sent back passes through it.
    """
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, _HIDDEN)
    for pattern, replacement in _CREDENTIAL_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def excerpt(body: str) -> str:
    """A short, single-line piece of a body, enough to recognise an HTML error page."""
    flat = " ".join(body.split())
    return flat if len(flat) <= _EXCERPT_LENGTH else flat[:_EXCERPT_LENGTH] + "..."


class PartnerCenterInsightsError(AirflowException):
    """Base of every error this provider raises about the service."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        api_message: str | None = None,
        report_id: str | None = None,
    ) -> None:
        super().__init__(message)
        # Airflow's exceptions declare an ``HTTPStatus`` here for its API; ours is the service's status.
        self.status_code = status_code  # type: ignore[assignment]
        self.api_message = api_message
        self.report_id = report_id


class ReportNotFoundError(PartnerCenterInsightsError):
    """The report id is unknown to this account (HTTP 404)."""

    @classmethod
    def unknown(cls, report_id: str, where: str = "") -> ReportNotFoundError:
        """A report the account's answer did not include: what ``get_report`` raises, and what an id
        ``get_reports`` leaves out means to a task (``where`` names the program, and what was answered)."""
        return cls(
            f"Could not read report {report_id}: report {report_id} is unknown to this account"
            + (f" ({where})" if where else ""),
            status_code=200,
            report_id=report_id,
        )


class BadRequestError(PartnerCenterInsightsError):
    """The service refused the request's parameters (HTTP 400 and other 4xx)."""


class AuthenticationError(PartnerCenterInsightsError):
    """Sign-in failed, or the service rejected the token even after renewing it."""


class PermissionDeniedError(PartnerCenterInsightsError):
    """Signed in, but the app or user lacks the Partner Center role (HTTP 403)."""


class ThrottledError(PartnerCenterInsightsError):
    """The service still answered 429 after every retry."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailableError(PartnerCenterInsightsError):
    """5xx answers, dropped connections or timeouts outlived the retries."""


class UnexpectedResponseError(PartnerCenterInsightsError):
    """The answer was not the JSON envelope the service documents."""


class UnreadableStatusError(UnexpectedResponseError):
    """A record came back without a status, or with one the docs do not name.

    Waiting for such a report could never end, and acting on it would be a guess.
    """


class PagingLoopError(UnexpectedResponseError):
    """``nextLink`` led back to a page already read, or pages repeated records.

    Following it would loop or return duplicates; stopping quietly would return
    a partial listing as if it were whole.
    """


class NetworkSetupError(PartnerCenterInsightsError):
    """A failure retrying cannot mend: the host name does not resolve, TLS
    verification failed, or the proxy refused. The message names the host and
    the connection setting to check.
    """


class ReportFileError(PartnerCenterInsightsError):
    """A report's file could not be had: no completed execution, a link refused even after a
    fresh one, or a file that arrived cut short. The message says which, and never the link's
    signature."""


class ReportInactiveError(PartnerCenterInsightsError):
    """The report is ``Inactive`` (its recurrences are used up), so it cannot be resumed."""


class ReportStatusFailedError(PartnerCenterInsightsError, AirflowFailException):
    """A report the sensor waits for reached a failure status (by default ``Inactive``).

    It is an ``AirflowFailException`` too, so Airflow fails the task without
    retrying: asking again cannot change a status such as ``Inactive``.
    """


class ReportActionError(PartnerCenterInsightsError):
    """Some reports of a list failed; the others were still handled.

    ``failures`` maps each failed id to its error; ``records`` holds the records
    of the reports that succeeded, by id, so nothing done is left unsaid.
    """

    def __init__(
        self,
        message: str,
        *,
        failures: Mapping[str, BaseException],
        records: Mapping[str, dict[str, Any]],
    ) -> None:
        super().__init__(message)
        self.failures = dict(failures)
        self.records = dict(records)


def reason(exc: BaseException) -> str:
    """What went wrong, for a message: this package's errors as they are, others with their type."""
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, PartnerCenterInsightsError) else f"{type(exc).__name__}: {text}"


def with_message(exc: BaseException, message: str, report_id: str | None = None) -> BaseException:
    """The same kind of error with a fuller message, so callers can still catch it by type.

    Keeps ``status_code``, ``api_message`` and ``report_id``; an error this module does not
    define becomes a ``PartnerCenterInsightsError``. (``ReportActionError``, the one class with
    another signature, is raised by the operators after every call, never passed here.)
    """
    if isinstance(exc, PartnerCenterInsightsError):
        return type(exc)(
            message,
            status_code=exc.status_code,
            api_message=exc.api_message,
            report_id=exc.report_id or report_id,
        )
    return PartnerCenterInsightsError(message, report_id=report_id)


class PauseRolledBackError(PartnerCenterInsightsError):
    """A pause failed on its last try, and resumed the reports it had paused before failing.

    A failed setup gets no teardown, so the pause gives back what it took itself.
    ``rolled_back`` lists the ids resumed again; ``not_rolled_back`` maps each id it
    could not resume to the error (those may still be ``Paused``: the message says to
    resume them by hand). The original failure is the ``__cause__``.
    """

    rolled_back: list[str]
    not_rolled_back: dict[str, BaseException]

    @classmethod
    def after(
        cls,
        failure: BaseException,
        *,
        rolled_back: list[str],
        not_rolled_back: Mapping[str, BaseException],
        still_held: Mapping[str, list[str]] | None = None,
    ) -> PauseRolledBackError:
        lines = [
            reason(failure),
            "This was the task's last try, and a failed setup gets no teardown, so it resumed the "
            "reports it had paused.",
            f"Rolled back (Active again): {', '.join(rolled_back) if rolled_back else 'none'}",
        ]
        if still_held:
            lines.append("Released, but still Paused under another task's hold:")
            lines += [f"- {rid}: held by {', '.join(holders)}" for rid, holders in still_held.items()]
        if not_rolled_back:
            lines.append("Could not roll back (may still be Paused; resume them by hand):")
            lines += [f"- {rid}: {error}" for rid, error in not_rolled_back.items()]
        error = cls(
            "\n".join(lines),
            status_code=getattr(failure, "status_code", None),
            api_message=getattr(failure, "api_message", None),
        )
        error.rolled_back, error.not_rolled_back = list(rolled_back), dict(not_rolled_back)
        return error


class ConnectionConfigError(PartnerCenterInsightsError, ValueError):
    """A connection field is missing or invalid; raised before anything is sent.

    It is a ``ValueError`` too, so code that checks input the usual way catches it.
    """
