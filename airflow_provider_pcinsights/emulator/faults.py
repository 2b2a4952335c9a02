"""Fault injection: the failures a client must survive, on demand and in order.

Faults are queued: each ``fail``/``throttle``/... call adds a rule that
answers the next ``count`` calls whose path contains ``path``. Rules are used
up in the order they were added. On top of the queue, ``latency`` slows every
call and ``error_rate`` turns a share of calls into 5xx answers, drawn from a
seeded RNG so a failing run can be replayed.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from typing import Any

FAULT_KINDS = ("fail", "throttle", "drop", "hang", "error_in_body", "html", "json_body")


@dataclass
class Fault:
    """One fault to apply to one call."""

    kind: str
    status: int = 500
    retry_after: float = 1
    seconds: float = 0
    then: str = "answer"  # after a hang: "answer" or "close"
    message: str | None = None
    body: Any = None  # json_body: the JSON value to answer with

    def describe(self) -> str:
        if self.kind == "fail":
            return f"fail:{self.status}"
        if self.kind == "throttle":
            return f"throttle:{self.retry_after:g}"
        if self.kind == "hang":
            return f"hang:{self.seconds:g}:{self.then}"
        if self.kind in ("error_in_body", "html", "json_body"):
            return f"{self.kind}:{self.status}"
        return self.kind


@dataclass
class _Rule:
    fault: Fault
    remaining: int
    path: str | None

    def matches(self, path: str, is_token_call: bool) -> bool:
        if self.path is not None:
            return self.path in path
        return not is_token_call


class Faults:
    """The fault queue of one emulator; every method is safe to call from any thread.

    Without a ``path`` filter a rule applies to Insights API calls only; give a
    path such as ``"/oauth2/v2.0/token"`` to make the token endpoint fail.
    """

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._seed = seed
        self._rng = random.Random(seed)
        self._latency = 0.0
        self._error_rate = 0.0
        self.error_rate_status = 503
        self._throttle_every = 0
        self._throttle_every_retry_after = 1.0
        self._api_calls = 0

    # -- knobs -----------------------------------------------------------
    @property
    def latency(self) -> float:
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        seconds = float(seconds)
        if seconds < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {seconds}")
        self._latency = seconds

    @property
    def error_rate(self) -> float:
        return self._error_rate

    @error_rate.setter
    def error_rate(self, rate: float) -> None:
        rate = float(rate)
        if not 0 <= rate <= 1:
            raise ValueError(f"error_rate must be between 0 and 1, got {rate}")
        self._error_rate = rate

    def throttle_every(self, every: int, retry_after: float = 1) -> None:
        """Answer every ``every``-th API call with 429 (0 turns it off), like a steady rate limit."""
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise ValueError(f"throttle_every must be a non-negative integer, got {every!r}")
        if float(retry_after) < 0:
            raise ValueError(f"retry_after must be >= 0, got {retry_after}")
        with self._lock:
            self._throttle_every = every
            self._throttle_every_retry_after = float(retry_after)
            self._api_calls = 0

    # -- queued faults ----------------------------------------------------
    def fail(
        self, count: int = 1, status: int = 503, path: str | None = None, message: str | None = None
    ) -> None:
        """The next ``count`` matching calls answer ``status`` with the service's JSON envelope."""
        if not 400 <= int(status) <= 599:
            raise ValueError(f"fail status must be an HTTP error (400..599), got {status}")
        self._add(Fault("fail", status=int(status), message=message), count, path)

    def throttle(self, count: int = 1, retry_after: float = 1, path: str | None = None) -> None:
        """429 with ``Retry-After`` (seconds) and Partner Center's rate-limit message."""
        if float(retry_after) < 0:
            raise ValueError(f"retry_after must be >= 0, got {retry_after}")
        self._add(Fault("throttle", status=429, retry_after=float(retry_after)), count, path)

    def drop(self, count: int = 1, path: str | None = None) -> None:
        """Close the connection without answering."""
        self._add(Fault("drop"), count, path)

    def hang(self, count: int = 1, seconds: float = 5, path: str | None = None, then: str = "answer") -> None:
        """Hold the call ``seconds`` (other calls go on), then answer normally or close the connection."""
        if then not in ("answer", "close"):
            raise ValueError(f"then must be 'answer' or 'close', got {then!r}")
        if float(seconds) < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self._add(Fault("hang", seconds=float(seconds), then=then), count, path)

    def error_in_body(
        self, count: int = 1, status: int = 500, path: str | None = None, message: str | None = None
    ) -> None:
        """HTTP 200 whose envelope says ``statusCode`` ``status``."""
        self._add(Fault("error_in_body", status=int(status), message=message), count, path)

    def html(self, count: int = 1, status: int = 502, path: str | None = None) -> None:
        """An HTML page with ``status``: a gateway's error page, or with a 2xx a sign-in page
        (a proxy or captive portal answering in the service's place)."""
        self._add(Fault("html", status=_http_status(status, "html")), count, path)

    def json_body(self, count: int = 1, status: int = 200, body: Any = None, path: str | None = None) -> None:
        """Answer ``status`` with ``body`` (any JSON value; ``None`` is ``null``) instead of the service's
        envelope, for JSON that is not the envelope."""
        try:
            copied = json.loads(json.dumps(body))  # refuse what JSON cannot carry; keep a copy
        except (TypeError, ValueError) as error:
            raise ValueError(f"json_body body must be a JSON value: {error}") from None
        self._add(Fault("json_body", status=_http_status(status, "json_body"), body=copied), count, path)

    def clear(self) -> None:
        """Forget queued faults and reset latency and error rate (the RNG restarts from its seed)."""
        with self._lock:
            self._rules.clear()
            self._latency = 0.0
            self._error_rate = 0.0
            self._rng = random.Random(self._seed)
            self._throttle_every = 0
            self._api_calls = 0

    def pending(self) -> list[dict[str, Any]]:
        """What is still queued, for the admin endpoint and for debugging tests."""
        with self._lock:
            return [
                {"fault": r.fault.describe(), "remaining": r.remaining, "path": r.path} for r in self._rules
            ]

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply the JSON form used by ``POST /_emulator/faults`` and the command line.

        Keys: ``latency``, ``error_rate``, ``clear`` (bool), ``throttle_every``
        (``{"every": N, "retry_after": S}``), and ``fail``,
        ``throttle``, ``drop``, ``hang``, ``error_in_body``, ``html``, ``json_body``, each an
        object (or list of objects) of the same keyword arguments as the methods.
        """
        unknown = set(settings) - {"latency", "error_rate", "clear", "throttle_every", *FAULT_KINDS}
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        if settings.get("clear"):
            self.clear()
        if "latency" in settings:
            self.latency = settings["latency"]
        if "error_rate" in settings:
            self.error_rate = settings["error_rate"]
        if "throttle_every" in settings:
            spec = settings["throttle_every"]
            if isinstance(spec, dict):
                self.throttle_every(**spec)
            else:
                self.throttle_every(spec)
        for kind in FAULT_KINDS:
            if kind not in settings:
                continue
            specs = settings[kind]
            for spec in specs if isinstance(specs, list) else [specs]:
                if not isinstance(spec, dict):
                    raise ValueError(f"{kind} takes an object of keyword arguments, got {spec!r}")
                getattr(self, kind)(**spec)

    # -- used by the server -----------------------------------------------
    def take(self, path: str, is_token_call: bool) -> Fault | None:
        """The fault for this call, if any, using it up."""
        with self._lock:
            if not is_token_call:
                self._api_calls += 1
            for rule in self._rules:
                if rule.matches(path, is_token_call):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return rule.fault
            if is_token_call:
                return None
            if self._throttle_every and self._api_calls % self._throttle_every == 0:
                return Fault("throttle", status=429, retry_after=self._throttle_every_retry_after)
            if self._error_rate and self._rng.random() < self._error_rate:
                return Fault("fail", status=self.error_rate_status)
        return None

    def _add(self, fault: Fault, count: int, path: str | None) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        with self._lock:
            self._rules.append(_Rule(fault, count, path))


def _http_status(status: Any, kind: str) -> int:
    try:
        code = int(status)
    except (TypeError, ValueError):
        code = 0
    if isinstance(status, bool) or not 200 <= code <= 599:
        raise ValueError(f"{kind} status must be an HTTP status (200..599), got {status!r}")
    return code
