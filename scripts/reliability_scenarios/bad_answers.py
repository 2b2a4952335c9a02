"""Scenario 4: every answer that is not what the service documents ends in a typed error, in bounded time.

Each shape (the ones the service-answers issue lists, and more: JSON nested past
any parser, numbers past any float, conflicting key spellings, redirects, other
hosts, answers that never end) is played by the emulator, or by a ``Honeypot`` on
another host it points to, and met through every entry point a DAG uses: the
hook reading one report and a listing, the pause operator, the sensor (poke) and
the trigger; the sign-in's shapes through the hook and the operator. Each must
end in a ``PartnerCenterInsightsError`` subclass (the one the shape calls for)
within the bound the retry settings and the connection's timeout give, and
nothing may reach the other host: no request, so no token and no secret.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reliability_scenarios.harness import Stopwatch, emulator_with_connection, forget_sign_ins
from reliability_scenarios.honeypot import Honeypot
from reliability_scenarios.outcome import Counts, ScenarioResult

CONN_ID = "pcinsights_reliability_answers"
TOKEN_PATH = "/oauth2/v2.0/token"
API_PATH = "/insights/"
FOREVER = 100_000  # a fault "count" no scenario uses up


@dataclass(frozen=True)
class Size:
    timeout: float  # the connection's timeout: bounds each attempt, its body included
    retries: int
    slow_everywhere: bool  # shapes that last the whole timeout, through every entry (else the hook's only)
    every_entry: bool  # every shape through every entry (else through two of them)

    @property
    def hook_params(self) -> dict[str, Any]:
        return {"retries": self.retries, "backoff_factor": 0.05, "backoff_max": 0.2, "max_retry_after": 1.0}

    @property
    def call_bound(self) -> float:
        """The longest one hook call may take: every attempt its whole timeout (connect and body), and
        every retry its longest wait."""
        params = self.hook_params
        return (self.retries + 1) * 2 * self.timeout + self.retries * max(
            params["backoff_max"], params["max_retry_after"]
        )


SIZES = {
    "fast": Size(timeout=1.0, retries=1, slow_everywhere=False, every_entry=False),
    "full": Size(timeout=2.0, retries=2, slow_everywhere=True, every_entry=True),
}


@dataclass
class Bench:
    emu: Any
    honeypot: Honeypot
    report_id: str
    size: Size

    def record(self, **fields: Any) -> dict[str, Any]:
        """The asked report as a record, camelCase as the service sends it, with ``fields`` on top."""
        return {"reportId": self.report_id, "reportName": "Daily usage 1", "reportStatus": "Active", **fields}

    def envelope(self, *records: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return {"value": list(records), "totalCount": len(records), **fields}

    def body(self, body: Any, status: int = 200) -> None:
        self.emu.faults.json_body(count=FOREVER, status=status, body=body, path=API_PATH)

    def raw(
        self, body: str | bytes, status: int = 200, content_type: str = "application/json; charset=utf-8"
    ) -> None:
        self.emu.faults.raw_body(
            count=FOREVER, body=body, status=status, content_type=content_type, path=API_PATH
        )


@dataclass(frozen=True)
class Shape:
    name: str
    apply: Callable[[Bench], None]
    expect: str  # the exceptions class (or a base of it) the shape must end in
    sign_in: bool = False  # the token endpoint's answer, not the API's
    slow: bool = False  # lasts the whole timeout on every attempt
    listing_only: bool = False  # only a listing can show it (pages of several records)
    reads_only: bool = False  # only reads are paged: an action's answer carries no nextLink


def _faults(method: str, **kwargs: Any) -> Callable[[Bench], None]:
    def apply(bench: Bench) -> None:
        kwargs.setdefault("count", FOREVER)
        kwargs.setdefault("path", API_PATH)
        getattr(bench.emu.faults, method)(**kwargs)

    return apply


def _token_faults(method: str, **kwargs: Any) -> Callable[[Bench], None]:
    return _faults(method, path=TOKEN_PATH, **kwargs)


def _behaviour(**settings: Any) -> Callable[[Bench], None]:
    def apply(bench: Bench) -> None:
        bench.emu.behaviour.update(settings)

    return apply


def _nested(depth: int) -> bytes:
    return b'{"value":' + b"[" * depth + b"]" * depth + b"}"


SHAPES: tuple[Shape, ...] = (
    # -- not JSON --------------------------------------------------------------------------------
    Shape("an HTML sign-in page with HTTP 200", _faults("html", status=200), "UnexpectedResponseError"),
    Shape("a gateway's HTML error page (502)", _faults("html", status=502), "ServiceUnavailableError"),
    Shape(
        "plain text with HTTP 200",
        lambda b: b.raw("Service is up", content_type="text/plain"),
        "UnexpectedResponseError",
    ),
    Shape("an empty body with HTTP 200", lambda b: b.raw(b""), "UnexpectedResponseError"),
    Shape("an empty body with HTTP 204", lambda b: b.raw(b"", status=204), "UnexpectedResponseError"),
    Shape(
        "JSON cut short (a shorter length declared)", _faults("truncate", keep=0.5), "UnexpectedResponseError"
    ),
    Shape(
        "the connection broken mid-body", _faults("truncate", keep=0.5, close=True), "ServiceUnavailableError"
    ),
    Shape(
        "invalid UTF-8", lambda b: b.raw(b'{"value":[{"reportId":"\xff\xfe"}]}'), "UnexpectedResponseError"
    ),
    Shape(
        "UTF-16 declared as UTF-8",
        lambda b: b.raw('{"value":[]}'.encode("utf-16")),
        "UnexpectedResponseError",
    ),
    Shape("JSON nested 100,000 deep", lambda b: b.raw(_nested(100_000)), "UnexpectedResponseError"),
    Shape(
        "an integer of 5,000 digits",
        lambda b: b.raw(b'{"value":[],"totalCount":' + b"9" * 5000 + b"}"),
        "UnexpectedResponseError",
    ),
    # -- JSON that is not the envelope ---------------------------------------------------------------
    Shape("a JSON array", lambda b: b.body([b.record()]), "UnexpectedResponseError"),
    Shape("a JSON string", lambda b: b.body("ok"), "UnexpectedResponseError"),
    Shape("a JSON number", lambda b: b.body(42), "UnexpectedResponseError"),
    Shape("JSON null", lambda b: b.body(None), "UnexpectedResponseError"),
    Shape(
        "an object without value",
        lambda b: b.body({"totalCount": 1, "message": "ok"}),
        "UnexpectedResponseError",
    ),
    Shape("another API's object", lambda b: b.body({"reports": [b.record()]}), "UnexpectedResponseError"),
    Shape("value holding strings", lambda b: b.body({"value": ["a", 1]}), "UnexpectedResponseError"),
    Shape(
        "an error statusCode in an HTTP 200", _faults("error_in_body", status=500), "ServiceUnavailableError"
    ),
    Shape(
        "a statusCode past any float (1e400)",
        lambda b: b.raw(
            b'{"value":[{"reportId":"%s","reportStatus":"Active"}],"statusCode":1e400}' % b.report_id.encode()
        ),
        "UnexpectedResponseError",
    ),
    # -- records that cannot be acted on --------------------------------------------------------------
    Shape(
        "a record without a status",
        lambda b: b.body(b.envelope({"reportId": b.report_id})),
        "UnreadableStatusError",
    ),
    Shape(
        "a status the docs do not name",
        lambda b: b.body(b.envelope(b.record(reportStatus="Suspended"))),
        "UnreadableStatusError",
    ),
    Shape(
        "a status that is a number",
        lambda b: b.body(b.envelope(b.record(reportStatus=1))),
        "UnreadableStatusError",
    ),
    Shape(
        "a null status", lambda b: b.body(b.envelope(b.record(reportStatus=None))), "UnreadableStatusError"
    ),
    Shape(
        "a NaN status",
        lambda b: b.raw(b'{"value":[{"reportId":"%s","reportStatus":NaN}]}' % b.report_id.encode()),
        "UnreadableStatusError",
    ),
    Shape(
        "a record without its id",
        lambda b: b.body(b.envelope({"reportStatus": "Active"})),
        "UnexpectedResponseError",
    ),
    Shape(
        "an id that is a number",
        lambda b: b.body(b.envelope(b.record(reportId=123))),
        "UnexpectedResponseError",
    ),
    Shape(
        "one status spelt twice, with two values",
        lambda b: b.body(b.envelope(b.record(reportStatus="Paused", ReportStatus="Active"))),
        "UnexpectedResponseError",
    ),
    Shape(
        "the same record twice",
        lambda b: b.body(b.envelope(b.record(), b.record())),
        "UnexpectedResponseError",
    ),
    # -- paging ----------------------------------------------------------------------------------
    Shape("every page linking to itself", _behaviour(next_link="repeat"), "PagingLoopError", reads_only=True),
    Shape(
        "the last page linking to itself, spelt otherwise",
        _behaviour(next_link="respell"),
        "PagingLoopError",
        reads_only=True,
    ),
    Shape(
        "the last page linking to the first", _behaviour(next_link="back"), "PagingLoopError", reads_only=True
    ),
    Shape("pages repeating records", _behaviour(next_link="overlap"), "PagingLoopError", listing_only=True),
    Shape(
        "a nextLink to another host",
        lambda b: b.body(
            b.envelope(b.record(), nextLink=f"{b.honeypot.url}/insights/v1/mpn/ScheduledReport?skipToken=2")
        ),
        "UnexpectedResponseError",
    ),
    Shape(
        "a nextLink in plain http on the same host",
        lambda b: b.body(
            b.envelope(
                b.record(),
                nextLink=b.emu.url.replace("https", "http") + "/insights/v1/mpn/ScheduledReport?skipToken=2",
            )
        ),
        "UnexpectedResponseError",
    ),
    # -- redirects ----------------------------------------------------------------------------------
    Shape(
        "a redirect (307) to another host",
        lambda b: _faults("redirect", location=f"{b.honeypot.url}/insights/v1/mpn/ScheduledReport")(b),
        "UnexpectedResponseError",
    ),
    Shape(
        "a redirect (302) within the API's host",
        lambda b: _faults("redirect", status=302, location=f"{b.emu.url}/insights/v1/mpn/ScheduledReport")(b),
        "UnexpectedResponseError",
    ),
    # -- never-ending and refusing -------------------------------------------------------------------
    Shape(
        "a body trickling past the timeout",
        lambda b: _faults("trickle", seconds=b.size.timeout * 4)(b),
        "ServiceUnavailableError",
        slow=True,
    ),
    Shape(
        "no answer within the timeout",
        lambda b: _faults("hang", seconds=b.size.timeout * 4)(b),
        "ServiceUnavailableError",
        slow=True,
    ),
    Shape("429 for ever, Retry-After an hour", _faults("throttle", retry_after=3600), "ThrottledError"),
    Shape("429 for ever, no Retry-After", _faults("throttle", retry_after=None), "ThrottledError"),
    Shape(
        "429 with Retry-After 'soon'",
        lambda b: b.raw(b'{"statusCode":429,"message":"slow down"}', status=429),
        "ThrottledError",
    ),
    Shape("401 for every token", _faults("fail", status=401), "AuthenticationError"),
    Shape("403 as an HTML page", _faults("html", status=403), "PermissionDeniedError"),
    Shape("404 as an HTML page (a wrong route)", _faults("html", status=404), "UnexpectedResponseError"),
    Shape("an error quoting the request's headers", _faults("echo", status=500), "ServiceUnavailableError"),
    Shape(
        "an error with 1 MiB of text",
        lambda b: b.raw("x" * (1 << 20), status=500, content_type="text/plain"),
        "ServiceUnavailableError",
    ),
    # -- the sign-in's answers --------------------------------------------------------------------------
    Shape(
        "sign-in: an HTML page with HTTP 200",
        _token_faults("html", status=200),
        "AuthenticationError",
        sign_in=True,
    ),
    Shape(
        "sign-in: JSON without a token",
        _token_faults("json_body", body={"token_type": "Bearer"}),
        "AuthenticationError",
        sign_in=True,
    ),
    Shape("sign-in: a JSON array", _token_faults("json_body", body=[]), "AuthenticationError", sign_in=True),
    Shape(
        "sign-in: JSON cut short", _token_faults("truncate", keep=0.5), "AuthenticationError", sign_in=True
    ),
    Shape(
        "sign-in: JSON nested 100,000 deep",
        lambda b: _token_faults("raw_body", body=_nested(100_000))(b),
        "AuthenticationError",
        sign_in=True,
    ),
    Shape(
        "sign-in: expires_in that is not a number",
        _token_faults(
            "json_body", body={"token_type": "Bearer", "access_token": "x" * 40, "expires_in": "soon"}
        ),
        "AuthenticationError",
        sign_in=True,
    ),
    Shape(
        "sign-in: a redirect (307) to another host",
        lambda b: _token_faults("redirect", location=f"{b.honeypot.url}/common/oauth2/v2.0/token")(b),
        "AuthenticationError",
        sign_in=True,
    ),
    Shape(
        "sign-in: an error quoting the form",
        _token_faults("echo", status=400),
        "AuthenticationError",
        sign_in=True,
    ),
    Shape(
        "sign-in: 503 for ever", _token_faults("fail", status=503), "ServiceUnavailableError", sign_in=True
    ),
    Shape(
        "sign-in: no answer within the timeout",
        lambda b: _token_faults("hang", seconds=b.size.timeout * 4)(b),
        "ServiceUnavailableError",
        sign_in=True,
        slow=True,
    ),
)


# ---------------------------------------------------------------------------------- entry points


def _hook(bench: Bench) -> Any:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

    return PartnerCenterInsightsHook(conn_id=CONN_ID, **bench.size.hook_params)


def _one_report(bench: Bench) -> Any:
    return _hook(bench).get_report(bench.report_id)


def _listing(bench: Bench) -> Any:
    return _hook(bench).list_reports()


def _sign_in(bench: Bench) -> Any:
    return _hook(bench).get_token()


def _pause(bench: Bench) -> Any:
    from airflow_provider_pcinsights.operators.report import PauseReportOperator

    operator = PauseReportOperator(
        task_id="pause", report_id=bench.report_id, conn_id=CONN_ID, hook_params=bench.size.hook_params
    )
    return operator.execute({})


def _sensor(bench: Bench) -> Any:
    from airflow_provider_pcinsights.sensors.report import ReportStatusSensor

    sensor = ReportStatusSensor(
        task_id="wait",
        report_id=bench.report_id,
        target_status="Paused",  # the report is Active: only a bad answer can end the wait
        conn_id=CONN_ID,
        mode="poke",
        poke_interval=0.05,
        timeout=_bound(bench.size, "sensor (poke)"),
        deferrable=False,
        hook_params=bench.size.hook_params,
    )
    return sensor.execute({})


class TriggerEnded(Exception):
    """The trigger's one event, when it is not a success: its message names the error it ended with."""


def _trigger(bench: Bench) -> Any:
    from airflow_provider_pcinsights.triggers.report import ReportStatusTrigger

    trigger = ReportStatusTrigger(
        report_ids=[bench.report_id],
        target_statuses=["Paused"],
        failure_statuses=["Inactive"],
        conn_id=CONN_ID,
        poll_interval=0.05,
        hook_params=bench.size.hook_params,
    )

    async def events() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    payloads = asyncio.run(asyncio.wait_for(events(), timeout=_bound(bench.size, "trigger")))
    if len(payloads) != 1:
        raise TriggerEnded(f"yielded {len(payloads)} events, not one")
    if payloads[0].get("status") != "success":
        raise TriggerEnded(str(payloads[0].get("message")))
    return payloads[0]


ENTRIES: dict[str, Callable[[Bench], Any]] = {
    "hook: one report": _one_report,
    "hook: listing": _listing,
    "pause operator": _pause,
    "sensor (poke)": _sensor,
    "trigger": _trigger,
}
SIGN_IN_ENTRIES: dict[str, Callable[[Bench], Any]] = {"hook: sign-in": _sign_in, "pause operator": _pause}
# How many hook calls an entry may make before it must have ended: the pause reads, acts and reads
# again; the sensor and the trigger tolerate MAX_CONSECUTIVE_TRANSIENT_ERRORS failed polls.
_CALLS = {"pause operator": 3, "sensor (poke)": 3, "trigger": 3}


def _bound(size: Size, entry: str) -> float:
    return _CALLS.get(entry, 1) * size.call_bound + 2.0


# ---------------------------------------------------------------------------------- judging


@dataclass
class Outcome:
    shape: Shape
    entry: str
    error: str  # the class it ended with ("returned" if it did not fail)
    typed: bool  # a PartnerCenterInsightsError subclass
    expected: bool  # the class the shape calls for (or a subclass)
    seconds: float
    bound: float
    message: str
    secrets_in_message: int
    elsewhere: int  # requests that reached the other host during this attempt
    secrets_elsewhere: int  # secrets or tokens among them
    problems: list[str] = field(default_factory=list)
    late: str | None = None  # past its bound
    # The pause would not act on a report whose status it could not read first (so a restore can tell
    # what to give back): a typed error, but the base class, with the reason only in a warning.
    unread_before_pause: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and self.late is None


READ_FIRST = "its status could not be read first"
_NAMED_ERROR = re.compile(r"\b([A-Z][A-Za-z]+Error): ")


def _error_class(name: str) -> type | None:
    from airflow_provider_pcinsights import exceptions

    found = getattr(exceptions, name, None)
    return found if isinstance(found, type) else None


def _judge(shape: Shape, entry: str, bench: Bench, secrets: Callable[[], list[str]]) -> Outcome:
    from airflow_provider_pcinsights.exceptions import PartnerCenterInsightsError

    if shape.sign_in:
        forget_sign_ins()
    arrived_before = len(bench.honeypot.arrivals)
    bound = _bound(bench.size, entry)
    start = time.monotonic()
    try:
        (SIGN_IN_ENTRIES if shape.sign_in else ENTRIES)[entry](bench)
    except (
        TriggerEnded
    ) as ended:  # its message names the error: "ClassName: ..." or "gave up ...: ClassName: ..."
        message = str(ended)
        named = next((m for m in _NAMED_ERROR.findall(message) if _error_class(m)), None)
        cls = _error_class(named) if named else None
        error = named or "TriggerEnded"
    except Exception as caught:
        cls, error, message = type(caught), type(caught).__name__, str(caught)
    else:
        cls, error, message = None, "returned", ""
    seconds = time.monotonic() - start
    expected_cls = _error_class(shape.expect)
    unread_before_pause = (
        entry == "pause operator" and error == "PartnerCenterInsightsError" and READ_FIRST in message
    )
    if unread_before_pause:
        expected_cls = _error_class("PartnerCenterInsightsError")
    known = secrets()
    arrivals = bench.honeypot.arrivals[arrived_before:]
    outcome = Outcome(
        shape=shape,
        entry=entry,
        error=error,
        typed=bool(cls and issubclass(cls, PartnerCenterInsightsError)),
        expected=bool(cls and expected_cls and issubclass(cls, expected_cls)),
        seconds=seconds,
        bound=bound,
        message=message,
        unread_before_pause=unread_before_pause,
        secrets_in_message=sum(secret in message for secret in known),
        elsewhere=len(arrivals),
        secrets_elsewhere=sum(
            secret in arrival.text() for arrival in arrivals for secret in [*known, "Bearer "]
        ),
    )
    if not outcome.typed:
        outcome.problems.append(f"ended with {error}, not a PartnerCenterInsightsError")
    elif not outcome.expected:
        outcome.problems.append(f"ended with {error}, not {shape.expect}")
    if seconds > bound:
        outcome.late = f"took {seconds:.1f} s, past its bound of {bound:.1f} s"
    if outcome.secrets_in_message:
        outcome.problems.append(f"its message holds {outcome.secrets_in_message} secret(s)")
    if outcome.elsewhere:
        outcome.problems.append(
            f"{outcome.elsewhere} request(s) reached the other host "
            f"({outcome.secrets_elsewhere} carrying a secret or a token)"
        )
    return outcome


def _cases(size: Size) -> list[tuple[Shape, str]]:
    """Every shape through every entry; the fast variant takes each API shape through the hook reading
    one report and one other entry, in turn, so every entry still meets a share of the shapes."""
    cases = []
    others = [entry for entry in ENTRIES if entry != "hook: one report"]
    for index, shape in enumerate(SHAPES):
        entries = list(SIGN_IN_ENTRIES if shape.sign_in else ENTRIES)
        if not size.every_entry and not shape.sign_in:
            entries = ["hook: one report", others[index % len(others)]]
        for entry in entries:
            if shape.listing_only and entry != "hook: listing":
                continue
            if shape.reads_only and entry == "pause operator":
                continue
            if shape.slow and not size.slow_everywhere and entry not in ("hook: one report", "hook: sign-in"):
                continue
            cases.append((shape, entry))
    return cases


def run(size: str = "full") -> ScenarioResult:
    clock = Stopwatch()
    settings = SIZES[size]
    result = ScenarioResult(number=4, title="Bad answers", size=size)
    connection = {"timeout": str(settings.timeout)}
    outcomes: list[Outcome] = []
    with emulator_with_connection(CONN_ID, reports=5, connection=connection) as emu:
        files = emu._tls_files
        with Honeypot(str(files.server_cert_path), str(files.server_key_path)) as honeypot:
            bench = Bench(emu=emu, honeypot=honeypot, report_id=emu.report_ids()[0], size=settings)

            def secrets() -> list[str]:
                return [emu.client_secret, emu.refresh_token, *emu.tokens.known_tokens()]

            for shape, entry in _cases(settings):
                emu.faults.clear()
                emu.behaviour.reset()
                emu.behaviour.page_size = 2
                emu.set_report_status("mpn", bench.report_id, "Active")
                shape.apply(bench)
                outcomes.append(_judge(shape, entry, bench, secrets))
            emu.faults.clear()
            faulted = sum(1 for r in emu.all_requests if r.fault)
            elsewhere = len(honeypot.arrivals)
    shapes = {o.shape.name for o in outcomes}
    slowest = max(outcomes, key=lambda o: o.seconds)
    result.tried = (
        f"{len(shapes)} shapes of answer ({sum(not s.sign_in for s in SHAPES)} from the API, "
        f"{sum(s.sign_in for s in SHAPES)} from the sign-in) met through the hook (one report, a listing, "
        f"the sign-in), the pause operator, the sensor and the trigger: {len(outcomes)} cases; each must end "
        f"in the typed error the shape calls for within its bound (timeout {settings.timeout:g} s, "
        f"{settings.retries} retries; the slowest took {slowest.seconds:.1f} s of {slowest.bound:.0f} s), "
        "and nothing may reach another host"
    )
    result.counts = Counts(
        actions=len(outcomes),
        faults_injected=faulted,
        final_states_correct=sum(o.ok for o in outcomes),
        final_states_total=len(outcomes),
        requests_sent=elsewhere,
        secrets_found=sum(o.secrets_in_message + o.secrets_elsewhere for o in outcomes),
    )
    result.notes.append(
        "Final states correct: cases that ended in the expected typed error within their bound, with no "
        "secret in the message. Requests sent: requests that reached the other host."
    )
    unread = [o for o in outcomes if o.unread_before_pause]
    if unread:
        result.notes.append(
            f"Through the pause operator, {len(unread)} bad answers met its read before the pause; it then "
            "refuses to pause (so a restore can tell what to give back) with a PartnerCenterInsightsError "
            f"'Did not pause report ...: {READ_FIRST}': typed, but the base class, and the reason (HTTP 502, "
            "a loop, a status the docs do not name...) is only in the warning logged just before. Counted as "
            "the expected ending here; the operator could carry the read's own error type and reason."
        )
    for outcome in outcomes:
        for problem in outcome.problems:
            result.problem(f"{outcome.shape.name} via {outcome.entry}: {problem} ({outcome.message[:160]!r})")
        if outcome.late:
            result.too_late(f"{outcome.shape.name} via {outcome.entry}: {outcome.late}")
    result.details = _details(outcomes)
    result.extra = {"outcomes": outcomes}
    result.seconds = clock.seconds
    return result


def _details(outcomes: list[Outcome]) -> list[str]:
    by_shape: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_shape.setdefault(outcome.shape.name, []).append(outcome)
    lines = ["| answer | expected | ended with, per entry | slowest | verdict |", "|---|---|---|---|---|"]
    for name, group in by_shape.items():
        ended = "; ".join(f"{o.entry}: {o.error}" for o in group)
        slowest = max(group, key=lambda o: o.seconds)
        said = [p for o in group for p in [*o.problems, *([o.late] if o.late else [])]]
        verdict = "ok" if not said else "NO: " + "; ".join(said)
        lines.append(
            f"| {name} | {group[0].shape.expect} | {ended} | {slowest.seconds:.1f} s (bound "
            f"{slowest.bound:.0f} s) | {verdict} |"
        )
    return lines
