"""HTTP sessions with pinned TLS/proxy/timeout settings, bounded retries and bounded bodies.

Imported lazily by the hook: it pulls in ``requests`` and ``urllib3``, which a
DAG file that merely names an operator should not pay for at parse time.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from itertools import takewhile
from random import random
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.util.retry import Retry

from airflow_provider_pcinsights.hooks._answers import Answer
from airflow_provider_pcinsights.hooks._retry_policy import RetryPolicy

# Statuses worth another try: throttling and every server-side failure.
RETRY_STATUSES = frozenset({429, *range(500, 600)})
# Idempotent calls only: a repeated POST could create a second report.
API_RETRY_METHODS = frozenset({"GET", "PUT", "DELETE"})
# The token endpoint is safe to ask twice: a second answer just replaces the first.
SIGN_IN_RETRY_METHODS = frozenset({"GET", "POST"})

UTF8_BOM = b"\xef\xbb\xbf"
# requests 2.31 and later accept urllib3 1.26 as well as 2.x; the few places that differ check this.
URLLIB3_1 = urllib3.__version__.split(".")[0] == "1"
_READ_SIZE = 64 * 1024
# Connections one API session keeps for reuse: at least the bulk runner's default ceiling
# (``adaptive_limit.DEFAULT_CEILING``), or every call above it would open a new TLS connection.
API_POOL_SIZE = 32
# getaddrinfo's "this name does not exist" (not EAI_AGAIN, a resolver that may recover).
_NO_SUCH_NAME = frozenset(
    code for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None)) if code
)


# ---------------------------------------------------------------------------------- failures


def _chain(err: BaseException) -> Iterator[BaseException]:
    """The error and every error behind it: causes, contexts, and what urllib3 and requests wrap."""
    pending: list[Any] = [err]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [
            getattr(current, "reason", None),
            getattr(current, "original_error", None),
            *current.args,
            current.__cause__,
            current.__context__,
        ]


def _raised_while_opening_a_tunnel(err: BaseException) -> bool:
    """Whether the error came up through ``http.client``'s CONNECT to a proxy: the proxy closed on us."""
    trace = err.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_name == "_tunnel":
            return True
        trace = trace.tb_next
    return False


def classify_failure(err: BaseException) -> str | None:
    """``name_resolution``, ``proxy`` or ``tls_verification`` for failures retrying cannot mend; else None.

    A name that does not exist stays so; a certificate that does not verify and a
    proxy that refuses the tunnel answer the same way on the next try. A resolver
    that is briefly down (``EAI_AGAIN``) is not among them.
    """
    for current in _chain(err):
        if isinstance(current, (Urllib3ProxyError, requests.exceptions.ProxyError)):
            return "proxy"
        if _raised_while_opening_a_tunnel(current):
            return "proxy"
        if isinstance(current, socket.gaierror) and current.errno in _NO_SUCH_NAME:
            return "name_resolution"
        if isinstance(current, ssl.SSLCertVerificationError) or type(current).__name__ == "CertificateError":
            return "tls_verification"
    return None


def proxy_of(err: BaseException) -> str | None:
    """The proxy a failed call went through, as ``scheme://host:port`` (never its credentials)."""
    for current in _chain(err):
        proxy = getattr(getattr(current, "pool", None), "proxy", None)
        if proxy is not None and getattr(proxy, "host", None):
            port = f":{proxy.port}" if proxy.port else ""
            return f"{proxy.scheme}://{proxy.host}{port}"
    return None


# ---------------------------------------------------------------------------------- retries


class BoundedRetry(Retry):
    """urllib3's ``Retry``, made to wait before every retry and to give up at once when it must.

    - urllib3 retries the first failure immediately; Microsoft asks clients to
      "avoid retrying immediately", and a 429 without ``Retry-After`` must still
      wait. Here the k-th retry waits ``backoff_factor * 2 ** (k - 1)`` seconds.
    - Failures retrying cannot mend (``classify_failure``) end the call at once.
    - ``Retry-After`` is clamped to ``max_retry_after``, so a service asking to
      wait an hour cannot stall a task for an hour.
    - ``observer`` (``_retry_observers.RetryObservers``) hears of every 429, the ones retried here
      too, and is told while this layer sleeps before a retry: a bulk runner slows
      down on throttling it would otherwise never see, and does not count a call
      asleep in its backoff as one on the wire.
    """

    def __init__(
        self,
        *args: Any,
        backoff_max: float = 30.0,
        max_retry_after: float = 60.0,
        observer: Any = None,
        **kwargs: Any,
    ) -> None:
        # ``backoff_max`` is kept here rather than handed to urllib3: 2.x takes it as an argument,
        # 1.26 (which requests 2.31 still allows) refuses it and caps at a class constant instead.
        # ``get_backoff_time`` below is the only reader, on both.
        super().__init__(*args, **kwargs)
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.observer = observer

    def new(self, **kw: Any) -> BoundedRetry:
        retry = super().new(**kw)  # urllib3 2.x passes backoff_max back in; 1.26 does not
        retry.backoff_max = self.backoff_max
        retry.max_retry_after = self.max_retry_after
        retry.observer = self.observer
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> BoundedRetry:
        if error is not None and classify_failure(error):
            raise MaxRetryError(_pool, url, error) from error
        if response is not None and getattr(response, "status", None) == 429 and self.observer is not None:
            # Before retrying (or giving up): the last 429 of a call is a signal too.
            self.observer.throttled()
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response: Any = None) -> None:
        if self.observer is None:
            super().sleep(response)
            return
        with self.observer.backing_off():
            super().sleep(response)

    def get_backoff_time(self) -> float:
        failures = len(list(takewhile(lambda h: h.redirect_location is None, reversed(self.history))))
        if failures == 0:
            return 0.0
        backoff = self.backoff_factor * 2 ** (failures - 1)
        jitter = getattr(self, "backoff_jitter", 0.0)
        if jitter:
            backoff += random() * jitter
        return float(max(0.0, min(self.backoff_max, backoff)))

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


def build_retry(policy: RetryPolicy, methods: Collection[str], observer: Any = None) -> BoundedRetry:
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
        observer=observer,
    )


# ---------------------------------------------------------------------------------- sessions


def strip_byte_order_mark(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """Drop a UTF-8 byte-order mark from a body read in full (the sign-in's, read by MSAL).

    Partner Center and Entra may start JSON with one while declaring
    ``charset=utf-8``; ``requests`` then decodes it into the text and ``json``
    refuses it. Streamed bodies (the API's) are left to ``read_answer``.
    """
    if not kwargs.get("stream") and response.content[:3] == UTF8_BOM:
        response._content = response.content[3:]
    return response


class PinnedSession(requests.Session):
    """A session that applies its TLS, proxy and timeout settings to every request, and follows no redirect.

    ``requests`` lets the ``REQUESTS_CA_BUNDLE`` environment variable override
    ``Session.verify`` and has no session-wide timeout at all; passing them with
    each request is the only way they hold, including for the requests MSAL makes
    through this session. Neither the API nor Entra's token endpoint redirects; a
    redirect would take the call elsewhere: on a 307 ``requests`` posts the sign-in
    form (client secret, refresh token) again to wherever ``Location`` says, and
    reads any host's answer as the service's. The 3xx is handed back instead.

    The environment's proxies (``HTTPS_PROXY``, ``NO_PROXY``...) still apply, below the
    connection's own, but are read once per host rather than at every call: ``requests``
    walks the whole environment twice a call otherwise, a cost a bulk action of hundreds
    of calls feels (``trust_env`` is off for that reason; it also keeps ``~/.netrc`` out).
    """

    def __init__(self, *, verify: bool | str, proxies: Mapping[str, str] | None, timeout: float) -> None:
        super().__init__()
        self.trust_env = False
        self._pinned_verify = verify
        self._pinned_proxies = dict(proxies or {})
        self._pinned_timeout = timeout
        self._environment_proxies: dict[str, dict[str, str]] = {}
        self.hooks["response"].append(strip_byte_order_mark)

    @property
    def timeout(self) -> float:
        return self._pinned_timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["verify"] = self._pinned_verify
        kwargs["allow_redirects"] = False
        from_environment = self._proxies_from_environment(url if isinstance(url, str) else url.decode())
        if self._pinned_proxies or from_environment or kwargs.get("proxies"):
            kwargs["proxies"] = {**from_environment, **self._pinned_proxies, **(kwargs.get("proxies") or {})}
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._pinned_timeout
        return super().request(method, url, *args, **kwargs)

    def _proxies_from_environment(self, url: str) -> dict[str, str]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        cached = self._environment_proxies.get(origin)
        if cached is None:
            cached = self._environment_proxies[origin] = dict(requests.utils.get_environ_proxies(origin))
        return cached


def new_session(
    *,
    verify: bool | str,
    proxies: Mapping[str, str] | None,
    timeout: float,
    policy: RetryPolicy,
    retry_methods: Collection[str],
    user_agent: str,
    observer: Any = None,
    pool_maxsize: int = 16,
) -> PinnedSession:
    session = PinnedSession(verify=verify, proxies=proxies, timeout=timeout)
    adapter = HTTPAdapter(
        max_retries=build_retry(policy, retry_methods, observer),
        pool_connections=4,
        pool_maxsize=pool_maxsize,
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    if URLLIB3_1:
        # Bodies are read a socket read at a time to bound them in time (``_one_socket_read``); on
        # urllib3 1.26 only an undecoded body can be, so ask for none to be encoded.
        session.headers["Accept-Encoding"] = "identity"
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


# ---------------------------------------------------------------------------------- one call


class AnswerNotReceived(Exception):
    """The status and headers came, the whole body did not: too slow, or the connection broke."""

    def __init__(self, why: str, *, received: int, within: float) -> None:
        super().__init__(why)
        self.why = why
        self.received = received
        self.within = within


def fetch(
    session: PinnedSession,
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | None,
    headers: Mapping[str, str],
    auth: requests.auth.AuthBase,
    request_id: str,
) -> Answer:
    """One call, retried by the session's adapter, with its body bounded in time as a whole.

    Each read of the socket is bounded by the session's timeout, and so is the
    whole body: a service trickling its answer byte by byte (each byte well
    within the read timeout) cannot hold the task longer than that.
    """
    response = session.request(method, url, params=params, headers=dict(headers), auth=auth, stream=True)
    try:
        body = _read_body(response, within=session.timeout)
    finally:
        response.close()
    return Answer(
        status=response.status_code,
        headers={name.lower(): value for name, value in response.headers.items()},
        body=body,
        url=response.url,
        request_id=request_id,
    )


def _read_body(response: requests.Response, *, within: float) -> bytes:
    deadline = time.monotonic() + within
    sock = _socket_of(response)
    read_timeout = sock.gettimeout() if sock is not None else None
    read = _one_socket_read(response.raw)
    chunks: list[bytes] = []
    received = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AnswerNotReceived("too slow", received=received, within=within)
            if sock is not None:
                sock.settimeout(remaining if read_timeout is None else min(remaining, read_timeout))
            chunk = read(_READ_SIZE)
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
    except (Urllib3Error, OSError, http.client.HTTPException) as err:
        slow = isinstance(err, TimeoutError) or "timed out" in str(err).lower()
        why = "too slow" if slow else f"the connection broke ({type(err).__name__}: {err})"
        raise AnswerNotReceived(why, received=received, within=within) from err
    if sock is not None:
        sock.settimeout(read_timeout)
    if URLLIB3_1 and read is not response.raw.read:
        response.raw.read()  # at the end already: lets urllib3 1.26 hand the connection back to its pool
    return b"".join(chunks)


def _one_socket_read(raw: Any) -> Callable[[int], bytes]:
    """A read returning whatever one read of the socket brings (at most ``n`` bytes), so the deadline
    between reads bounds the whole body. urllib3 2 has ``read1``; urllib3 1.26 (which requests 2.31
    still allows) has not, and its ``read(n)`` waits for all ``n`` bytes, however slowly they trickle.
    There, the answer's own ``http.client`` response is read (undecoded: on 1.26 the sessions ask for
    ``identity``, see ``new_session``); a body encoded all the same falls back to ``read(n)``."""
    read1 = getattr(raw, "read1", None)
    if read1 is not None:
        return read1
    undecoded = getattr(raw, "_fp", None)
    encoding = (raw.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity" or not isinstance(undecoded, http.client.HTTPResponse):
        return raw.read

    def read1(n: int) -> bytes:
        chunk = undecoded.read1(n)
        if not chunk and (undecoded.length or 0) > 0:  # the connection closed before Content-Length
            raise http.client.IncompleteRead(b"", undecoded.length)
        return chunk

    return read1


def _socket_of(response: requests.Response) -> socket.socket | None:
    connection = getattr(response.raw, "connection", None) or getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None
