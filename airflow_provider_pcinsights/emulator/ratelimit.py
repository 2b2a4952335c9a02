"""A token bucket: the service's rate limit, played per tenant (the emulator plays one tenant).

Partner Center's limits for these endpoints are undocumented; Microsoft's
guidance only says a 429 comes with ``Retry-After`` in seconds ("Try again in
57 seconds"). A bucket is the usual shape of such a limit: ``burst`` calls at
once, then ``rate`` calls per second. A refused call takes no token, and its
``Retry-After`` is the whole seconds until a token is back (at least 1), as the
service words it; whether the header is sent at all follows
``behaviour.retry_after_header`` like every other 429.
"""

from __future__ import annotations

import math
import threading
import time


class TokenBucket:
    """``burst`` calls at once, refilled at ``rate`` per second; thread-safe."""

    def __init__(self, rate: float, burst: int | None = None, *, clock=time.monotonic) -> None:
        rate = _positive(rate, "rate")
        if burst is None:
            burst = max(1, math.ceil(rate))  # one second's worth
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be a whole number >= 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()
        self.allowed = 0
        self.refused = 0

    def take(self) -> float | None:
        """Spend a token: ``None`` if there was one, else the seconds until there will be."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                self.allowed += 1
                return None
            self.refused += 1
            return (1.0 - self._tokens) / self.rate

    def describe(self) -> dict[str, float | int]:
        return {"rate": self.rate, "burst": self.burst, "allowed": self.allowed, "refused": self.refused}


def retry_after_seconds(wait: float) -> int:
    """What the service would say: whole seconds, at least 1."""
    return max(1, math.ceil(wait))


def _positive(value: object, name: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite number > 0 (calls per second), got {value!r}")
    return number
