"""Sign-in with MSAL, and one token cache per process and credential.

Every hook instance in a process that uses the same credential shares one MSAL
application and one access token: a DAG run with a hundred tasks should sign
in once an hour, not a hundred times. Imported lazily by the hook (it needs
``msal``, ``requests`` and ``cryptography``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msal

from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    ConnectionConfigError,
    PartnerCenterInsightsError,
    ServiceUnavailableError,
)
from airflow_provider_pcinsights.hooks._errors import redact, transport_error
from airflow_provider_pcinsights.hooks._retry_policy import RetryPolicy
from airflow_provider_pcinsights.hooks._settings import InsightsSettings
from airflow_provider_pcinsights.hooks._transport import SIGN_IN_RETRY_METHODS, new_session

log = logging.getLogger(__name__)

# Renew this long before expiry, but never more than half the token's lifetime.
RENEWAL_MARGIN_SECONDS = 300.0
_AADSTS = re.compile(r"AADSTS\d+")
# An Entra error description inside a JSON body: the code up to the closing quote or the trace id.
_AADSTS_DESCRIPTION = re.compile(r"AADSTS\d+:[^\"]*?(?=\s*Trace ID|\"|$)")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class CredentialKey:
    """What makes two connections share a token: same app, same secret, same audience.

    The credential itself is only present as a SHA-256 fingerprint. TLS and proxy
    settings are part of the key because the MSAL app signs in through them.
    """

    tenant_id: str
    client_id: str
    fingerprint: str
    authority: str
    scope: str
    auth_type: str
    transport: str

    def __repr__(self) -> str:
        return f"CredentialKey(tenant_id={self.tenant_id!r}, client_id={self.client_id!r}, ...)"


def credential_key(settings: InsightsSettings) -> CredentialKey:
    digest = hashlib.sha256()
    for part in (
        settings.credential_kind,
        settings.client_secret or "",
        _file_bytes(settings.certificate_path, "certificate_path").hex() if settings.certificate_path else "",
        settings.client_assertion_file or "",
        settings.refresh_token or "",
    ):
        digest.update(part.encode() + b"\0")
    return CredentialKey(
        tenant_id=settings.tenant_id,
        client_id=settings.client_id,
        fingerprint=digest.hexdigest(),
        authority=settings.authority,
        scope=settings.scope,
        auth_type=settings.auth_type,
        transport=repr((settings.verify, sorted((settings.proxies or {}).items()), settings.timeout)),
    )


def _file_bytes(path: str, field_name: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise ConnectionConfigError(f"extra {field_name} {path!r} cannot be read: {err.strerror}") from None


def certificate_credential(path: str) -> dict[str, str]:
    """What MSAL needs from a PEM holding the private key and the certificate.

    The key is re-exported as unencrypted PKCS#8 (MSAL's preferred form) and the
    certificate handed over so MSAL can compute the SHA-256 thumbprint and send
    ``x5c``; MSAL older than 1.35 cannot compute it, so it gets the SHA-1
    thumbprint as well.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    text = _file_bytes(path, "certificate_path").decode("ascii", errors="replace")
    blocks = {match.group(1): match.group(0) for match in reversed(list(_PEM_BLOCK.finditer(text)))}
    key_block = next((block for tag, block in blocks.items() if tag.endswith("PRIVATE KEY")), None)
    cert_block = blocks.get("CERTIFICATE")
    if key_block is None or cert_block is None:
        missing = " and no ".join(
            name for name, block in (("private key", key_block), ("certificate", cert_block)) if not block
        )
        raise ConnectionConfigError(
            f"extra certificate_path {path!r}: the PEM file has no {missing}; it needs both"
        )
    try:
        key = serialization.load_pem_private_key(key_block.encode(), password=None)
        cert = x509.load_pem_x509_certificate(cert_block.encode())
    except TypeError:
        raise ConnectionConfigError(
            f"extra certificate_path {path!r}: the private key is encrypted; give an unencrypted PEM"
        ) from None
    except ValueError as err:
        raise ConnectionConfigError(f"extra certificate_path {path!r}: cannot read the PEM ({err})") from None
    credential = {
        "private_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
    }
    if _msal_version() < (1, 35):
        credential["thumbprint"] = cert.fingerprint(hashes.SHA1()).hex()  # what old MSAL wants
    return credential


def assertion_reader(path: str) -> Callable[[], str]:
    """A callable MSAL calls at every sign-in: workload identity rotates the file under us."""

    def read_assertion() -> str:
        assertion = _file_bytes(path, "client_assertion_file").decode().strip()
        if not assertion:
            raise ConnectionConfigError(f"extra client_assertion_file {path!r} is empty")
        return assertion

    return read_assertion


def _msal_version() -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", msal.__version__)[:2])


def client_credential(settings: InsightsSettings) -> Any:
    if settings.certificate_path:
        return certificate_credential(settings.certificate_path)
    if settings.client_assertion_file:
        return {"client_assertion": assertion_reader(settings.client_assertion_file)}
    return settings.client_secret


def is_known_authority_host(authority_host: str) -> bool:
    """Whether MSAL knows the host; for any other (a sovereign proxy, the emulator) discovery is skipped."""
    from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

    host = authority_host.split("://", 1)[-1].split("/", 1)[0].lower()
    return host in WELL_KNOWN_AUTHORITY_HOSTS


class TokenSource:
    """One MSAL app and its current access token, for one credential in this process.

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
        self._lock = threading.Lock()
        self._app: Any = None
        self._access_token: str | None = None
        self._renew_at = 0.0
        # App+User: the newest refresh token Entra handed back (they rotate).
        self._refresh_token = settings.refresh_token

    def __repr__(self) -> str:
        return f"TokenSource(client_id={self._settings.client_id!r}, tenant_id={self._settings.tenant_id!r})"

    def token(self) -> str:
        with self._lock:
            if self._access_token and time.monotonic() < self._renew_at:
                return self._access_token
            return self._sign_in()

    def invalidate(self, rejected_token: str) -> None:
        """Forget a token the API refused, unless another thread already replaced it."""
        with self._lock:
            if self._access_token == rejected_token:
                self._access_token = None
                self._renew_at = 0.0
                self._forget_msal_tokens()

    def _forget_msal_tokens(self) -> None:
        if self._app is None:
            return
        if self._settings.auth_type == "client_credentials":
            self._app.remove_tokens_for_client()
        else:
            for account in self._app.get_accounts():
                self._app.remove_account(account)

    def _application(self) -> Any:
        if self._app is None:
            settings = self._settings
            session = new_session(
                verify=settings.verify,
                proxies=settings.proxies,
                timeout=settings.timeout,
                policy=self._policy,
                retry_methods=SIGN_IN_RETRY_METHODS,
                user_agent=self._user_agent,
            )
            try:
                self._app = msal.ConfidentialClientApplication(
                    settings.client_id,
                    client_credential=client_credential(settings),
                    authority=settings.authority,
                    http_client=session,
                    instance_discovery=None if is_known_authority_host(settings.authority_host) else False,
                    app_name="airflow-provider-pcinsights",
                )
            except BaseException:
                session.close()
                raise
        return self._app

    def _sign_in(self) -> str:
        settings = self._settings
        try:
            app = self._application()
            # Our own cache decides when to renew; MSAL must not answer from its cache.
            self._forget_msal_tokens()
            if settings.auth_type == "refresh_token":
                result = app.acquire_token_by_refresh_token(self._refresh_token, scopes=[settings.scope])
            else:
                result = app.acquire_token_for_client(scopes=[settings.scope])
        except PartnerCenterInsightsError:
            raise
        except OSError as err:  # TLS, the network, or the CA bundle named by ``verify``
            raise transport_error(
                err,
                doing="sign in",
                origin=settings.authority_host,
                secrets=(*settings.secrets, self._refresh_token or ""),
                config_error=AuthenticationError,
            ) from None
        except ValueError as err:  # MSAL: the tenant's OpenID configuration could not be read
            raise AuthenticationError(self._discovery_failure(_chain_text(err))) from None
        except msal.exceptions.MsalServiceError as err:
            raise ServiceUnavailableError(
                f"Could not sign in at {settings.authority_host}: {self._redact(str(err))}"
            ) from None
        if not isinstance(result, dict) or "access_token" not in result:
            raise self._entra_error(result if isinstance(result, dict) else {})

        token = str(result["access_token"])
        self._on_new_secret(token)
        new_refresh_token = result.get("refresh_token")
        if settings.auth_type == "refresh_token" and new_refresh_token:
            self._on_new_secret(new_refresh_token)
            self._refresh_token = new_refresh_token
        lifetime = _as_seconds(result.get("expires_in"), default=3600.0)
        margin = min(RENEWAL_MARGIN_SECONDS, lifetime / 2)
        self._access_token = token
        self._renew_at = time.monotonic() + lifetime - margin
        log.info(
            "Signed in to Microsoft Entra ID as client %s (tenant %s, %s, %s); token valid for %d s",
            settings.client_id,
            settings.tenant_id,
            settings.auth_type,
            settings.credential_kind,
            lifetime,
        )
        return token

    def _redact(self, text: str) -> str:
        return redact(text, (*self._settings.secrets, self._refresh_token or ""))

    def _discovery_failure(self, detail: str) -> str:
        settings = self._settings
        detail = self._redact(detail)
        described = _AADSTS_DESCRIPTION.search(detail)
        reason = described.group().strip() if described else detail[:400]
        return (
            f"Could not sign in: the tenant {settings.tenant_id} could not be found at "
            f"{settings.authority_host} ({reason}). Check the tenant_id and authority_host extras"
        )

    def _entra_error(self, result: dict[str, Any]) -> AuthenticationError:
        settings = self._settings
        error = result.get("error") or "unknown_error"
        description = self._redact(str(result.get("error_description") or "no description"))
        description = description.splitlines()[0] if description else description
        code_match = _AADSTS.search(description)
        codes = result.get("error_codes") or []
        code = code_match.group() if code_match else (f"AADSTS{codes[0]}" if codes else None)
        hint = "the client secret or certificate"
        if settings.auth_type == "refresh_token":
            hint += ", and the refresh token (it may have expired or been revoked; sign in again to get one)"
        correlation = result.get("correlation_id")
        return AuthenticationError(
            f"Sign-in to Microsoft Entra ID failed for client {settings.client_id} in tenant "
            f"{settings.tenant_id} using the {settings.credential_kind}"
            f"{' and refresh token' if settings.auth_type == 'refresh_token' else ''}: "
            f"{error}{f' {code}' if code and code not in description else ''}: {description}. "
            f"Check the tenant id, the client id, {hint}"
            f"{f' (correlation id {correlation})' if correlation else ''}",
            api_message=description,
        )


def _chain_text(err: BaseException) -> str:
    """The messages of an error and of what caused it: MSAL re-raises and hides the AADSTS code."""
    texts: list[str] = []
    current: BaseException | None = err
    while current is not None and len(texts) < 5:
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    return " <- ".join(texts)


def _as_seconds(value: Any, *, default: float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default


_SOURCES: dict[CredentialKey, TokenSource] = {}
_SOURCES_LOCK = threading.Lock()


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
