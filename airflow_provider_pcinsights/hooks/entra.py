"""Entra ID sign-in with MSAL: one ``ConfidentialClientApplication`` per credential and process, what a
failed sign-in means, and the opt-in write-back of the refresh tokens Entra rotates.

Every hook instance in a process that uses the same credential shares one MSAL
application, and MSAL's own token cache serves its tokens and renews them
before they expire: a DAG run with a hundred tasks should sign in once an hour,
not a hundred times. Own code is kept for what MSAL does not do: noticing the
refresh token Entra rotates (to keep it and, if asked, store it), and turning
Entra's refusals into a cause and a fix (Entra answers with an ``AADSTS`` code and a
paragraph that ends in trace and correlation ids; a person at a failed task needs
the likely cause, the fix, and the correlation id once). Shared by the hook and the
sign-in helper. Imported lazily by the hook (it needs ``msal``, ``requests`` and
``cryptography``).

Storing a rotated refresh token is done only where that is safe: a connection row in
Airflow's metadata database, written by a task of Airflow 2 (whose tasks reach the
database), replacing exactly the token this process read (another process may have
stored a newer one; Entra does not revoke a token when it hands out the next, so either
is fine). Airflow 3's tasks cannot write connections at all, and a connection from an
environment variable or a secrets backend is not the provider's to change: there the
newest token stays in memory, and the sign-in helper renews the stored one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from importlib.metadata import version
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import urlsplit

import msal
from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    ConnectionConfigError,
    PartnerCenterInsightsError,
    ServiceUnavailableError,
    ThrottledError,
    excerpt,
    redact,
)
from airflow_provider_pcinsights.hooks.answers import origin, retry_after_seconds
from airflow_provider_pcinsights.hooks.connection import InsightsSettings, RetryPolicy, warn_once
from airflow_provider_pcinsights.hooks.http import (
    SIGN_IN_RETRY_METHODS,
    PinnedSession,
    failure_chain,
    new_session,
    transport_error,
)

log = logging.getLogger(__name__)

# MSAL's reserved scopes: it adds them itself and refuses them from callers.
_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
_T = TypeVar("_T")


def credential_key(settings: InsightsSettings) -> str:
    """What makes two connections share a token: every setting but the connection's name and the API
    it calls (same app, same credential, same audience, same TLS and proxies, which the MSAL app signs
    in through), and the certificate file's content. A SHA-256 fingerprint: no secret is kept in it.
    """
    shared = dataclasses.replace(settings, conn_id=None, program="", api_version="", host="")
    certificate = (
        _file_bytes(settings.certificate_path, "certificate_path") if settings.certificate_path else b""
    )
    return hashlib.sha256(repr(dataclasses.astuple(shared)).encode() + certificate).hexdigest()


def _file_bytes(path: str, field_name: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise ConnectionConfigError(f"extra {field_name} {path!r} cannot be read: {err.strerror}") from None


def certificate_credential(path: str) -> dict[str, str]:
    """What MSAL needs from a PEM holding the private key and the certificate, in any order.

    ``cryptography`` finds each block itself. The key is handed over as
    unencrypted PKCS#8 and the certificate too, so MSAL sends ``x5c`` and (from
    1.35) computes the SHA-256 thumbprint; older MSAL needs the SHA-1 thumbprint.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    data = _file_bytes(path, "certificate_path")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ConnectionConfigError(
            f"extra certificate_path {path!r}: the private key is encrypted; give an unencrypted PEM"
        ) from None
    except ValueError:
        key = None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        certificates = []
    if key is None or not certificates:
        missing = [name for name, found in (("private key", key), ("certificate", certificates)) if not found]
        raise ConnectionConfigError(
            f"extra certificate_path {path!r}: the PEM file has no {' and no '.join(missing)}; it needs both"
        )

    # The certificate registered on the app is the one for this key (a chain may follow it).
    def spki(owner: Any) -> bytes:
        der, info = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        return bytes(owner.public_key().public_bytes(der, info))

    certificate = next((c for c in certificates if spki(c) == spki(key)), None)
    if certificate is None:
        raise ConnectionConfigError(
            f"extra certificate_path {path!r}: no certificate in the PEM file matches its private key"
        )
    credential = {
        "private_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }
    if tuple(int(n) for n in re.findall(r"\d+", msal.__version__)[:2]) < (1, 35):  # old MSAL wants SHA-1
        credential["thumbprint"] = certificate.fingerprint(hashes.SHA1()).hex()
    return credential


def client_credential(settings: InsightsSettings) -> Any:
    """What MSAL signs in with; an assertion file is a callable MSAL calls at every sign-in, since
    workload identity rotates the file under us."""
    path = settings.client_assertion_file
    if settings.certificate_path:
        return certificate_credential(settings.certificate_path)
    if not path:
        return settings.client_secret

    def read_assertion() -> str:
        assertion = _file_bytes(path, "client_assertion_file").decode().strip()
        if not assertion:
            raise ConnectionConfigError(f"extra client_assertion_file {path!r} is empty")
        return assertion

    return {"client_assertion": read_assertion}


class EntraHttpFailure(Exception):
    """An answer from Entra that is not an OAuth answer: throttling, a server failure, a redirect, an
    HTML page. Raised from the session's response hook, after the retries, so that MSAL never tries
    to read it as JSON and ``SignInError`` can say what really happened."""

    def __init__(self, response: Any) -> None:
        super().__init__(f"HTTP {response.status_code} from {response.url.split('?', 1)[0]}")
        self.response = response


def _refuse_non_oauth_answers(response: Any, *args: Any, **kwargs: Any) -> Any:
    """Hand MSAL only what OAuth answers look like: a JSON object, not throttled, not failing, not a
    redirect (followed nowhere: it would carry the sign-in form, secret included, elsewhere)."""
    status = response.status_code
    if status == 429 or status >= 500 or 300 <= status < 400:
        raise EntraHttpFailure(response)
    try:  # a JSON object: MSAL reads anything else with ``.get`` and breaks
        body = json.loads(response.content.decode("utf-8-sig"))
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the parser's depth
        body = None
    if "json" not in response.headers.get("Content-Type", "").lower() or not isinstance(body, dict):
        raise EntraHttpFailure(response)
    return response


def new_application(
    settings: InsightsSettings,
    policy: RetryPolicy,
    user_agent: str,
    *,
    app_class: type = msal.ConfidentialClientApplication,
) -> tuple[Any, PinnedSession]:
    """An MSAL application and the session it talks to Entra through (pinned TLS and proxies, bounded
    retries, only OAuth answers let through), which the caller closes when done with the application."""
    session = new_session(settings, policy, retry_methods=SIGN_IN_RETRY_METHODS, user_agent=user_agent)
    session.hooks["response"].append(_refuse_non_oauth_answers)
    try:
        app = app_class(
            settings.client_id,
            client_credential=client_credential(settings),
            authority=f"{settings.authority_host}/{settings.tenant_id}",
            http_client=session,
            # Discovery only where MSAL knows the host; not for another one (a sovereign proxy, the emulator).
            instance_discovery=None
            if urlsplit(settings.authority_host).hostname in WELL_KNOWN_AUTHORITY_HOSTS
            else False,
            app_name="airflow-provider-pcinsights",
        )
    except BaseException:
        session.close()
        raise
    return app, session


@dataclasses.dataclass(frozen=True)
class SignInError:
    """Turns whatever a sign-in raised or returned into the provider's typed error."""

    settings: InsightsSettings
    secrets: Callable[[], tuple[str, ...]]  # the values to keep out of the message, as they are now
    retries: int

    def call(self, call: Callable[[], _T]) -> _T:
        """Run one MSAL call; what it raises becomes the provider's typed error."""
        try:
            return call()
        except PartnerCenterInsightsError:
            raise
        except EntraHttpFailure as err:
            raise self._http_failure(err) from None
        except OSError as err:  # TLS, the network, or the CA bundle named by ``verify``
            raise transport_error(
                err,
                doing="sign in to Microsoft Entra ID",
                origin=self.settings.authority_host,
                secrets=self.secrets(),
                retries=self.retries,
                config_error=AuthenticationError,
            ) from None
        except ValueError as err:
            # MSAL raises ValueError when the tenant's OpenID configuration cannot be read.
            # MSAL re-raises and hides the AADSTS code: the messages of what caused it are read too.
            detail = redact(" <- ".join(str(e) for e in islice(failure_chain(err), 5)), self.secrets())
            code = aadsts_code(detail)
            if code is None and "authority" not in detail.lower():
                raise AuthenticationError(
                    f"Could not sign in to Microsoft Entra ID: {excerpt(detail)}"
                ) from None
            cause, fix = explain(
                "invalid_tenant" if code is None else None, code or 90002, detail, self.settings
            )
            message = sign_in_message(cause, fix, self.settings, code=code)
            raise AuthenticationError(message, api_message=excerpt(detail)) from None

    def from_result(self, result: dict[str, Any]) -> AuthenticationError:
        description = redact(str(result.get("error_description") or ""), self.secrets())
        code = aadsts_code(description, codes=result.get("error_codes"))
        cause, fix = explain(result.get("error"), code, description, self.settings)
        return AuthenticationError(
            sign_in_message(
                cause, fix, self.settings, code=code, correlation_id=result.get("correlation_id")
            ),
            api_message=description or result.get("error"),
        )

    def _http_failure(self, err: EntraHttpFailure) -> PartnerCenterInsightsError:
        """What an answer that is not OAuth's means, worded as every sign-in failure is (cause, fix)."""
        status, headers = err.response.status_code, err.response.headers
        where = f"{self.settings.authority_host} answered HTTP {status}"
        kind: type[PartnerCenterInsightsError] = AuthenticationError
        more: dict[str, Any] = {}
        fix = "check authority_host (it must be the Entra sign-in host) and proxies"
        if status == 429:
            retry_after = headers.get("Retry-After")
            wait = f" (it asked to wait {retry_after} s)" if retry_after else ""
            cause = f"{where}: throttled, still after {self.retries} retries{wait}"
            fix = (
                "run fewer sign-ins at once (a process signs in once an hour per credential) and retry later"
            )
            kind, more = ThrottledError, {"retry_after": retry_after_seconds(retry_after)}
        elif status >= 500:
            cause = f"{where} after {self.retries} retries: the sign-in service is failing"
            fix = "retry later; if it persists, check authority_host and proxies"
            kind = ServiceUnavailableError
        elif 300 <= status < 400:
            redirect_to = redact(origin(headers.get("Location")) or "the same host", self.secrets())
            cause = (
                f"{where}, a redirect to {redirect_to}, which is not followed: it would carry the client's "
                "credential to another place"
            )
        else:
            page = redact(excerpt(err.response.text), self.secrets())
            cause = f"{where} with a page that is not Entra's ({page!r})"
        correlation_id = err.response.request.headers.get("client-request-id")
        message = sign_in_message(cause, fix, self.settings, correlation_id=correlation_id)
        return kind(message, status_code=status, **more)


class TokenSource:
    """One MSAL application for one credential in this process, and the refresh token it rotates.

    Thread-safe: a lock makes concurrent callers wait for one sign-in instead of
    each starting their own.
    """

    def __init__(
        self,
        settings: InsightsSettings,
        policy: RetryPolicy,
        user_agent: str,
        on_new_secret: Callable[[str], None],
    ) -> None:
        self._settings = settings
        self._policy = policy
        self._user_agent = user_agent
        self._on_new_secret = on_new_secret
        self._lock = threading.RLock()
        self._app: Any = None
        self._last_token: str | None = None
        self._force_refresh = False
        # App+User: the newest refresh token Entra handed back (they rotate), and the
        # scopes it granted, under which MSAL caches the access token.
        self._refresh_token = settings.refresh_token
        self._granted_scopes: list[str] | None = None
        # Connections that store the refresh tokens Entra rotates (``register_write_back``).
        self.write_back: set[str] = set()
        self._errors = SignInError(settings, self._secrets, policy.retries)

    def token(self) -> str:
        with self._lock:
            result = self._errors.call(self._acquire)
            if not isinstance(result, dict) or "access_token" not in result:
                raise self._errors.from_result(result if isinstance(result, dict) else {})
            token = str(result["access_token"])
            # Entra replaces the refresh token on every use; MSAL keeps the new one for itself, but a
            # connection that should outlive this process needs to know it.
            rotated = str(result.get("refresh_token") or "")
            if rotated and rotated != self._refresh_token:
                self._on_new_secret(rotated)
                previous, self._refresh_token = self._refresh_token, rotated
                for conn_id in sorted(self.write_back):
                    try:
                        _store_rotated(conn_id, rotated, previous)
                    except Exception as err:  # storing it is a convenience; signing in must not fail
                        log.warning(
                            "Could not store the new refresh token of client %s: %s",
                            self._settings.client_id,
                            redact(str(err), self._secrets()),
                        )
            if token != self._last_token:
                self._on_new_secret(token)
                self._last_token = token
                if result.get("token_source", "identity_provider") != "cache":
                    log.info(
                        "Signed in to Microsoft Entra ID as client %s (tenant %s, %s, %s); "
                        "token valid for %s s",
                        self._settings.client_id,
                        self._settings.tenant_id,
                        self._settings.auth_type,
                        self._settings.credential_kind,
                        result.get("expires_in", "?"),
                    )
            return token

    def invalidate(self, rejected_token: str) -> None:
        """Forget a token the API refused, unless another thread already replaced it."""
        with self._lock:
            if self._app is None or rejected_token != self._last_token:
                return
            if self._settings.auth_type == "client_credentials":
                self._app.remove_tokens_for_client()
            else:
                self._force_refresh = True  # the next sign-in redeems the refresh token again

    # ------------------------------------------------------------------ internals

    def _acquire(self) -> dict[str, Any] | None:
        settings = self._settings
        if self._app is None:
            self._app, _session = new_application(settings, self._policy, self._user_agent)
        app = self._app
        if settings.auth_type == "client_credentials":
            return app.acquire_token_for_client(scopes=[settings.scope])
        accounts = app.get_accounts() if self._granted_scopes else []
        if accounts:
            force, self._force_refresh = self._force_refresh, False
            result = app.acquire_token_silent_with_error(
                self._granted_scopes, account=accounts[0], force_refresh=force
            )
            if result:
                return result
        result = app.acquire_token_by_refresh_token(self._refresh_token, scopes=[settings.scope])
        if isinstance(result, dict) and "access_token" in result:
            self._force_refresh = False
            granted = [s for s in str(result.get("scope") or "").split() if s not in _RESERVED_SCOPES]
            self._granted_scopes = granted or [settings.scope]
        return result

    def _secrets(self) -> tuple[str, ...]:
        return (*self._settings.secrets, self._refresh_token or "", self._last_token or "")


_SOURCES: dict[str, TokenSource] = {}
_SOURCES_LOCK = threading.Lock()


def redact_msal_record(record: logging.LogRecord) -> bool:
    """MSAL's records, redacted like the provider's own messages.

    At DEBUG MSAL logs every token answer (``msal.token_cache``: ``event={...}``) with the tokens
    starred but everything else as sent, and its error descriptions; a token endpoint or a proxy
    that quotes the request back (``client_secret=...&refresh_token=...``) would put the client's
    credential into the log. Logger filters run before any handler, so no handler sees it.
    """

    try:
        text = record.getMessage()
    except Exception:  # a record whose arguments do not fit its message: left to logging
        return True
    with _SOURCES_LOCK:
        known = tuple(secret for source in _SOURCES.values() for secret in source._secrets())
    cleaned = redact(text, known)
    if cleaned != text:
        record.msg, record.args = cleaned, None
    return True


def _redact_msal_logs() -> None:
    """Put the filter on every MSAL logger (a logger's filters see only its own records)."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or not (name == "msal" or name.startswith("msal.")):
            continue
        if redact_msal_record not in logger.filters:
            logger.addFilter(redact_msal_record)


_redact_msal_logs()


def token_source_for(
    settings: InsightsSettings,
    policy: RetryPolicy,
    user_agent: str,
    on_new_secret: Callable[[str], None],
) -> TokenSource:
    """The process-wide token source of this credential, created on first use."""
    key = credential_key(settings)
    with _SOURCES_LOCK:
        source = _SOURCES.get(key)
        if source is None:
            source = _SOURCES[key] = TokenSource(settings, policy, user_agent, on_new_secret)
        return source


def forget_all_token_sources() -> None:
    """Drop every cached sign-in (tests use it to start from a clean process state)."""
    with _SOURCES_LOCK:
        _SOURCES.clear()


# ---------------------------------------------------------------------------------- what a refusal means


SIGNIN_COMMAND = "python -m airflow_provider_pcinsights.signin"

_TRAILER = re.compile(r"\s*(Trace ID|Correlation ID|Timestamp):.*$", re.DOTALL)
_RENEW = (
    f"mint a new refresh token with `{SIGNIN_COMMAND} --conn-id {{conn}} --update` "
    "(a device-code sign-in of a user with the Executive Report Viewer role)"
)
# (cause, fix) by AADSTS code or OAuth error (a device-code sign-in ends with an error and no code); the
# first row that names either explains the refusal.
# Formatted with ``s`` (the settings), ``renew`` and ``app_user`` (empty where the user already signs in).
_REFUSALS: dict[tuple[int | str, ...], tuple[str, str]] = {
    ("authorization_declined",): (
        "the sign-in was declined in the browser",
        "run the command again and approve it, signed in as a user with the Executive Report Viewer role",
    ),
    ("expired_token",): (
        "the code expired before the sign-in was approved",
        "run the command again and enter the new code within its time",
    ),
    ("authorization_pending",): (
        "nobody approved the sign-in in time",
        "run the command again and enter the code at the URL it shows",
    ),
    (90002, "invalid_tenant"): (
        "tenant {s.tenant_id} was not found at {s.authority_host}",
        "set extra tenant_id to the partner account's tenant GUID or verified domain "
        "(and authority_host only for another cloud)",
    ),
    (700016, "unauthorized_client"): (
        "no app with client id {s.client_id} is registered in tenant {s.tenant_id}",
        "set login to the app registration's Application (client) ID, not its Object ID, and check tenant_id",
    ),
    (7000215,): (
        "the client secret is wrong",
        "put the secret's Value, not its Secret ID, in the connection's password",
    ),
    (7000222,): (
        "the client secret has expired",
        "add a new client secret to the app registration and put its Value in the password",
    ),
    (700027, 700023, 50012): (
        "Entra does not accept the certificate: it is not registered on the app, or the key does not "
        "match it",
        "upload the certificate's public part to the app registration (Certificates & secrets), "
        "or point certificate_path at the PEM whose certificate is registered",
    ),
    (70021, 700211, 700212, 700213, 700024, 50027, 50013): (
        "Entra refused the federated token in the client assertion file (no matching federated "
        "credential, another issuer, subject or audience, or expired)",
        "check the app's federated credential (issuer, subject, audience api://AzureADTokenExchange) "
        "and that client_assertion_file is the token file your platform keeps fresh",
    ),
    (700025,): (
        "the app registration is a public client, so Entra refuses any client credential",
        "use an app registration on the Web platform with a secret or certificate; the provider "
        "always signs in as a confidential client",
    ),
    (7000218, 900144): (
        "no client credential reached Entra",
        "set the password (client secret), extra certificate_path or extra client_assertion_file",
    ),
    # Refresh tokens expire after 90 days unused, are revoked (password change, sign-out
    # everywhere), or are not valid for this app.
    (700082,): ("the refresh token has expired (90 days without use)", "{renew}"),
    (50173,): (
        "the refresh token was revoked (the user's password changed or their sessions were revoked)",
        "{renew}",
    ),
    (50076, 50079, 50074): ("the user must sign in with multi-factor authentication", "{app_user}{renew}"),
    (65001,): (
        "the app has no consent for the Partner Center API in this tenant",
        "have an administrator grant consent to the app's Partner Center permission (user_impersonation)",
    ),
    (70011, 1002012, "invalid_scope"): (
        "Entra refused the scope {s.scope}",
        "leave extra scope empty (https://api.partnercenter.microsoft.com/.default)",
    ),
    ("invalid_grant",): (
        "the refresh token is not valid for this app (revoked, malformed or minted for another client)",
        "{renew}",
    ),
}


def aadsts_code(text: str, codes: object = None) -> int | None:
    """The AADSTS number from Entra's ``error_codes`` or from its text."""
    if isinstance(codes, list | tuple) and codes:
        try:
            return int(codes[0])
        except (TypeError, ValueError):
            pass
    match = re.search(r"AADSTS(\d+)", text)
    return int(match.group(1)) if match else None


def first_sentence(description: str | None) -> str:
    """Entra's description without the code, the trace trailer and everything after its first sentence."""
    text = _TRAILER.sub("", str(description or "")).strip()
    text = re.sub(r"^AADSTS\d+:\s*", "", text)
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].strip()
    return sentence.rstrip(".") or "no reason given"


def explain(
    error: str | None, code: int | None, description: str | None, ctx: InsightsSettings
) -> tuple[str, str]:
    """``(cause, fix)`` for an Entra refusal, each a short clause without a final full stop."""
    user_flow = ctx.auth_type == "refresh_token"
    if code == 700024 and ctx.credential_kind == "certificate":
        code = 700027  # the assertion refused is the one signed with the certificate
    if code in (7000218, 900144) and error != "invalid_client":
        code = None  # a missing parameter, not the client credential
    if error == "invalid_grant" and not user_flow:
        error = None  # a refused grant is the refresh token's only where one is redeemed
    texts = next((texts for keys, texts in _REFUSALS.items() if code in keys or error in keys), None)
    if texts is None:
        credential = f"the {ctx.credential_kind}" + (" and the refresh token" if user_flow else "")
        return (first_sentence(description), f"check tenant_id, login (the client id) and {credential}")
    renew = _RENEW.format(conn=ctx.conn_id or "<conn_id>")
    cause, fix = (
        t.format(s=ctx, renew=renew, app_user="" if user_flow else "sign in as App+User: ") for t in texts
    )
    return cause, fix


def sign_in_message(
    cause: str, fix: str, ctx: InsightsSettings, *, code: int | None = None, correlation_id: str | None = None
) -> str:
    """The two lines a person reads: cause (with the AADSTS code), then fix (with the correlation id)."""
    tag = f" (AADSTS{code})" if code else ""
    quote = f" Correlation id: {correlation_id}." if correlation_id else ""
    return (
        f"Could not sign in to Microsoft Entra ID as client {ctx.client_id} in tenant {ctx.tenant_id}: "
        f"{cause}{tag}.\nFix: {fix}.{quote}"
    )


# ---------------------------------------------------------------------------------- rotated refresh tokens


def _store_rotated(conn_id: str, new: str, previous: str | None) -> None:
    """Store a rotated refresh token; its token source calls it under the source's lock, and the store
    locks the row it writes."""
    from airflow_provider_pcinsights.signin._store import ABSENT, CHANGED, store_refresh_token

    outcome = store_refresh_token(conn_id, new, previous=previous)
    if outcome == ABSENT:
        warn_once(
            conn_id,
            "absent",
            "Connection %r is not in Airflow's database (an environment variable or a secrets backend "
            "holds it), so the rotated refresh token cannot be stored there; it is kept in memory. "
            "Renew the stored one before 90 days pass without use: "
            "python -m airflow_provider_pcinsights.signin --conn-id %s",
            conn_id,
            conn_id,
        )
    elif outcome == CHANGED:
        log.info("Connection %r already holds a newer refresh token; left as it is", conn_id)
    else:
        log.info("Stored the rotated refresh token in connection %r", conn_id)


def register_write_back(source: TokenSource, conn_id: str) -> None:
    """Store the tokens ``source`` rotates into ``conn_id``, where this Airflow line allows it."""
    if int(version("apache-airflow").split(".")[0]) >= 3:  # its tasks cannot write connections
        warn_once(
            conn_id,
            "airflow3",
            "store_rotated_refresh_token is ignored for connection %r: Airflow 3 tasks cannot write "
            "connections. The newest refresh token is kept in memory; renew the stored one with "
            "python -m airflow_provider_pcinsights.signin --conn-id %s --update where Airflow's "
            "database is reachable",
            conn_id,
            conn_id,
        )
        return
    with source._lock:
        source.write_back.add(conn_id)
