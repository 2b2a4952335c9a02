"""Clients for the emulator's own tests, all verifying its CA.

``REQUESTS_CA_BUNDLE`` (set on many machines) silently overrides a session's
``verify``, so every client here passes ``verify=`` with each request.
"""

from __future__ import annotations

from typing import Any

import msal
import requests

from airflow_provider_pcinsights.emulator import Emulator

BOM = b"\xef\xbb\xbf"


def strip_bom(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """What any client of the real service must do: JSON may start with a UTF-8 byte-order mark."""
    if kwargs.get("stream"):  # left for the caller to read
        return response
    response.raw_body = response.content  # type: ignore[attr-defined]  # the bytes as sent, BOM included
    if response.content[:3] == BOM:
        response._content = response.content[3:]
    return response


class VerifyingSession(requests.Session):
    """A session that trusts only the emulator's CA, whatever the environment says, and drops the BOM."""

    def __init__(self, ca_path: str) -> None:
        super().__init__()
        self.ca_path = ca_path
        self.hooks["response"].append(strip_bom)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("verify", self.ca_path)
        kwargs.setdefault("timeout", 10)
        return super().request(method, url, *args, **kwargs)


class Api:
    """Calls the Insights API of one emulator with one bearer token."""

    def __init__(self, emulator: Emulator, session: VerifyingSession, token: str) -> None:
        self.emulator = emulator
        self.session = session
        self.token = token

    def call(
        self, method: str, path: str, *, program: str = "mpn", version: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        headers.update(kwargs.pop("headers", {}))
        url = f"{self.emulator.api_url(program, version)}/{path}"
        return self.session.request(method, url, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("PUT", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, **kwargs)


def app_plus_user_token(emulator: Emulator, session: requests.Session) -> requests.Response:
    """Redeem the emulator's refresh token (it carries a multi-factor claim), as MSAL would."""
    data = {
        "grant_type": "refresh_token",
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "refresh_token": emulator.refresh_token,
        "scope": emulator.scope,
    }
    return session.post(f"{emulator.authority}/oauth2/v2.0/token", data=data)


def client_credentials_token(emulator: Emulator, session: requests.Session, **form: str) -> requests.Response:
    """POST the token endpoint directly, as MSAL would for a client secret."""
    data = {
        "grant_type": "client_credentials",
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "scope": emulator.scope,
        **form,
    }
    return session.post(f"{emulator.authority}/oauth2/v2.0/token", data=data)


def msal_app(
    emulator: Emulator, credential: Any, client_id: str | None = None
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        client_id or emulator.client_id,
        client_credential=credential,
        authority=emulator.authority,
        instance_discovery=False,
        http_client=VerifyingSession(emulator.ca_path),
    )


def values(response: requests.Response) -> list[dict[str, Any]]:
    """The records of an envelope, whatever its key case, keyed by their documented (PascalCase) names.

    The shapes on the wire are tested where they matter; elsewhere tests read what the records say.
    """
    body = response.json()
    records = body.get("value", body.get("Value"))
    return [{documented(key): value for key, value in record.items()} for record in records]


def documented(key: str) -> str:
    """``reportId`` -> ``ReportId``; ``" RecurrenceCount"`` keeps its stray space."""
    return key[:1].upper() + key[1:] if not key.startswith(" ") else key
