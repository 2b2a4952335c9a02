"""Retry settings: a plain value object, light enough to build when a hook is constructed.

Kept apart from ``_transport`` (which imports ``requests``) so that a bad setting
fails when the hook is created, without paying for the HTTP stack.
"""

from __future__ import annotations

from dataclasses import dataclass


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
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise ValueError(f"retries must be a whole number >= 0, got {self.retries!r}")
        for name in ("backoff_factor", "backoff_max", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
