"""What the hook is configured with, validated: the connection's fields as one immutable settings
object, and the hook's retry policy.

Everything a user can get wrong in a connection is caught here, with the field
named, before a single byte is sent: a typo in ``program`` should not surface
as a puzzling 404 from Microsoft ten minutes into a DAG run. Standard library
only: the hook builds both when it is created, before ``requests`` is imported.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_pcinsights import connection_fields as fields
from airflow_provider_pcinsights.exceptions import ConnectionConfigError

log = logging.getLogger(__name__)

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class InsightsSettings:
    """What the hook needs from a connection, checked and with defaults applied.

    Secret fields are left out of ``repr`` so that a settings object printed in a
    log or a traceback gives nothing away.
    """

    client_id: str
    tenant_id: str
    program: str
    api_version: str
    host: str
    auth_type: str
    authority_host: str
    scope: str
    verify: bool | str
    proxies: Mapping[str, str] | None
    timeout: float
    certificate_path: str | None = None
    client_assertion_file: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    conn_id: str | None = None

    @property
    def base_url(self) -> str:
        """Root of every API path, ending with a slash so relative paths join under it."""
        return f"{self.host}/insights/{self.api_version}/{self.program}/"

    @property
    def credential_kind(self) -> str:
        """Which client credential signs in: named in messages, never the value itself."""
        if self.certificate_path:
            return "certificate"
        if self.client_assertion_file:
            return "client assertion file"
        return "client secret"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line or an error message."""
        return tuple(s for s in (self.client_secret, self.refresh_token) if s)


def settings_from_connection(conn: Any) -> InsightsSettings:
    """Read an Airflow ``Connection`` (or anything shaped like one) into settings.

    Each text field is checked as ``connection_fields.FIELDS`` describes it (required, its
    choices, its pattern), then what only holds between fields.
    """
    given = {name: getattr(conn, name, None) for name in ("login", "password", "host")}
    given.update(_read_extras(conn))
    text = {f.name: _checked(f, given.get(f.name), conn) for f in fields.FIELDS if f.json_type == "string"}
    program, auth_type = text["program"], text["auth_type"]
    if auth_type == "refresh_token" and not text["refresh_token"]:
        raise ConnectionConfigError(
            f"Connection {_conn_id(conn)!r}: extra refresh_token is required when auth_type is "
            "refresh_token (App+User sign-in)"
        )
    given_credentials = [name for name in ("password", *_CREDENTIAL_FILES) if text[name]]
    if not given_credentials:
        raise ConnectionConfigError(
            f"Connection {_conn_id(conn)!r}: a client credential is required: set the password "
            "(client secret), or extra certificate_path, or extra client_assertion_file"
        )
    if len(given_credentials) > 1:
        raise ConnectionConfigError(
            f"Connection {_conn_id(conn)!r}: give only one client credential, "
            f"got {' and '.join(given_credentials)}"
        )
    for name in _CREDENTIAL_FILES:
        path = text[name]
        if path and not os.path.isfile(path):
            raise ConnectionConfigError(f"Connection {_conn_id(conn)!r}: extra {name} {path!r} is not a file")

    if program == "mpn" and auth_type == "client_credentials":
        # Accepted (the emulator and the interface's defaults allow it), but the real service refuses it.
        warn_once(
            _conn_id(conn),
            "app-only mpn",
            "Connection %r uses program mpn with app-only sign-in (auth_type client_credentials); the real "
            "Partner Center service answers mpn calls only with App+User sign-in. Set auth_type "
            "refresh_token and mint a refresh token with: python -m airflow_provider_pcinsights.signin "
            "--conn-id %s",
            _conn_id(conn),
            _conn_id(conn),
        )

    return InsightsSettings(
        conn_id=getattr(conn, "conn_id", None),
        client_id=text["login"],
        tenant_id=text["tenant_id"],
        program=program,
        api_version=text["api_version"] or fields.DEFAULT_API_VERSIONS[program],
        host=_host(text["host"], conn),
        auth_type=auth_type,
        authority_host=_https_root(text["authority_host"], "extra authority_host", conn),
        scope=text["scope"],
        verify=_verify(text["verify"], conn),
        proxies=_proxies(given.get("proxies"), conn),
        timeout=_timeout(given.get("timeout", fields.DEFAULT_TIMEOUT), conn),
        certificate_path=text["certificate_path"],
        client_assertion_file=text["client_assertion_file"],
        client_secret=text["password"],
        refresh_token=text["refresh_token"],
    )


_CREDENTIAL_FILES = ("certificate_path", "client_assertion_file")


def _checked(f: fields.ConnectionField, value: Any, conn: Any) -> Any:
    """One text field, stripped (``None`` when empty), defaulted, and checked as ``f`` describes it."""
    text = "" if value is None else str(value).strip()
    if not text and f.default is not None:
        text = str(f.default)
    named = f"extra {f.name}" if f.extra else f"{f.name} ({f.label})"
    if not text:
        if f.required:
            raise ConnectionConfigError(f"Connection {_conn_id(conn)!r}: {named} is required")
        return None
    if f.choices:
        text = text.lower()
        if text not in f.choices:
            raise ConnectionConfigError(
                f"Connection {_conn_id(conn)!r}: {named} must be one of {', '.join(f.choices)}, got {text!r}"
            )
    if f.pattern and not re.fullmatch(f.pattern, text):
        article = "an" if f.label[0] in "AEIOU" else "a"
        raise ConnectionConfigError(
            f"Connection {_conn_id(conn)!r}: {named} {text!r} is not {article} {f.label}. {f.help_text}"
        )
    return text


def _conn_id(conn: Any) -> str:
    return str(getattr(conn, "conn_id", None) or "<unnamed>")


def _read_extras(conn: Any) -> dict[str, Any]:
    """Extras with or without the legacy ``extra__pcinsights__`` prefix; the plain name wins."""
    # Airflow's ``extra_dejson`` logs a malformed extra and answers ``{}``, which would surface as
    # "tenant_id is required" instead of the real mistake; so the text is checked first. The
    # message quotes the parser's position, never the text (it may hold a secret).
    text = getattr(conn, "extra", None)
    if isinstance(text, str) and text.strip():
        try:
            json.loads(text)
        except ValueError as err:
            raise ConnectionConfigError(
                f"Connection {_conn_id(conn)!r}: extra is not valid JSON ({err}); it must be a JSON object "
                'such as {"tenant_id": "contoso.onmicrosoft.com"}'
            ) from None
    raw = getattr(conn, "extra_dejson", None) or {}
    if not isinstance(raw, Mapping):
        raise ConnectionConfigError(f"Connection {_conn_id(conn)!r}: extra must be a JSON object")
    # An extra nobody reads must not pass silently: ``programme`` would otherwise run against ``mpn``.
    unknown = sorted({str(key).removeprefix(fields.LEGACY_EXTRA_PREFIX) for key in raw} - fields.KNOWN_EXTRAS)
    if unknown:
        hints = []
        for name in unknown:
            nearest = fields.nearest_field(name)
            hints.append(f"{name!r} (did you mean {nearest!r}?)" if nearest else repr(name))
        raise ConnectionConfigError(
            f"Connection {_conn_id(conn)!r}: unknown extra {', '.join(hints)}; "
            f"the known extras are {', '.join(sorted(fields.KNOWN_EXTRAS))}"
        )
    return plain_extras(raw)


def plain_extras(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Extras under their plain names, whether stored with the legacy ``extra__pcinsights__`` prefix
    or without; empty values left out. Airflow 2's form may store an empty prefixed value beside a
    real plain one, or the reverse: the plain name wins unless it is empty."""
    merged: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).removeprefix(fields.LEGACY_EXTRA_PREFIX)
        if value is not None and value != "" and (name not in merged or key == name):
            merged[name] = value
    return merged


@functools.cache
def warn_once(conn_id: str, reason: str, message: str, *args: object) -> None:
    """Log a warning about a connection once per process: a task calls the hook many times."""
    log.warning(message, *args)


def _host(host: str, conn: Any) -> str:
    if "://" not in host:
        port = getattr(conn, "port", None)
        host = f"https://{host}{f':{port}' if port else ''}"
    return _https_root(host, "host", conn)


def _https_root(url: str, name: str, conn: Any) -> str:
    """An https origin without a trailing slash; tokens must never travel in clear text."""
    parts = urlsplit(url.rstrip("/"))
    if parts.scheme.lower() != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ConnectionConfigError(
            f"Connection {_conn_id(conn)!r}: {name} must be an https URL without a query, such as "
            f"'https://example.com', got {url!r}"
        )
    return f"https://{parts.netloc}{parts.path}"


def _verify(text: str, conn: Any) -> bool | str:
    """``text`` as ``_checked`` leaves it: stripped, ``"true"`` when not given, ``"True"`` for a JSON true."""
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    if not os.path.exists(text):
        raise ConnectionConfigError(
            f"Connection {_conn_id(conn)!r}: extra verify must be true, false or the path of a CA bundle; "
            f"{text!r} does not exist"
        )
    return text


def _proxies(value: Any, conn: Any) -> Mapping[str, str] | None:
    if value is None or value == {}:  # empty text never gets here: plain_extras leaves it out
        return None
    try:
        value = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        value = None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConnectionConfigError(
            f"Connection {_conn_id(conn)!r}: extra proxies must map schemes to proxy URLs in a JSON object, "
            'such as {"https": "http://proxy:3128"}'
        )
    return dict(value)


def _timeout(value: Any, conn: Any) -> float:
    try:
        seconds = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):  # NaN is not > 0
        raise ConnectionConfigError(
            f"Connection {_conn_id(conn)!r}: extra timeout must be a number of seconds more than 0, "
            f"got {value!r}"
        )
    return seconds


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up on a transient failure.

    The wait is bounded, and never zero: the k-th retry waits
    ``backoff_factor * 2 ** (k - 1)`` seconds capped at ``backoff_max`` (the
    first included: Microsoft asks clients to "avoid retrying immediately", so a
    429 without ``Retry-After`` still waits), unless the service sent
    ``Retry-After``, which is honoured but capped at ``max_retry_after``. So all
    the sleeping one call can do is at most ``retries * max(backoff_max,
    max_retry_after)`` seconds, plus ``retries + 1`` attempts each bounded by
    the connection's timeout (connect, each read, and the whole body). With the
    defaults (5 retries, factor 1 s, 30 s and 60 s caps) that is
    1 + 2 + 4 + 8 + 16 = 31 s of backoff for a dead service, and at most
    5 minutes when it keeps asking to wait a minute. Failures retrying cannot
    mend (a host name that does not resolve, TLS verification, a refusing
    proxy) are not retried at all.
    """

    retries: int = 5
    backoff_factor: float = 1.0
    backoff_max: float = 30.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        whole_number(self.retries, "retries", minimum=0)
        for name in ("backoff_factor", "backoff_max", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")


def whole_number(value: Any, name: str, *, minimum: int) -> int:
    """``value`` if it is a whole number (not a bool) of at least ``minimum``, else ``ValueError``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value
