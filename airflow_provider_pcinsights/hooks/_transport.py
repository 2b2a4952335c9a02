"""HTTP sessions with pinned TLS/proxy/timeout settings and bounded retries.

Imported lazily by the hook: it pulls in ``requests`` and ``urllib3``, which a
DAG file that merely names an operator should not pay for at parse time.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from airflow_provider_pcinsights.hooks._retry_policy import RetryPolicy

# Statuses worth another try: throttling and every server-side failure.
RETRY_STATUSES = frozenset({429, *range(500, 600)})
# Idempotent calls only: a repeated POST could create a second report.
API_RETRY_METHODS = frozenset({"GET", "PUT", "DELETE"})
# The token endpoint is safe to ask twice: a second answer just replaces the first.
SIGN_IN_RETRY_METHODS = frozenset({"GET", "POST"})


class BoundedRetry(Retry):
    """urllib3's ``Retry`` with a cap on ``Retry-After`` that works on every urllib3.

    urllib3 2.x has ``retry_after_max`` but 1.26 has not; clamping here keeps one
    behaviour whichever is installed, so a service asking to wait an hour cannot
    stall a task for an hour.
    """

    def __init__(self, *args: Any, max_retry_after: float = 60.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_retry_after = max_retry_after

    def new(self, **kw: Any) -> BoundedRetry:
        retry = super().new(**kw)
        retry.max_retry_after = self.max_retry_after
        return retry

    def parse_retry_after(self, retry_after: str) -> float:
        """Seconds (whole or decimal) or an HTTP date, clamped to ``[0, max_retry_after]``.

        A header urllib3 cannot read would otherwise abort the call; it falls back
        to the exponential backoff instead.
        """
        try:
            seconds = float(retry_after.strip())
        except ValueError:
            try:
                seconds = float(super().parse_retry_after(retry_after))
            except Exception:
                return 0.0
        if seconds != seconds:  # NaN
            return 0.0
        return min(max(seconds, 0.0), self.max_retry_after)


def build_retry(policy: RetryPolicy, methods: Collection[str]) -> BoundedRetry:
    return BoundedRetry(
        total=policy.retries,
        connect=policy.retries,
        read=policy.retries,
        status=policy.retries,
        other=0,
        redirect=0,
        allowed_methods=frozenset(methods),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=policy.backoff_factor,
        backoff_max=policy.backoff_max,
        respect_retry_after_header=True,
        # Hand back the last answer so it is mapped to a typed error with the service's message.
        raise_on_status=False,
        raise_on_redirect=False,
        max_retry_after=policy.max_retry_after,
    )


class PinnedSession(requests.Session):
    """A session that applies its TLS, proxy and timeout settings to every request.

    ``requests`` lets the ``REQUESTS_CA_BUNDLE`` environment variable override
    ``Session.verify`` and has no session-wide timeout at all; passing them with
    each request is the only way they hold, including for the requests MSAL makes
    through this session.
    """

    def __init__(self, *, verify: bool | str, proxies: Mapping[str, str] | None, timeout: float) -> None:
        super().__init__()
        self._pinned_verify = verify
        self._pinned_proxies = dict(proxies or {})
        self._pinned_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["verify"] = self._pinned_verify
        if self._pinned_proxies:
            kwargs["proxies"] = {**self._pinned_proxies, **(kwargs.get("proxies") or {})}
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._pinned_timeout
        return super().request(method, url, *args, **kwargs)


def new_session(
    *,
    verify: bool | str,
    proxies: Mapping[str, str] | None,
    timeout: float,
    policy: RetryPolicy,
    retry_methods: Collection[str],
    user_agent: str,
) -> PinnedSession:
    session = PinnedSession(verify=verify, proxies=proxies, timeout=timeout)
    adapter = HTTPAdapter(max_retries=build_retry(policy, retry_methods), pool_connections=4, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


class BearerAuth(requests.auth.AuthBase):
    """Sets the bearer token; passing it as ``auth`` also stops ``~/.netrc`` from replacing it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"
