"""The device-code flow itself, with MSAL, as the confidential client the provider signs in as.

MSAL offers the device-code flow on ``PublicClientApplication`` only, but a
refresh token minted by a public client cannot be redeemed with a client
secret (Entra answers AADSTS700025), and the provider always redeems it with
the connection's credential. So the flow runs on a
``ConfidentialClientApplication`` that borrows MSAL's own two device-flow
methods: the polls then carry the client credential, like every later
redemption of the token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import msal

from airflow_provider_pcinsights.exceptions import AuthenticationError, PartnerCenterInsightsError
from airflow_provider_pcinsights.hooks.connection import InsightsSettings, RetryPolicy
from airflow_provider_pcinsights.hooks.entra import (
    SignInError,
    new_application,
    sign_in_message,
    sign_in_session,
)

USER_IMPERSONATION = "user_impersonation"


class _DeviceCodeConfidentialClient(msal.ConfidentialClientApplication):
    DEVICE_FLOW_CORRELATION_ID = msal.PublicClientApplication.DEVICE_FLOW_CORRELATION_ID
    initiate_device_flow = msal.PublicClientApplication.initiate_device_flow
    acquire_token_by_device_flow = msal.PublicClientApplication.acquire_token_by_device_flow


@dataclass(frozen=True)
class SignedIn:
    refresh_token: str
    user: str | None


def delegated_scope(settings: InsightsSettings) -> str:
    """``https://api.partnercenter.microsoft.com/user_impersonation`` for the connection's audience.

    MSAL adds ``offline_access`` (so Entra hands out a refresh token), ``openid``
    and ``profile`` itself, and refuses them from callers.
    """
    resource = settings.scope.rsplit("/", 1)[0] if settings.scope.endswith("/.default") else settings.scope
    return f"{resource.rstrip('/')}/{USER_IMPERSONATION}"


class DeviceCodeSignIn:
    def __init__(self, settings: InsightsSettings, *, retries: int = 3) -> None:
        self._settings = settings
        policy = RetryPolicy(retries=retries, backoff_factor=0.5, backoff_max=10.0, max_retry_after=30.0)
        self._errors = SignInError(settings, lambda: settings.secrets, policy.retries)
        self._session = sign_in_session(settings, policy, "airflow-provider-pcinsights-signin")
        try:  # MSAL reads the tenant's OpenID configuration right here
            self._app = self._errors.call(
                lambda: new_application(settings, self._session, app_class=_DeviceCodeConfidentialClient)
            )
        except BaseException:
            self._session.close()
            raise

    def start(self) -> dict[str, Any]:
        """Ask Entra for a device code; the flow's ``message`` says where to enter ``user_code``."""
        flow = self._errors.call(
            lambda: self._app.initiate_device_flow(scopes=[delegated_scope(self._settings)])
        )
        if "user_code" not in flow:
            raise self._errors.from_result(flow)
        return flow

    def wait(self, flow: dict[str, Any], *, timeout: float | None = None) -> SignedIn:
        """Poll until the user approves, declines or the code expires (MSAL honours ``slow_down``)."""
        if timeout is not None:
            flow["expires_at"] = min(float(flow.get("expires_at", 0)), time.time() + timeout)
        result = self._errors.call(lambda: self._app.acquire_token_by_device_flow(flow))
        if "access_token" in result and result.get("refresh_token"):
            claims = result.get("id_token_claims") or {}
            return SignedIn(
                refresh_token=str(result["refresh_token"]),
                user=claims.get("preferred_username"),
            )
        raise self._device_flow_error(result)

    def close(self) -> None:
        self._session.close()

    def _device_flow_error(self, result: dict[str, Any]) -> PartnerCenterInsightsError:
        if "access_token" in result:
            return AuthenticationError(
                sign_in_message(
                    "Entra handed out no refresh token",
                    "make sure the app may request offline_access and that the scope is Partner Center's",
                    self._settings,
                )
            )
        return self._errors.from_result(result)  # declined, expired, or any other refusal
