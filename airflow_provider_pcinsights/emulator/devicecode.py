"""Entra's device-code flow: codes a person approves or declines in a browser, and the polls that wait.

``POST {tenant}/oauth2/v2.0/devicecode`` hands out a device code and a user
code; the client then polls the token endpoint with the device-code grant. Each
poll answers what Entra answers: ``authorization_pending`` until the person
acts, ``slow_down`` when asked to (RFC 8628; the client must then poll less
often), ``expired_token`` once the code's time is up, ``authorization_declined``
when the person says no, and the tokens (a refresh token among them) once
approved; a code is redeemed once. Tests stand in for the person with
``approve(user_code)`` / ``decline(user_code)`` (or ``POST /_emulator/device-codes``).
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass, field

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# Entra's user codes are nine characters of upper-case letters and digits.
_USER_CODE_ALPHABET = string.ascii_uppercase + string.digits


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float  # time.monotonic()
    interval: int
    state: str = "pending"  # pending | approved | declined | redeemed
    polls: int = 0
    user: str | None = None


@dataclass
class PollOutcome:
    """What one poll of the token endpoint gets: an error name, or ``approved`` with the code."""

    # authorization_pending | slow_down | expired_token | authorization_declined | bad_code | approved
    kind: str
    code: DeviceCode | None = None


@dataclass
class DeviceCodes:
    """Every device code handed out, by device code; safe from any thread."""

    lifetime: int = 900
    interval: int = 5
    _codes: dict[str, DeviceCode] = field(default_factory=dict)
    _slow_downs: int = 0
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def issue(self, client_id: str, scope: str) -> DeviceCode:
        code = DeviceCode(
            device_code="DAQABAAEAAAD--" + secrets.token_urlsafe(96),
            user_code="".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9)),
            client_id=client_id,
            scope=scope,
            expires_at=time.monotonic() + self.lifetime,
            interval=self.interval,
        )
        with self._lock:
            self._codes[code.device_code] = code
            self._lock.notify_all()
        return code

    def poll(self, device_code: str, client_id: str) -> PollOutcome:
        with self._lock:
            code = self._codes.get(device_code)
            if code is None or code.client_id != client_id or code.state == "redeemed":
                return PollOutcome("bad_code")
            code.polls += 1
            self._lock.notify_all()
            if code.state == "declined":
                return PollOutcome("authorization_declined", code)
            if time.monotonic() >= code.expires_at:
                return PollOutcome("expired_token", code)
            if self._slow_downs > 0:
                self._slow_downs -= 1
                return PollOutcome("slow_down", code)
            if code.state == "approved":
                code.state = "redeemed"
                return PollOutcome("approved", code)
            return PollOutcome("authorization_pending", code)

    # -- the person at the browser, and the clock ------------------------------
    def approve(self, user_code: str, user: str = "report.viewer@contoso.onmicrosoft.com") -> None:
        """The person signed in (with multi-factor authentication) and approved the code."""
        self._set(user_code, "approved", user=user)

    def decline(self, user_code: str) -> None:
        """The person answered "No, cancel" to the sign-in prompt."""
        self._set(user_code, "declined")

    def expire(self, user_code: str) -> None:
        """The code's fifteen minutes are up."""
        with self._lock:
            self._by_user_code(user_code).expires_at = 0.0

    def slow_down(self, count: int = 1) -> None:
        """The next ``count`` polls of any code answer ``slow_down``."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        with self._lock:
            self._slow_downs += count

    def pending(self) -> list[str]:
        """User codes still waiting for the person, oldest first."""
        with self._lock:
            return [c.user_code for c in self._codes.values() if c.state == "pending"]

    def wait_for_code(self, timeout: float = 10.0) -> str:
        """The newest pending user code, once a client has asked for one (``TimeoutError`` if none)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                waiting = [c.user_code for c in self._codes.values() if c.state == "pending"]
                if waiting:
                    return waiting[-1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no device code was requested within {timeout} s")
                self._lock.wait(remaining)

    def wait_for_polls(self, user_code: str, count: int = 1, timeout: float = 10.0) -> None:
        """Return once the client has polled this code ``count`` times (``TimeoutError`` if not in time)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._by_user_code(user_code).polls < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"user code {user_code} was not polled {count} time(s) in {timeout} s")
                self._lock.wait(remaining)

    def polls(self, user_code: str) -> int:
        with self._lock:
            return self._by_user_code(user_code).polls

    def _set(self, user_code: str, state: str, user: str | None = None) -> None:
        with self._lock:
            code = self._by_user_code(user_code)
            if code.state != "pending":
                raise ValueError(f"user code {user_code} is already {code.state}")
            code.state = state
            code.user = user

    def _by_user_code(self, user_code: str) -> DeviceCode:
        for code in self._codes.values():
            if code.user_code == user_code.strip().upper():
                return code
        raise KeyError(f"no device code with user code {user_code!r}")
