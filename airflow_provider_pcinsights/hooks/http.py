"""HTTP for the hook: sessions pinned to the connection's TLS, proxies and timeout, bounded retries,
bounded answers, and what a failure below HTTP means.

Every retry of a call that failed on the wire or with a 429 or 5xx is decided here, by
``BoundedRetry``, for the API, the sign-in and the file host alike. Imported lazily by the hook:
it pulls in ``requests`` and ``urllib3``, which a DAG file that merely names an operator should
not pay for at parse time.
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.util.retry import Retry

from airflow_provider_pcinsights.exceptions import (
    NetworkSetupError,
    PartnerCenterInsightsError,
    ServiceUnavailableError,
    redact,
)
from airflow_provider_pcinsights.hooks.answers import Answer, Call
from airflow_provider_pcinsights.hooks.answers import origin as answers_origin
from airflow_provider_pcinsights.hooks.connection import InsightsSettings, RetryPolicy

log = logging.getLogger(__name__)

# Statuses worth another try: throttling and every server-side failure.
RETRY_STATUSES = frozenset({429, *range(500, 600)})
# Idempotent calls only: a repeated POST could create a second report.
API_RETRY_METHODS = frozenset({"GET", "PUT", "DELETE"})
# The token endpoint is safe to ask twice: a second answer just replaces the first.
SIGN_IN_RETRY_METHODS = frozenset({"GET", "POST"})
UTF8_BOM = b"\xef\xbb\xbf"
_READ_SIZE = 64 * 1024
# Connections one API session keeps for reuse: at least the bulk runner's default ceiling
# (``operators.bulk.DEFAULT_CEILING``), or every call above it would open a new TLS connection.
API_POOL_SIZE = 32
# getaddrinfo's "this name does not exist" (not EAI_AGAIN, a resolver that may recover).
_NO_SUCH_NAME = frozenset(
    code for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None)) if code
)


# ---------------------------------------------------------------------------------- failures


def failure_chain(err: BaseException) -> Iterator[BaseException]:
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
    for current in failure_chain(err):
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
    for current in failure_chain(err):
        proxy = getattr(getattr(current, "pool", None), "proxy", None)
        if proxy is not None and getattr(proxy, "host", None):
            port = f":{proxy.port}" if proxy.port else ""
            return f"{proxy.scheme}://{proxy.host}{port}"
    return None


def transport_error(
    err: BaseException,
    *,
    doing: str,
    origin: str,
    secrets: Iterable[str],
    retries: int | str = "every",
    request_id: str | None = None,
    config_error: type[PartnerCenterInsightsError] = NetworkSetupError,
) -> PartnerCenterInsightsError:
    """A failure below HTTP, for the sign-in and the API alike.

    What retrying cannot mend (the host name does not resolve, TLS verification
    failed, the proxy refused) was not retried and names the host and the
    connection setting to check, as ``config_error``; anything else the network
    did, once the retries are spent, is the service being unavailable.
    The host setting named is ``authority_host`` for the sign-in, ``host`` otherwise.
    """
    reason = redact(str(err), secrets)
    host = urlsplit(origin).hostname or origin
    check_verify = "check the connection's verify setting (true, false or a CA bundle path)"
    kind = classify_failure(err)
    if kind == "name_resolution":
        setting = "authority_host" if doing.startswith("sign in") else "host"
        return config_error(
            f"Could not {doing}: the host name {host} does not resolve ({reason}); check the "
            f"connection's {setting} setting (not retried: asking again cannot make it resolve)"
        )
    if kind == "proxy":
        proxy = proxy_of(err)
        return config_error(
            f"Could not {doing}: the proxy{f' {proxy}' if proxy else ''} refused to connect to {host} "
            f"({reason}); check the connection's proxies setting (not retried)"
        )
    if kind == "tls_verification" or isinstance(err, requests.exceptions.SSLError):
        return config_error(
            f"Could not {doing}: TLS verification of {origin} failed ({reason}); {check_verify}"
        )
    if isinstance(err, requests.exceptions.RequestException):
        quote = f"; MS-RequestId {request_id}" if request_id else ""
        return ServiceUnavailableError(
            f"Could not {doing}: {origin} did not answer after {retries} retries "
            f"({type(err).__name__}: {reason}{quote})"
        )
    return config_error(f"Could not {doing}: {reason}; {check_verify}")  # e.g. the CA bundle is gone


# ---------------------------------------------------------------------------------- retries


class BoundedRetry(Retry):
    """urllib3's ``Retry``, made to wait before every retry and to give up at once when it must.

    - urllib3 retries the first failure immediately; Microsoft asks clients to
      "avoid retrying immediately", and a 429 without ``Retry-After`` must still
      wait. Here the k-th retry waits ``backoff_factor * 2 ** (k - 1)`` seconds.
    - Failures retrying cannot mend (``classify_failure``) end the call at once.
    - ``Retry-After`` is clamped to ``max_retry_after``, so a service asking to
      wait an hour cannot stall a task for an hour.
    - ``observers`` (the hook's, see ``add_retry_observer``) hear of every 429, the ones retried
      here too, and are told while this layer sleeps before a retry: a bulk runner slows
      down on throttling it would otherwise never see, and does not count a call
      asleep in its backoff as one on the wire. An observer that fails is logged, not fatal.
    """

    def __init__(
        self,
        *args: Any,
        backoff_max: float = 30.0,
        max_retry_after: float = 60.0,
        observers: Sequence[Any] = (),
        **kwargs: Any,
    ) -> None:
        # ``backoff_max`` is kept here rather than handed to urllib3: 2.x takes it as an argument,
        # 1.26 (which requests 2.31 still allows) refuses it and caps at a class constant instead.
        # ``get_backoff_time`` below is the only reader, on both.
        super().__init__(*args, **kwargs)
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.observers = observers  # the hook's own list: observers added later are heard too

    def new(self, **kw: Any) -> BoundedRetry:
        retry = super().new(**kw)  # urllib3 2.x passes backoff_max back in; 1.26 does not
        retry.backoff_max = self.backoff_max
        retry.max_retry_after = self.max_retry_after
        retry.observers = self.observers
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
        if response is not None and getattr(response, "status", None) == 429:
            # Before retrying (or giving up): the last 429 of a call is a signal too.
            self._tell("on a 429", lambda observer: observer.throttled())
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response: Any = None) -> None:
        with contextlib.ExitStack() as stack:
            self._tell("before a backoff", lambda observer: stack.enter_context(observer.backing_off()))
            super().sleep(response)

    def _tell(self, when: str, act: Callable[[Any], object]) -> None:
        """``act`` on each observer; one that fails is logged and the others still hear."""
        for observer in list(self.observers):
            try:
                act(observer)
            except Exception:
                log.exception("Retry observer %r failed %s", observer, when)

    def get_backoff_time(self) -> float:
        # Every entry of the history is a failure: redirects never reach these retries (see
        # ``new_session``), and no jitter is configured. urllib3 sleeps only after a failure, so
        # the history is never empty here.
        failures = len(self.history)
        return float(max(0.0, min(self.backoff_max, self.backoff_factor * 2 ** (failures - 1))))

    def parse_retry_after(self, retry_after: str) -> float:
        """Seconds (whole or decimal) or an HTTP date, clamped to ``[0, max_retry_after]``.

        A header urllib3 cannot read would otherwise abort the call; it falls back
        to the exponential backoff instead.
        """
        try:
            seconds = float(retry_after)
        except ValueError:
            try:
                seconds = float(super().parse_retry_after(retry_after))
            except Exception:
                return 0.0
        return min(seconds, self.max_retry_after) if seconds > 0 else 0.0  # NaN and below 0 too


# ---------------------------------------------------------------------------------- sessions


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
        self.pinned_verify = verify
        self.pinned_proxies = dict(proxies or {})
        self.timeout = timeout
        self.environment_proxies: dict[str, dict[str, str]] = {}
        self.hooks["response"].append(_skip_byte_order_mark)

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["verify"] = self.pinned_verify
        kwargs["allow_redirects"] = False
        from_environment = self._proxies_from_environment(url if isinstance(url, str) else url.decode())
        kwargs["proxies"] = {**from_environment, **self.pinned_proxies, **(kwargs.get("proxies") or {})}
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)

    def _proxies_from_environment(self, url: str) -> dict[str, str]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        cached = self.environment_proxies.get(origin)
        if cached is None:
            cached = self.environment_proxies[origin] = dict(requests.utils.get_environ_proxies(origin))
        return cached


def _skip_byte_order_mark(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """Read a body that starts with a UTF-8 byte-order mark as ``utf-8-sig`` (the sign-in's, read by MSAL).

    Partner Center and Entra may start JSON with one while declaring ``charset=utf-8``;
    ``requests`` then decodes it into the text and ``json`` refuses it. Streamed bodies (the
    API's, the files') are left to their readers.
    """
    if not kwargs.get("stream") and response.content[:3] == UTF8_BOM:
        response.encoding = "utf-8-sig"
    return response


def new_session(
    settings: InsightsSettings,
    policy: RetryPolicy,
    *,
    retry_methods: Collection[str],
    user_agent: str,
    observers: Sequence[Any] = (),
    pool_maxsize: int = 16,
) -> PinnedSession:
    """A session with the connection's verify, proxies and timeout, and ``policy``'s retries."""
    session = PinnedSession(verify=settings.verify, proxies=settings.proxies, timeout=settings.timeout)
    # Redirects never reach urllib3's retries: requests asks urllib3 not to follow them, and the
    # session hands them back (``PinnedSession``). Retry-After is honoured, as by default.
    retry = BoundedRetry(
        total=policy.retries,
        other=0,
        allowed_methods=frozenset(retry_methods),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=policy.backoff_factor,
        backoff_max=policy.backoff_max,
        # Hand back the last answer so it is mapped to a typed error with the service's message.
        raise_on_status=False,
        max_retry_after=policy.max_retry_after,
        observers=observers,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=pool_maxsize)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


# ---------------------------------------------------------------------------------- one call


def fetch(
    session: PinnedSession,
    method: str,
    url: str,
    params: Mapping[str, str] | None,
    token: str,
    call: Call,
    *,
    secrets: Iterable[str],
    retries: int,
) -> Answer:
    """One API call, retried by the session's adapter, with its body bounded in time as a whole.

    Each read of the socket is bounded by the session's timeout, and so is the whole body: a
    service trickling its answer byte by byte (each byte well within the read timeout) cannot
    hold the task longer than that. A failure below HTTP is the typed error ``transport_error``
    words; an answer that did not arrive in full is ``ServiceUnavailableError``.
    """
    doing, request_id = call.action, str(uuid.uuid4())
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "MS-RequestId": request_id,
        "Authorization": f"Bearer {token}",
    }
    log.debug("%s %s (MS-RequestId %s)", method, url, request_id)
    origin = answers_origin(url) or url
    try:
        response = session.request(method, url, params=params, headers=headers, stream=True)
    except OSError as err:  # TLS, the network, the proxy, or the CA bundle named by ``verify``
        raise transport_error(
            err, doing=doing, origin=origin, secrets=secrets, retries=retries, request_id=request_id
        ) from None
    # The whole body has a deadline (the shared watchdog) that shuts the connection's socket down,
    # which ends a read in progress: urllib3 1.26's ``read(n)`` waits for all ``n`` bytes, however
    # slowly they trickle. Only public attributes are used: the response's ``connection``, its
    # ``sock`` and ``tell()``.
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = getattr(response.raw.connection, "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    chunks: list[bytes] = []
    broke: BaseException | None = None
    try:
        deadline = _WATCHDOG.call_at(time.monotonic() + session.timeout, expire)
        try:
            for chunk in response.raw.stream(_READ_SIZE, decode_content=True):
                chunks.append(chunk)
        except (Urllib3Error, OSError, http.client.HTTPException) as err:
            broke = err
        finally:
            _WATCHDOG.cancel(deadline)
        length, read = response.headers.get("Content-Length", ""), response.raw.tell()
    finally:
        response.close()
    if expired.is_set() or isinstance(broke, TimeoutError) or "timed out" in str(broke).lower():
        what = f"did not arrive in full within {session.timeout:g} s (the connection's timeout bounds it)"
    elif broke is not None:
        what = f"was cut off: {redact(f'the connection broke ({type(broke).__name__}: {broke})', secrets)}"
    elif length.isdigit() and read < int(length):  # urllib3 1.26 does not check it
        what = f"was cut off: the connection broke after {read} of {length} bytes"
    else:
        return Answer(
            status=response.status_code,
            headers={name.lower(): value for name, value in response.headers.items()},
            body=b"".join(chunks),
            url=response.url,
            request_id=request_id,
        )
    raise ServiceUnavailableError(
        f"Could not {doing}: the answer from {origin} {what}; {sum(map(len, chunks))} bytes came "
        f"(MS-RequestId {request_id})",
        report_id=call.report_id,
    )


class _Watchdog:
    """One daemon thread that runs each callback when its deadline comes, unless cancelled first.

    Every answer's body has a deadline; a ``threading.Timer`` per answer started a thread per call
    (about 0.7 ms each, a third of the provider's own cost per call in ``make bench``). A callback
    runs under the lock that ``cancel`` takes, so once ``cancel`` returns it can no longer run: a
    late one must not shut down a socket already handed back to the pool for another call.
    """

    def __init__(self) -> None:
        self._due: list[list[Any]] = []  # heap of [when, sequence, callback or None if cancelled]
        self._lock = threading.Condition()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def call_at(self, when: float, callback: Callable[[], None]) -> list[Any]:
        entry = [when, next(self._order), callback]
        with self._lock:
            heapq.heappush(self._due, entry)
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked child
                self._thread = threading.Thread(target=self._run, name="pcinsights-deadlines", daemon=True)
                self._thread.start()
            elif self._due[0] is entry:  # only an earlier deadline than any before needs the thread awake
                self._lock.notify()
        return entry

    def cancel(self, entry: list[Any]) -> None:
        with self._lock:
            entry[2] = None

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._due and self._due[0][2] is None:
                    heapq.heappop(self._due)
                delay = self._due[0][0] - time.monotonic() if self._due else None
                if delay is None or delay > 0:
                    self._lock.wait(delay)
                    continue
                callback = heapq.heappop(self._due)[2]
                with contextlib.suppress(Exception):
                    callback()


_WATCHDOG = _Watchdog()
