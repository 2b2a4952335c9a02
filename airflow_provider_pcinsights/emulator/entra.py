"""The Microsoft Entra ID side: OpenID discovery and the v2 token endpoint, as MSAL uses them.

MSAL (with ``instance_discovery=False``) fetches
``{authority}/v2.0/.well-known/openid-configuration`` once, then posts to the
``token_endpoint`` it names (and, for a device-code sign-in, first to the
``device_authorization_endpoint``; see ``devicecode``). Errors carry Entra's shape (``error``,
``error_description`` starting with the AADSTS code, ``error_codes``,
``trace_id``, ``correlation_id``, ``timestamp``) so MSAL hands them back as its
usual error dicts.
"""

from __future__ import annotations

import datetime
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509

from .assertions import AssertionRejected, b64encode, check_client_assertion
from .devicecode import DEVICE_CODE_GRANT, DeviceCodes
from .messages import Request, Response
from .tokens import TokenRegistry

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PARTNER_CENTER_RESOURCE = "https://api.partnercenter.microsoft.com"
_RESERVED_SCOPES = {"openid", "profile", "offline_access"}
_DISCOVERY = re.compile(r"^/(?P<tenant>[^/]+)(?P<v2>/v2\.0)?/\.well-known/openid-configuration$")
_TOKEN = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
_DEVICE_CODE = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/devicecode$")
# What each poll of a device code that is not approved yet answers: (status, error, AADSTS code, text).
_DEVICE_POLL_ERRORS = {
    "authorization_pending": (
        400,
        "authorization_pending",
        70016,
        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
    ),
    "slow_down": (400, "slow_down", 70016, "OAuth 2.0 device flow error. Polling too often; slow down."),
    "expired_token": (
        400,
        "expired_token",
        70020,
        "The provided value for the input parameter 'device_code' is not valid. "
        "This device code has expired.",
    ),
    "authorization_declined": (
        400,
        "authorization_declined",
        65004,
        "User declined to consent to access the app.",
    ),
    "bad_code": (400, "invalid_grant", 70000, "Provided grant is invalid or malformed."),
}


@dataclass
class RegisteredClient:
    """An app registration: its credentials and whether Partner Center granted it a role."""

    client_id: str
    secret: str | None = None
    certificate: x509.Certificate | None = None
    federated_token: str | None = None
    has_partner_center_role: bool = True


class EntraError(Exception):
    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.code = code
        self.description = description


def is_entra_path(path: str) -> bool:
    return bool(_DISCOVERY.match(path) or _TOKEN.match(path) or _DEVICE_CODE.match(path))


class Entra:
    """Sign-in for the registered clients of one tenant."""

    def __init__(
        self,
        tenant_id: str,
        clients: list[RegisteredClient],
        tokens: TokenRegistry,
        device_codes: DeviceCodes | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.clients = {c.client_id: c for c in clients}
        self.tokens = tokens
        self.device_codes = device_codes or DeviceCodes()

    def handle(self, request: Request) -> Response:
        discovery = _DISCOVERY.match(request.path)
        if discovery and request.method == "GET":
            return self._discovery(request, discovery["tenant"])
        token = _TOKEN.match(request.path)
        if token and request.method == "POST":
            return self._token(request, token["tenant"])
        device = _DEVICE_CODE.match(request.path)
        if device and request.method == "POST":
            return self._device_authorization(request, device["tenant"])
        return Response.json(405, {"error": "invalid_request", "error_description": "Method not allowed."})

    @staticmethod
    def log_fields(request: Request) -> dict[str, Any]:
        """What the request log says of an Entra call, from the request alone (for one a fault answered)."""
        if _DISCOVERY.match(request.path):
            return {"kind": "discovery"}
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if _DEVICE_CODE.match(request.path):
            return {"kind": "devicecode", "client_id": form.get("client_id")}
        return {"kind": "token", "grant_type": form.get("grant_type"), "client_id": form.get("client_id")}

    # -- discovery ----------------------------------------------------------
    def _discovery(self, request: Request, tenant: str) -> Response:
        if tenant != self.tenant_id:
            return self._error_response(request, self._unknown_tenant(tenant), kind="discovery")
        authority = f"{request.base_url}/{tenant}"
        config = {
            "token_endpoint": f"{authority}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{authority}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{authority}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{request.base_url}/oidc/userinfo",
            "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{authority}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "tid", "ver", "oid"],
            "kerberos_endpoint": f"{authority}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
        return Response.json(200, config, kind="discovery")

    # -- token endpoint ---------------------------------------------------
    def _token(self, request: Request, tenant: str) -> Response:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        grant_type = form.get("grant_type")
        client_id = form.get("client_id")
        log = {"kind": "token", "grant_type": grant_type, "client_id": client_id}
        try:
            if tenant != self.tenant_id:
                raise self._unknown_tenant(tenant)
            client = self._authenticate(request, form, tenant)
            if grant_type == DEVICE_CODE_GRANT:
                payload = self._redeem_device_code(client, form)
                return Response.json(200, payload, headers={"Cache-Control": "no-store, no-cache"}, **log)
            resource = self._resource(form.get("scope"), grant_type)
            if grant_type == "client_credentials":
                payload = self._access_payload(client.client_id, grant_type, resource)
            elif grant_type == "refresh_token":
                payload = self._redeem_refresh_token(client, form, resource)
            elif grant_type == "password":
                raise EntraError(
                    400,
                    "invalid_grant",
                    50076,
                    "Due to a configuration change made by your administrator, or because you moved to a new "
                    "location, you must use multi-factor authentication to access "
                    f"'{PARTNER_CENTER_RESOURCE}'.",
                )
            elif not grant_type:
                raise EntraError(
                    400,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'grant_type'.",
                )
            else:
                raise EntraError(
                    400,
                    "unsupported_grant_type",
                    70003,
                    f"The app requested an unsupported grant type '{grant_type}'.",
                )
        except EntraError as error:
            return self._error_response(request, error, **log)
        return Response.json(200, payload, headers={"Cache-Control": "no-store, no-cache"}, **log)

    def _authenticate(self, request: Request, form: dict[str, str], tenant: str) -> RegisteredClient:
        client_id = form.get("client_id")
        if not client_id:
            raise EntraError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        client = self.clients.get(client_id)
        if client is None:
            raise EntraError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
                "This can happen if the application has not been installed by the administrator of the "
                "tenant or consented to by any user in the tenant. You may have sent your authentication "
                "request to the wrong tenant.",
            )
        secret = form.get("client_secret")
        assertion = form.get("client_assertion")
        if secret is not None:
            if client.secret is None or not hmac.compare_digest(secret.encode(), client.secret.encode()):
                raise EntraError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the "
                    "client secret value, not the client secret ID, for a secret added to app "
                    f"'{client_id}'.",
                )
            return client
        if assertion is not None:
            if form.get("client_assertion_type") != JWT_BEARER:
                raise EntraError(
                    400,
                    "invalid_request",
                    90014,
                    "The request body must contain the following parameter: 'client_assertion_type'.",
                )
            self._check_assertion(request, client, assertion, tenant)
            return client
        raise EntraError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )

    def _check_assertion(
        self, request: Request, client: RegisteredClient, assertion: str, tenant: str
    ) -> None:
        try:
            check_client_assertion(
                assertion,
                client_id=client.client_id,
                certificate=client.certificate,
                federated_token=client.federated_token,
                audiences={
                    f"{request.base_url}/{tenant}/oauth2/v2.0/token",
                    f"{request.base_url}/{tenant}/v2.0",
                },
            )
        except AssertionRejected as rejected:
            raise EntraError(401, "invalid_client", rejected.code, rejected.description) from None

    def _resource(self, scope: str | None, grant_type: str | None) -> str:
        scopes = [s for s in (scope or "").split() if s not in _RESERVED_SCOPES]
        if not scopes:
            raise EntraError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        resource_scope = scopes[0]
        if grant_type == "client_credentials" and not resource_scope.endswith("/.default"):
            raise EntraError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {resource_scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        return (
            resource_scope.rsplit("/", 1)[0] if "/" in resource_scope.split("//", 1)[-1] else resource_scope
        )

    def _access_payload(
        self, client_id: str, grant_type: str, resource: str, mfa: bool = False
    ) -> dict[str, Any]:
        lifetime = self.tokens.lifetime
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self.tokens.issue_access_token(client_id, grant_type, resource, mfa=mfa),
        }

    def _redeem_refresh_token(
        self, client: RegisteredClient, form: dict[str, str], resource: str
    ) -> dict[str, Any]:
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            raise EntraError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'refresh_token'.",
            )
        ok, reason = self.tokens.check_refresh_token(refresh_token, client.client_id)
        if not ok and reason == "expired":
            raise EntraError(
                400,
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity. The token was issued on "
                f"{_timestamp()} and was inactive for 90.00:00:00.",
            )
        if not ok and reason == "revoked":
            raise EntraError(
                400,
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed. The "
                "user might have changed or reset their password.",
            )
        if not ok:
            raise EntraError(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
        # The user's multi-factor claim travels from the refresh token to what it is redeemed for.
        mfa = self.tokens.refresh_token_mfa(refresh_token)
        return self._user_payload(client.client_id, "refresh_token", resource, mfa=mfa)

    def _user_payload(
        self, client_id: str, grant_type: str, resource: str, mfa: bool = True
    ) -> dict[str, Any]:
        """An App+User answer: access token, a new refresh token and the account MSAL caches it under.

        ``mfa``: whether the user's sign-in passed multi-factor authentication (a device-code
        sign-in does); the API refuses App+User tokens without it."""
        payload = self._access_payload(client_id, grant_type, resource, mfa=mfa)
        payload["scope"] = f"{resource}/user_impersonation"
        payload["refresh_token"] = self.tokens.issue_refresh_token(client_id, mfa=mfa)
        client_info = {"uid": "00000000-0000-4000-8000-00000000beef", "utid": self.tenant_id}
        payload["client_info"] = b64encode(json.dumps(client_info).encode())
        return payload

    # -- device code --------------------------------------------------------
    def _device_authorization(self, request: Request, tenant: str) -> Response:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        log: dict[str, Any] = {"kind": "devicecode", "client_id": form.get("client_id")}
        try:
            if tenant != self.tenant_id:
                raise self._unknown_tenant(tenant)
            client_id = form.get("client_id")
            if not client_id or client_id not in self.clients:
                raise EntraError(
                    400,
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
                )
            resource = self._resource(form.get("scope"), "device_code")
        except EntraError as error:
            return self._error_response(request, error, **log)
        code = self.device_codes.issue(client_id, resource)
        verification_uri = f"{request.base_url}/devicelogin"
        return Response.json(
            200,
            {
                "user_code": code.user_code,
                "device_code": code.device_code,
                "verification_uri": verification_uri,
                "expires_in": self.device_codes.lifetime,
                "interval": code.interval,
                "message": f"To sign in, use a web browser to open the page {verification_uri} and enter "
                f"the code {code.user_code} to authenticate.",
            },
            **log,
        )

    def _redeem_device_code(self, client: RegisteredClient, form: dict[str, str]) -> dict[str, Any]:
        device_code = form.get("device_code") or form.get("code")
        if not device_code:
            raise EntraError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'device_code'.",
            )
        outcome = self.device_codes.poll(device_code, client.client_id)
        if outcome.kind != "approved" or outcome.code is None:
            raise EntraError(*_DEVICE_POLL_ERRORS[outcome.kind])
        # The person signed in with multi-factor authentication: the tokens are App+User.
        return self._user_payload(client.client_id, "device_code", outcome.code.scope)

    # -- errors -------------------------------------------------------------
    def _unknown_tenant(self, tenant: str) -> EntraError:
        return EntraError(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud. Check with your subscription administrator, this may happen "
            "if there are no active subscriptions for the tenant.",
        )

    def _error_response(self, request: Request, error: EntraError, **log: Any) -> Response:
        trace_id = str(uuid.uuid4())
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        timestamp = _timestamp()
        body = {
            "error": error.error,
            "error_description": (
                f"AADSTS{error.code}: {error.description} Trace ID: {trace_id} "
                f"Correlation ID: {correlation_id} Timestamp: {timestamp}"
            ),
            "error_codes": [error.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{request.base_url}/error?code={error.code}",
        }
        log.setdefault("kind", "token")
        return Response.json(error.status, body, **log)


def _timestamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
