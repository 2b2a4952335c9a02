"""What a failed sign-in means and what to do about it: one line of cause, one of fix.

Entra answers with an ``AADSTS`` code and a paragraph of text that ends in trace
and correlation ids; a person at a failed task needs the likely cause, the fix,
and the correlation id once (to quote to Microsoft support). Shared by the hook
and the sign-in helper; free of ``msal`` and ``requests``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SIGNIN_COMMAND = "python -m airflow_provider_pcinsights.signin"

_AADSTS = re.compile(r"AADSTS(\d+)")
_TRAILER = re.compile(r"\s*(Trace ID|Correlation ID|Timestamp):.*$", re.DOTALL)

# Refresh-token failures: expired after 90 days unused, revoked (password change,
# sign-out everywhere), or not valid for this app.
REFRESH_TOKEN_EXPIRED = 700082
REFRESH_TOKEN_REVOKED = 50173
_MFA_REQUIRED = {50076, 50079, 50074}
_CERTIFICATE_CODES = {700027, 700023, 50012}
_ASSERTION_CODES = {70021, 700211, 700212, 700213, 700024, 50027, 50013}


@dataclass(frozen=True)
class SignInContext:
    """Who tried to sign in, and with what: enough to word the fix, nothing secret."""

    client_id: str
    tenant_id: str
    authority_host: str
    credential_kind: str  # "client secret" | "certificate" | "client assertion file"
    auth_type: str = "client_credentials"
    conn_id: str | None = None
    scope: str | None = None

    def renew_refresh_token(self) -> str:
        conn = self.conn_id or "<conn_id>"
        return (
            f"mint a new refresh token with `{SIGNIN_COMMAND} --conn-id {conn} --update` "
            "(a device-code sign-in of a user with the Executive Report Viewer role)"
        )


def aadsts_code(*texts: object, codes: object = None) -> int | None:
    """The AADSTS number from Entra's ``error_codes`` or from its text."""
    if isinstance(codes, list | tuple) and codes:
        try:
            return int(codes[0])
        except (TypeError, ValueError):
            pass
    for text in texts:
        match = _AADSTS.search(str(text or ""))
        if match:
            return int(match.group(1))
    return None


def first_sentence(description: str | None) -> str:
    """Entra's description without the code, the trace trailer and everything after its first sentence."""
    text = _TRAILER.sub("", str(description or "")).strip()
    text = re.sub(r"^AADSTS\d+:\s*", "", text)
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].strip()
    return sentence.rstrip(".") or "no reason given"


def explain(
    error: str | None, code: int | None, description: str | None, ctx: SignInContext
) -> tuple[str, str]:
    """``(cause, fix)`` for an Entra refusal, each a short clause without a final full stop."""
    user_flow = ctx.auth_type == "refresh_token"
    if code == 90002 or error == "invalid_tenant":
        return (
            f"tenant {ctx.tenant_id} was not found at {ctx.authority_host}",
            "set extra tenant_id to the partner account's tenant GUID or verified domain "
            "(and authority_host only for another cloud)",
        )
    if code == 700016 or error == "unauthorized_client":
        return (
            f"no app with client id {ctx.client_id} is registered in tenant {ctx.tenant_id}",
            "set login to the app registration's Application (client) ID, not its Object ID, "
            "and check tenant_id",
        )
    if code == 7000215:
        return (
            "the client secret is wrong",
            "put the secret's Value, not its Secret ID, in the connection's password",
        )
    if code == 7000222:
        return (
            "the client secret has expired",
            "add a new client secret to the app registration and put its Value in the password",
        )
    if code in _CERTIFICATE_CODES or (ctx.credential_kind == "certificate" and code in {700024, 700027}):
        return (
            "Entra does not accept the certificate: it is not registered on the app, or the key does "
            "not match it",
            "upload the certificate's public part to the app registration (Certificates & secrets), "
            "or point certificate_path at the PEM whose certificate is registered",
        )
    if code in _ASSERTION_CODES:
        return (
            "Entra refused the federated token in the client assertion file (no matching federated "
            "credential, another issuer, subject or audience, or expired)",
            "check the app's federated credential (issuer, subject, audience api://AzureADTokenExchange) "
            "and that client_assertion_file is the token file your platform keeps fresh",
        )
    if code == 700025:
        return (
            "the app registration is a public client, so Entra refuses any client credential",
            "use an app registration on the Web platform with a secret or certificate; the provider "
            "always signs in as a confidential client",
        )
    if code in {7000218, 900144} and error == "invalid_client":
        return (
            "no client credential reached Entra",
            "set the password (client secret), extra certificate_path or extra client_assertion_file",
        )
    if code == REFRESH_TOKEN_EXPIRED:
        return ("the refresh token has expired (90 days without use)", ctx.renew_refresh_token())
    if code == REFRESH_TOKEN_REVOKED:
        return (
            "the refresh token was revoked (the user's password changed or their sessions were revoked)",
            ctx.renew_refresh_token(),
        )
    if code in _MFA_REQUIRED:
        return (
            "the user must sign in with multi-factor authentication",
            ctx.renew_refresh_token() if user_flow else f"sign in as App+User: {ctx.renew_refresh_token()}",
        )
    if code == 65001:
        return (
            "the app has no consent for the Partner Center API in this tenant",
            "have an administrator grant consent to the app's Partner Center permission (user_impersonation)",
        )
    if error == "invalid_scope" or code in {70011, 1002012}:
        return (
            f"Entra refused the scope {ctx.scope or ''}".rstrip(),
            "leave extra scope empty (https://api.partnercenter.microsoft.com/.default)",
        )
    if error == "invalid_grant" and user_flow:
        return (
            "the refresh token is not valid for this app (revoked, malformed or minted for another client)",
            ctx.renew_refresh_token(),
        )
    credential = f"the {ctx.credential_kind}" + (" and the refresh token" if user_flow else "")
    return (first_sentence(description), f"check tenant_id, login (the client id) and {credential}")


def sign_in_message(
    cause: str, fix: str, ctx: SignInContext, *, code: int | None = None, correlation_id: str | None = None
) -> str:
    """The two lines a person reads: cause (with the AADSTS code), then fix (with the correlation id)."""
    tag = f" (AADSTS{code})" if code else ""
    quote = f" Correlation id: {correlation_id}." if correlation_id else ""
    return (
        f"Could not sign in to Microsoft Entra ID as client {ctx.client_id} in tenant {ctx.tenant_id}: "
        f"{cause}{tag}.\nFix: {fix}.{quote}"
    )
