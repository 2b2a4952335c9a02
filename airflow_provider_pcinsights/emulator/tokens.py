"""Tokens the emulator has issued: opaque random strings it remembers, never a JWT to decode.

Opaque tokens keep clients honest (they cannot peek at claims) and let tests
revoke or expire them at will.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class AccessToken:
    client_id: str
    grant_type: str
    resource: str
    expires_at: float  # time.monotonic()
    revoked: bool = False
    mfa: bool = False  # App+User: the user's sign-in passed multi-factor authentication

    @property
    def app_only(self) -> bool:
        """Issued to the app alone (client credentials), not to a user through it (App+User)."""
        return self.grant_type == "client_credentials"


@dataclass
class RefreshToken:
    client_id: str
    expires_at: float | None  # None: never
    revoked: bool = False
    mfa: bool = True  # the sign-in that minted it passed multi-factor authentication


class TokenRegistry:
    """Issue and check access and refresh tokens; safe from any thread."""

    def __init__(self, lifetime: int = 3599) -> None:
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        # Refresh tokens revoked for their user (a password change, "revoke sessions"): AADSTS50173.
        self._revoked_for_user: set[str] = set()

    def issue_access_token(self, client_id: str, grant_type: str, resource: str, mfa: bool = False) -> str:
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._access[token] = AccessToken(
                client_id, grant_type, resource, time.monotonic() + self.lifetime, mfa=mfa
            )
        return token

    def register_refresh_token(
        self, token: str, client_id: str, lifetime: float | None = None, mfa: bool = True
    ) -> None:
        expires = None if lifetime is None else time.monotonic() + lifetime
        with self._lock:
            self._refresh[token] = RefreshToken(client_id, expires, mfa=mfa)

    def issue_refresh_token(self, client_id: str, mfa: bool = True) -> str:
        token = "0.emu." + secrets.token_urlsafe(64)
        self.register_refresh_token(token, client_id, lifetime=90 * 24 * 3600, mfa=mfa)
        return token

    def refresh_token_mfa(self, token: str) -> bool:
        """Whether the sign-in behind this refresh token passed multi-factor authentication."""
        with self._lock:
            info = self._refresh.get(token)
        return bool(info and info.mfa)

    def check_access_token(self, token: str) -> tuple[AccessToken | None, str]:
        """The token's details, or ``None`` with the reason it is refused."""
        with self._lock:
            info = self._access.get(token)
        if info is None:
            return None, "the access token is not one this service issued"
        if info.revoked:
            return None, "the access token has been revoked"
        if time.monotonic() >= info.expires_at:
            return None, "the access token has expired"
        return info, ""

    def check_refresh_token(self, token: str, client_id: str) -> tuple[bool, str]:
        """Whether the refresh token may be redeemed by this client; the AADSTS reason if not."""
        with self._lock:
            info = self._refresh.get(token)
        if info is None or info.client_id != client_id:
            return False, "unknown"
        if token in self._revoked_for_user:
            return False, "revoked"
        if info.revoked or (info.expires_at is not None and time.monotonic() >= info.expires_at):
            return False, "expired"
        return True, ""

    def snapshot(self) -> dict[str, Any]:
        """Every token and its state, to survive a restart of the emulator's process (see ``persistence``).

        Expiry times are ``time.monotonic()`` values: the same clock for every process of one machine.
        """
        with self._lock:
            return {
                "access": dict(self._access),
                "refresh": dict(self._refresh),
                "revoked_for_user": set(self._revoked_for_user),
            }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Know the tokens of ``snapshot`` again, besides those registered since."""
        with self._lock:
            self._access.update(snapshot["access"])
            self._refresh.update(snapshot["refresh"])
            self._revoked_for_user.update(snapshot["revoked_for_user"])

    def known_tokens(self) -> list[str]:
        """Every access and refresh token issued or registered so far: what a leak search looks for."""
        with self._lock:
            return [*self._access, *self._refresh]

    def revoke_access_tokens(self) -> None:
        with self._lock:
            for info in self._access.values():
                info.revoked = True

    def expire_access_tokens(self) -> None:
        with self._lock:
            for info in self._access.values():
                info.expires_at = 0.0

    def expire_refresh_tokens(self) -> None:
        with self._lock:
            for info in self._refresh.values():
                info.revoked = True

    def revoke_refresh_tokens_for_user(self) -> None:
        """Every refresh token known so far is revoked, as after the user's password changed."""
        with self._lock:
            self._revoked_for_user.update(self._refresh)

    def expire_refresh_token(self, token: str) -> None:
        """This one refresh token is now past its expiry; ``KeyError`` if never issued nor registered."""
        with self._lock:
            info = self._refresh.get(token)
            if info is None:
                raise KeyError("no such refresh token (never issued nor registered)")
            info.expires_at = 0.0
