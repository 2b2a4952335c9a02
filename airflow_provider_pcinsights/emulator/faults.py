"""Fault injection: the failures a client must survive, on demand and in order.

Faults are queued: each ``fail``/``throttle``/... call adds a rule that
answers the next ``count`` calls whose path contains ``path``. Rules are used
up in the order they were added. Periodic rules (``throttle_every``,
``drop_every``, ``hang_every``) fault every Nth API call, steadily and
deterministically. On top of those, ``latency`` slows every call,
``rate_limit`` plays the service's rate limit (a token bucket: 429 once it is
empty), and ``error_rate`` (5xx answers) and ``mix`` (any mix of kinds,
``lose_answer`` included) fault a share of calls drawn from a seeded RNG, so a
failing run can be replayed.
"""

from __future__ import annotations

import json
import math
import random
import threading
from dataclasses import dataclass
from typing import Any

from .ratelimit import TokenBucket, retry_after_seconds

FAULT_KINDS = (
    "fail",
    "throttle",
    "drop",
    "hang",
    "error_in_body",
    "html",
    "json_body",
    "trickle",
    "truncate",
    "echo",
    "redirect",
    "raw_body",
    "lose_answer",
)
# Kinds that can also fault every Nth API call; when two fall on the same call, the first here wins.
PERIODIC_KINDS = ("throttle", "drop", "hang")
# What ``mix`` draws from, each spelled as ``Fault.describe()`` spells it.
MIX_KINDS = (
    "fail:500",
    "fail:502",
    "fail:503",
    "fail:504",
    "throttle",
    "throttle:none",
    "drop",
    "lose_answer",
)


@dataclass
class Fault:
    """One fault to apply to one call."""

    kind: str
    status: int = 500
    retry_after: float | None = 1  # throttle: None sends no Retry-After header at all
    seconds: float = 0
    then: str = "answer"  # after a hang: "answer" or "close"
    message: str | None = None
    body: Any = None  # json_body: the JSON value to answer with
    keep: float = 0.5  # truncate: the share of the body sent
    close: bool = False  # truncate: declare the whole length, then close (else declare what is sent)
    location: str = ""  # redirect: the Location header
    raw: bytes = b""  # raw_body: the exact bytes answered
    content_type: str = "application/json; charset=utf-8"  # raw_body

    def describe(self) -> str:
        if self.kind == "fail":
            return f"fail:{self.status}"
        if self.kind in ("throttle", "rate_limit"):
            return f"{self.kind}:{'none' if self.retry_after is None else f'{self.retry_after:g}'}"
        if self.kind == "hang":
            return f"hang:{self.seconds:g}:{self.then}"
        if self.kind == "trickle":
            return f"trickle:{self.seconds:g}"
        if self.kind == "truncate":
            return f"truncate:{self.keep:g}:{'close' if self.close else 'cut'}"
        if self.kind in ("error_in_body", "html", "json_body", "echo", "redirect", "raw_body"):
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


@dataclass
class _Periodic:
    """Fault every ``every``-th API call, counted from when the rule was set."""

    fault: Fault
    every: int
    calls: int = 0

    def count_call(self) -> bool:
        """Count one API call; true when it is this rule's turn."""
        self.calls += 1
        return self.calls % self.every == 0


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
        self._periodic: dict[str, _Periodic] = {}  # by kind, at most one rule each
        self._throttles_answered = 0
        self._bucket: TokenBucket | None = None
        self._mix_rate = 0.0
        self._mix: tuple[Fault, ...] = ()

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

    # -- periodic faults --------------------------------------------------
    # Each counts the Insights API calls (never token calls) made since it was set, including
    # calls a queued fault took; a queued fault wins over a periodic one on the same call, and
    # periodic kinds rank throttle, drop, hang. Setting a kind again restarts its count; 0 turns it off.
    def throttle_every(self, every: int, retry_after: float = 1) -> None:
        """Answer every ``every``-th API call with 429 and ``Retry-After``, like a steady rate limit."""
        fault = Fault("throttle", status=429, retry_after=_seconds(retry_after, "retry_after"))
        self._set_periodic("throttle", every, fault)

    def drop_every(self, every: int) -> None:
        """Close the connection without answering on every ``every``-th API call."""
        self._set_periodic("drop", every, Fault("drop"))

    def hang_every(self, every: int, seconds: float = 5, then: str = "answer") -> None:
        """Hold every ``every``-th API call ``seconds``, then answer normally or close (as ``hang``)."""
        self._set_periodic("hang", every, _hang_fault(seconds, then))

    # -- the rate limit ---------------------------------------------------
    def rate_limit(self, rate: float | None, burst: int | None = None) -> None:
        """Play the service's rate limit: a token bucket of ``burst`` calls (default: one second's
        worth), refilled at ``rate`` API calls per second. A call finding it empty answers 429 with
        Partner Center's message and ``Retry-After`` in whole seconds (at least 1; left out as
        ``behaviour.retry_after_header`` says), and takes no token. ``None`` or 0 turns it off.
        Setting it again starts a full bucket. Token calls are never limited; queued and periodic
        faults take their calls before the bucket sees them."""
        bucket = None if not rate else TokenBucket(rate, burst)
        with self._lock:
            self._bucket = bucket

    def rate_limit_state(self) -> dict[str, Any] | None:
        """The bucket's settings and what it allowed and refused so far; ``None`` when off."""
        with self._lock:
            return None if self._bucket is None else self._bucket.describe()

    # -- random faults ----------------------------------------------------
    def mix(self, rate: float, kinds: Any = MIX_KINDS, retry_after: float = 1) -> None:
        """Fault a share ``rate`` of API calls (seeded RNG), each with one of ``kinds`` drawn evenly.

        ``kinds`` are spelled as the request log spells faults: ``fail:<status>``,
        ``throttle`` (429 with ``Retry-After: retry_after`` where ``behaviour.retry_after_header``
        allows), ``throttle:none`` (no ``Retry-After``), ``drop`` (closed before the call reaches
        the service: nothing changes) and ``lose_answer`` (the call is carried out, then the
        connection closes before the answer: a change is applied and the client never hears).
        ``rate`` 0 turns it off. Queued and periodic faults win over it on the same call.
        """
        share = float(rate)
        if isinstance(rate, bool) or not 0 <= share <= 1:
            raise ValueError(f"mix rate must be between 0 and 1, got {rate!r}")
        if isinstance(kinds, str) or not kinds:
            raise ValueError(f"mix kinds must be a non-empty list of {', '.join(MIX_KINDS)} or fail:<status>")
        faults = tuple(_mix_fault(kind, retry_after) for kind in kinds)
        with self._lock:
            self._mix_rate = share
            self._mix = faults

    # -- queued faults ----------------------------------------------------
    def fail(
        self, count: int = 1, status: int = 503, path: str | None = None, message: str | None = None
    ) -> None:
        """The next ``count`` matching calls answer ``status`` with the service's JSON envelope."""
        if not 400 <= int(status) <= 599:
            raise ValueError(f"fail status must be an HTTP error (400..599), got {status}")
        self._add(Fault("fail", status=int(status), message=message), count, path)

    def throttle(self, count: int = 1, retry_after: float | None = 1, path: str | None = None) -> None:
        """429 with ``Retry-After`` (seconds) and Partner Center's rate-limit message.

        ``retry_after=None`` sends no ``Retry-After`` at all; so does every second 429
        while ``behaviour.retry_after_header`` is ``"sometimes"`` (the default).
        """
        seconds = None if retry_after is None else _seconds(retry_after, "retry_after")
        self._add(Fault("throttle", status=429, retry_after=seconds), count, path)

    def drop(self, count: int = 1, path: str | None = None) -> None:
        """Close the connection without answering."""
        self._add(Fault("drop"), count, path)

    def hang(self, count: int = 1, seconds: float = 5, path: str | None = None, then: str = "answer") -> None:
        """Hold the call ``seconds`` (other calls go on), then answer normally or close the connection."""
        self._add(_hang_fault(seconds, then), count, path)

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

    def trickle(self, count: int = 1, seconds: float = 5, path: str | None = None) -> None:
        """Answer as usual, but send the body one byte at a time, spread over ``seconds``: each byte
        comes well within any read timeout, and still the whole answer takes that long."""
        self._add(Fault("trickle", status=200, seconds=_seconds(seconds, "seconds")), count, path)

    def truncate(
        self, count: int = 1, keep: float = 0.5, close: bool = False, path: str | None = None
    ) -> None:
        """Send only the first ``keep`` share of the body. ``close=False``: declare that shorter length
        (valid HTTP carrying JSON cut short, as a proxy that gave up would); ``close=True``: declare the
        whole length and close the connection after the part (the connection broke)."""
        try:
            share = float(keep)
        except (TypeError, ValueError):
            share = math.nan
        if isinstance(keep, bool) or not 0 <= share < 1:
            raise ValueError(f"keep must be a share of the body from 0 to below 1, got {keep!r}")
        self._add(Fault("truncate", status=200, keep=share, close=bool(close)), count, path)

    def echo(self, count: int = 1, status: int = 500, path: str | None = None) -> None:
        """An error whose message quotes the request back, headers (``Authorization`` included) and
        body, as a misbehaving proxy or a debug page would: a client must not repeat it unredacted."""
        self._add(Fault("echo", status=_http_status(status, "echo")), count, path)

    def redirect(
        self, count: int = 1, location: str = "", status: int = 307, path: str | None = None
    ) -> None:
        """Answer ``status`` (a 3xx) with ``Location: location`` instead of serving the call: a client must
        not follow it elsewhere with the token (or, at the token endpoint, with the client's secret). The
        empty body is declared JSON, as the service's answers are: a client cannot tell it by its type."""
        code = _http_status(status, "redirect")
        if not 300 <= code <= 399:
            raise ValueError(f"redirect status must be a 3xx, got {status!r}")
        if not isinstance(location, str) or not location:
            raise ValueError("redirect needs a location")
        self._add(Fault("redirect", status=code, location=location), count, path)

    def raw_body(
        self,
        count: int = 1,
        body: str | bytes = b"",
        status: int = 200,
        content_type: str = "application/json; charset=utf-8",
        path: str | None = None,
    ) -> None:
        """Answer ``status`` with exactly ``body`` (bytes, or text sent as UTF-8) under ``content_type``:
        for answers no JSON value can stand for (invalid UTF-8, JSON nested beyond any parser, plain text)."""
        raw = body.encode("utf-8") if isinstance(body, str) else body
        if not isinstance(raw, bytes):
            raise ValueError(f"raw_body body must be text or bytes, got {type(body).__name__}")
        fault = Fault(
            "raw_body", status=_http_status(status, "raw_body"), raw=raw, content_type=str(content_type)
        )
        self._add(fault, count, path)

    def lose_answer(self, count: int = 1, path: str | None = None) -> None:
        """Carry the call out (a pause is applied), then close the connection before answering: the
        client cannot tell whether the change happened."""
        self._add(Fault("lose_answer"), count, path)

    def count_throttle(self) -> int:
        """Count one 429 answered; its number since the start (or ``clear()``), from 1."""
        with self._lock:
            self._throttles_answered += 1
            return self._throttles_answered

    def clear(self) -> None:
        """Forget queued and periodic faults and reset latency and error rate (the RNG restarts
        from its seed)."""
        with self._lock:
            self._rules.clear()
            self._latency = 0.0
            self._error_rate = 0.0
            self._rng = random.Random(self._seed)
            self._periodic.clear()
            self._throttles_answered = 0
            self._bucket = None
            self._mix_rate = 0.0
            self._mix = ()

    def pending(self) -> list[dict[str, Any]]:
        """What is still queued, for the admin endpoint and for debugging tests."""
        with self._lock:
            return [
                {"fault": r.fault.describe(), "remaining": r.remaining, "path": r.path} for r in self._rules
            ]

    def periodic(self) -> list[dict[str, Any]]:
        """The periodic rules set, in the order they rank, with the API calls each has counted."""
        with self._lock:
            return [
                {"fault": rule.fault.describe(), "every": rule.every, "calls": rule.calls}
                for kind in PERIODIC_KINDS
                if (rule := self._periodic.get(kind)) is not None
            ]

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply the JSON form used by ``POST /_emulator/faults`` and the command line.

        Keys: ``latency``, ``error_rate``, ``clear`` (bool); ``rate_limit`` (``R``,
        ``{"rate": R, "burst": B}``, or ``null``/0 for off); ``mix`` (``{"rate": R, "kinds": [...],
        "retry_after": S}``); ``throttle_every``
        (``N`` or ``{"every": N, "retry_after": S}``), ``drop_every`` (``N`` or ``{"every": N}``),
        ``hang_every`` (``N`` or ``{"every": N, "seconds": S, "then": "answer"}``); and ``fail``,
        ``throttle``, ``drop``, ``hang``, ``error_in_body``, ``html``, ``json_body``, ``trickle``,
        ``truncate``, ``echo``, ``redirect``, ``raw_body`` (``body`` as text), ``lose_answer``, each an
        object (or list of objects) of the same keyword arguments as the methods.
        """
        every_keys = [f"{kind}_every" for kind in PERIODIC_KINDS]
        unknown = set(settings) - {
            "latency",
            "error_rate",
            "clear",
            "rate_limit",
            "mix",
            *every_keys,
            *FAULT_KINDS,
        }
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        if settings.get("clear"):
            self.clear()
        if "latency" in settings:
            self.latency = settings["latency"]
        if "error_rate" in settings:
            self.error_rate = settings["error_rate"]
        if "rate_limit" in settings:
            spec = settings["rate_limit"]
            if isinstance(spec, dict):
                self.rate_limit(**spec)
            else:
                self.rate_limit(spec)
        if "mix" in settings:
            spec = settings["mix"]
            if not isinstance(spec, dict):
                raise ValueError(f"mix takes an object of keyword arguments, got {spec!r}")
            self.mix(**spec)
        for key in every_keys:
            if key not in settings:
                continue
            spec = settings[key]
            if isinstance(spec, dict):
                getattr(self, key)(**spec)
            else:
                getattr(self, key)(spec)
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
            # Every periodic rule counts this call, even when an earlier one or a queued rule takes it.
            due = set() if is_token_call else {k for k, r in self._periodic.items() if r.count_call()}
            for rule in self._rules:
                if rule.matches(path, is_token_call):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return rule.fault
            if is_token_call:
                return None
            for kind in PERIODIC_KINDS:
                if kind in due:
                    return self._periodic[kind].fault
            if self._bucket is not None:
                wait = self._bucket.take()
                if wait is not None:
                    return Fault("rate_limit", status=429, retry_after=retry_after_seconds(wait))
            if self._error_rate and self._rng.random() < self._error_rate:
                return Fault("fail", status=self.error_rate_status)
            if self._mix_rate and self._rng.random() < self._mix_rate:
                return self._mix[self._rng.randrange(len(self._mix))]
        return None

    def random(self) -> dict[str, Any]:
        """The random faults set: ``error_rate`` and ``mix`` (its rate and kinds)."""
        with self._lock:
            return {
                "error_rate": self._error_rate,
                "mix": {"rate": self._mix_rate, "kinds": [fault.describe() for fault in self._mix]},
            }

    def _add(self, fault: Fault, count: int, path: str | None) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        with self._lock:
            self._rules.append(_Rule(fault, count, path))

    def _set_periodic(self, kind: str, every: int, fault: Fault) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise ValueError(f"{kind}_every must be a non-negative integer, got {every!r}")
        with self._lock:
            if every:
                self._periodic[kind] = _Periodic(fault, every)
            else:
                self._periodic.pop(kind, None)


def _seconds(value: Any, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return seconds


def _hang_fault(seconds: Any, then: str) -> Fault:
    if then not in ("answer", "close"):
        raise ValueError(f"then must be 'answer' or 'close', got {then!r}")
    return Fault("hang", seconds=_seconds(seconds, "seconds"), then=then)


def _mix_fault(kind: Any, retry_after: Any) -> Fault:
    """The fault ``mix`` stands for by ``kind``, as the request log spells it."""
    if kind == "throttle":
        return Fault("throttle", status=429, retry_after=_seconds(retry_after, "retry_after"))
    if kind == "throttle:none":
        return Fault("throttle", status=429, retry_after=None)
    if kind in ("drop", "lose_answer"):
        return Fault(kind)
    if (
        isinstance(kind, str)
        and kind.startswith("fail:")
        and kind[5:].isdigit()
        and 400 <= int(kind[5:]) <= 599
    ):
        return Fault("fail", status=int(kind[5:]))
    raise ValueError(f"unknown mix kind {kind!r}; use {', '.join(MIX_KINDS)} or fail:<status>")


def _http_status(status: Any, kind: str) -> int:
    try:
        code = int(status)
    except (TypeError, ValueError):
        code = 0
    if isinstance(status, bool) or not 200 <= code <= 599:
        raise ValueError(f"{kind} status must be an HTTP status (200..599), got {status!r}")
    return code
