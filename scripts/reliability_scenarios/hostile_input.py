"""Scenario 3: hostile and careless input, each kind refused before anything is sent.

Every kind of bad value a DAG author, a template or an attacker can hand the
provider (report ids, lists, statuses, operator and sensor settings, every
connection field, hook arguments) is tried through the entry point a DAG would
use: an operator's ``execute``, a sensor's ``poke``, the trigger's ``run``, the
hook. Each must be refused with a message that names the field and the problem,
and the emulator must have received nothing at all: no API call, no sign-in, not
even OpenID discovery. The emulator's own request log does the counting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reliability_scenarios.harness import (
    Stopwatch,
    connection_variable,
    emulator_with_connection,
    environment,
)
from reliability_scenarios.outcome import Counts, ScenarioResult

CONN_ID = "pcinsights_reliability_input"
BAD_CONN_ID = "pcinsights_reliability_bad"
GOOD_ID = "a5f7d3b2-1c9e-4c1e-9a43-6d0f4f5d2b10"


class RefusedByEvent(Exception):
    """The trigger ended with an ``error`` event: its refusal, as an exception to judge like the others."""


@dataclass
class Bench:
    """What an attempt needs: the emulator (to build connections from)."""

    emu: Any


@dataclass(frozen=True)
class Kind:
    """One kind of bad input: how a DAG hands it over, and what the refusal must name."""

    group: str
    name: str
    attempt: Callable[[Bench], Any]
    field: str  # the message must name it
    problem: tuple[str, ...]  # ... and say each of these (case-insensitive)
    # Airflow itself may refuse to load the connection (3.0.0 skips one whose extra is not a JSON
    # object): it then says the connection is not defined, and the provider never sees it.
    airflow_may_refuse: bool = False


# ------------------------------------------------------------------------------ entry points


def _pause(report_id: Any, **kwargs: Any) -> Callable[[Bench], Any]:
    def attempt(bench: Bench) -> Any:
        from airflow_provider_pcinsights.operators.report import PauseReportOperator

        kwargs.setdefault("conn_id", CONN_ID)
        return PauseReportOperator(task_id="pause", report_id=report_id, **kwargs).execute({})

    return attempt


def _resume(report_id: Any, **kwargs: Any) -> Callable[[Bench], Any]:
    def attempt(bench: Bench) -> Any:
        from airflow_provider_pcinsights.operators.report import ResumeReportOperator

        return ResumeReportOperator(task_id="resume", report_id=report_id, conn_id=CONN_ID, **kwargs).execute(
            {}
        )

    return attempt


def _sensor(report_id: Any = GOOD_ID, **kwargs: Any) -> Callable[[Bench], Any]:
    def attempt(bench: Bench) -> Any:
        from airflow_provider_pcinsights.sensors.report import ReportStatusSensor

        sensor = ReportStatusSensor(
            task_id="wait", report_id=report_id, conn_id=CONN_ID, deferrable=False, **kwargs
        )
        return sensor.poke({})

    return attempt


def _execution_sensor(**kwargs: Any) -> Callable[[Bench], Any]:
    def attempt(bench: Bench) -> Any:
        from airflow_provider_pcinsights.sensors.report import ReportExecutionSensor

        sensor = ReportExecutionSensor(
            task_id="wait_export", report_id=GOOD_ID, conn_id=CONN_ID, deferrable=False, **kwargs
        )
        return sensor.poke({})

    return attempt


def _download(report_id: Any, **kwargs: Any) -> Callable[[Bench], Any]:
    def attempt(bench: Bench) -> Any:
        import tempfile

        from airflow_provider_pcinsights.operators.report import DownloadReportOperator

        kwargs.setdefault("destination", f"{tempfile.gettempdir()}/pcinsights-reliability-never-written.csv")
        operator = DownloadReportOperator(task_id="download", report_id=report_id, conn_id=CONN_ID, **kwargs)
        return operator.execute({})

    return attempt


def _run_trigger(trigger: Any) -> dict[str, Any]:
    """The trigger's first event; its error event raised as ``RefusedByEvent``, to judge like the others."""

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        return {}

    payload = asyncio.run(first_event())
    if payload.get("status") == "error":
        raise RefusedByEvent(payload.get("message", ""))
    return payload


def _execution_trigger(completed_after: Any) -> Callable[[Bench], Any]:
    def attempt(bench: Bench) -> Any:
        from airflow_provider_pcinsights.triggers.report import ReportExecutionTrigger

        return _run_trigger(
            ReportExecutionTrigger(
                report_ids=[GOOD_ID], completed_after=completed_after, conn_id=CONN_ID, poll_interval=0.05
            )
        )

    return attempt


def _trigger(report_ids: Any, **kwargs: Any) -> Callable[[Bench], Any]:
    def attempt(bench: Bench) -> Any:
        from airflow_provider_pcinsights.triggers.report import ReportStatusTrigger

        kwargs.setdefault("target_statuses", ["Active"])
        kwargs.setdefault("failure_statuses", ["Inactive"])
        return _run_trigger(
            ReportStatusTrigger(report_ids=report_ids, conn_id=CONN_ID, poll_interval=0.05, **kwargs)
        )

    return attempt


def _hook(**kwargs: Any) -> Callable[[Bench], Any]:
    def attempt(bench: Bench) -> Any:
        from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

        return PartnerCenterInsightsHook(conn_id=CONN_ID, **kwargs)

    return attempt


def _hook_call(method: str, *args: Any, **kwargs: Any) -> Callable[[Bench], Any]:
    def attempt(bench: Bench) -> Any:
        from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

        return getattr(PartnerCenterInsightsHook(conn_id=CONN_ID), method)(*args, **kwargs)

    return attempt


def _with_connection(raw: dict[str, Any] | None = None, **overrides: Any) -> Callable[[Bench], Any]:
    """Pause a good report through a connection with one bad field."""

    def attempt(bench: Bench) -> Any:
        import json

        from airflow_provider_pcinsights.operators.report import PauseReportOperator

        value = raw if raw is not None else bench.emu.connection(program="mpn", **overrides)
        if callable(value):
            value = value(bench)
        text = value if isinstance(value, str) else json.dumps(value)
        with environment(**{connection_variable(BAD_CONN_ID): text}):
            return PauseReportOperator(task_id="pause", report_id=GOOD_ID, conn_id=BAD_CONN_ID).execute({})

    return attempt


def _with_connection_from(build: Callable[[Bench], dict[str, Any]]) -> Callable[[Bench], Any]:
    def attempt(bench: Bench) -> Any:
        return _with_connection(raw=build(bench))(bench)

    return attempt


def _extra(bench: Bench, **extra: Any) -> dict[str, Any]:
    connection = bench.emu.connection(program="mpn")
    connection["extra"].update(extra)
    return connection


# ------------------------------------------------------------------------------ the kinds

ID_RULE = ("could change the request url",)

KINDS: tuple[Kind, ...] = (
    # -- report ids --------------------------------------------------------------------------
    Kind("report id", "empty", _pause(""), "report_id", ("empty",)),
    Kind("report id", "only spaces", _pause("   "), "report_id", ("U+0020", *ID_RULE)),
    Kind("report id", "a slash (another path)", _pause("abc/def"), "report_id", ("'/'", *ID_RULE)),
    Kind("report id", "a query", _pause("abc?reportId=x"), "report_id", ("'?'",)),
    Kind("report id", "a fragment", _pause("abc#frag"), "report_id", ("'#'",)),
    Kind("report id", "a percent escape", _pause("abc%2Fdef"), "report_id", ("'%'",)),
    Kind("report id", "'..' (the parent path)", _pause(".."), "report_id", ("'..'",)),
    Kind("report id", "'..' inside an id", _pause("abc..def"), "report_id", ("'..'",)),
    Kind("report id", "a lone '.'", _pause("."), "report_id", ("'.'", *ID_RULE)),
    Kind("report id", "a newline", _pause("abc\ndef"), "report_id", ("U+000A",)),
    Kind("report id", "a tab", _pause("abc\tdef"), "report_id", ("U+0009",)),
    Kind("report id", "a NUL byte", _pause("abc\x00def"), "report_id", ("U+0000",)),
    Kind("report id", "a DEL control character", _pause("abc\x7fdef"), "report_id", ("U+007F",)),
    Kind("report id", "U+2215 DIVISION SLASH", _pause("abc\u2215def"), "report_id", ("DIVISION SLASH",)),
    Kind(
        "report id", "U+FF0F FULLWIDTH SOLIDUS", _pause("abc\uff0fdef"), "report_id", ("FULLWIDTH SOLIDUS",)
    ),
    Kind(
        "report id", "U+2024 ONE DOT LEADER twice", _pause("\u2024\u2024"), "report_id", ("ONE DOT LEADER",)
    ),
    Kind("report id", "a non-ASCII letter", _pause("caf\u00e9"), "report_id", ("U+00E9",)),
    Kind(
        "report id", "a right-to-left override", _pause("\u202eabc"), "report_id", ("RIGHT-TO-LEFT OVERRIDE",)
    ),
    Kind("report id", "129 characters", _pause("a" * 129), "report_id", ("129 characters", "128")),
    Kind("report id", "an unrendered template", _pause("{{ params.report_id }}"), "report_id", ("'{'",)),
    Kind("report id", "a number", _pause(42), "report_id", ("must be a string", "int")),
    Kind("report id", "None", _pause(None), "report_id", ("must be a string", "NoneType")),
    Kind("report id", "a float", _pause(4.2), "report_id", ("must be a string", "float")),
    Kind("report id", "True", _pause(True), "report_id", ("must be a string", "bool")),
    Kind("report id", "bytes", _pause(b"abc"), "report_id", ("must be a string", "bytes")),
    Kind("report id", "a dict", _pause({"id": GOOD_ID}), "report_id", ("must be a string", "dict")),
    Kind("report id", "a set", _pause({GOOD_ID}), "report_id", ("must be a string", "set")),
    # -- lists ---------------------------------------------------------------------------------
    Kind("list", "an empty list", _pause([]), "report_id", ("empty list",)),
    Kind("list", "the same id twice", _pause([GOOD_ID, GOOD_ID]), "report_id", ("more than once", GOOD_ID)),
    Kind("list", "one bad id among good ones", _pause([GOOD_ID, "bad/id"]), "report_id", ("'bad/id'", "'/'")),
    Kind("list", "a number in the list", _pause([GOOD_ID, 7]), "report_id", ("must be a string", "int")),
    Kind("list", "a list inside the list", _pause([[GOOD_ID]]), "report_id", ("must be a string", "list")),
    Kind("list", "a too-long id in a list", _pause(["b" * 200]), "report_id", ("200 characters",)),
    Kind(
        "list", "list text that is not literals", _pause("['a', b]"), "report_id", ("not a list of quoted",)
    ),
    Kind("list", "list text of numbers", _pause("[1, 2]"), "report_id", ("not a list of strings",)),
    Kind(
        "list", "list text of 70 KiB", _pause("[" + "'a'," * 18000 + "]"), "report_id", ("characters long",)
    ),
    Kind("list", "a bad id through the resume", _resume([GOOD_ID, "x?y"]), "report_id", ("'?'",)),
    Kind("list", "a bad id through the sensor", _sensor(["ok", "a#b"]), "report_id", ("'#'",)),
    Kind("list", "a bad id through the trigger", _trigger([GOOD_ID, "../x"]), "report_id", ("'/'",)),
    # -- statuses --------------------------------------------------------------------------------
    Kind(
        "status",
        "an execution status as target",
        _sensor(target_status="Running"),
        "target_status",
        ("'Running'", "unknown"),
    ),
    Kind("status", "a typo in target_status", _sensor(target_status="Activ"), "target_status", ("'Activ'",)),
    Kind("status", "an empty target_status", _sensor(target_status=""), "target_status", ("unknown", "''")),
    Kind("status", "target_status None", _sensor(target_status=None), "target_status", ("None",)),
    Kind("status", "an empty target list", _sensor(target_status=[]), "target_status", ("empty",)),
    Kind(
        "status",
        "one unknown status in a list",
        _sensor(target_status=["Active", "Bogus"]),
        "target_status",
        ("'Bogus'",),
    ),
    Kind(
        "status",
        "a mapping as target",
        _sensor(target_status={"Active": 1}),
        "target_status",
        ("list of them",),
    ),
    Kind("status", "a number as target", _sensor(target_status=5), "target_status", ("5",)),
    Kind(
        "status",
        "a typo in failure_statuses",
        _sensor(failure_statuses=["Pausd"]),
        "failure_statuses",
        ("'Pausd'",),
    ),
    Kind(
        "status",
        "a status both target and failure",
        _sensor(target_status="Paused", failure_statuses=["paused"]),
        "failure_statuses",
        ("both a target status and a failure status",),
    ),
    Kind(
        "status",
        "an unknown status through the trigger",
        _trigger([GOOD_ID], target_statuses=["Done"]),
        "target_status",
        ("'Done'",),
    ),
    # -- operator and sensor settings ---------------------------------------------------------------
    Kind(
        "setting",
        "max_concurrency 0",
        _pause(GOOD_ID, max_concurrency=0),
        "max_concurrency",
        ("at least 1", "0"),
    ),
    Kind("setting", "max_concurrency -3", _pause(GOOD_ID, max_concurrency=-3), "max_concurrency", ("-3",)),
    Kind(
        "setting",
        "max_concurrency as text",
        _pause(GOOD_ID, max_concurrency="4"),
        "max_concurrency",
        ("'4'",),
    ),
    Kind(
        "setting", "max_concurrency True", _pause(GOOD_ID, max_concurrency=True), "max_concurrency", ("True",)
    ),
    Kind("setting", "max_concurrency 2.5", _pause(GOOD_ID, max_concurrency=2.5), "max_concurrency", ("2.5",)),
    Kind("setting", "an empty conn_id", _pause(GOOD_ID, conn_id=""), "conn_id", ("non-empty",)),
    Kind("setting", "a blank conn_id", _pause(GOOD_ID, conn_id="   "), "conn_id", ("non-empty",)),
    Kind("setting", "conn_id None", _pause(GOOD_ID, conn_id=None), "conn_id", ("None",)),
    Kind(
        "setting",
        "a conn_id nobody defined",
        _pause(GOOD_ID, conn_id="no_such_connection"),
        "no_such_connection",
        ("defined",),
    ),
    Kind(
        "setting",
        "a negative poll_interval",
        _sensor(poll_interval=-1),
        "poll_interval",
        ("non-negative", "-1"),
    ),
    Kind("setting", "poll_interval as text", _sensor(poll_interval="30"), "poll_interval", ("'30'",)),
    Kind("setting", "poll_interval True", _sensor(poll_interval=True), "poll_interval", ("True",)),
    # -- the restore, the wait for an export and the download -----------------------------------
    Kind("setting", "an empty paused_by", _resume(None, paused_by=""), "paused_by", ("''",)),
    Kind("setting", "paused_by as a number", _resume(None, paused_by=42), "paused_by", ("42",)),
    Kind(
        "setting",
        "paused_by outside a DAG run",
        _resume(None, paused_by="pause"),
        "paused_by",
        ("no DAG run",),
    ),
    Kind("setting", "a resume naming no report and no pause", _resume(None), "report_id", ("required",)),
    Kind(
        "setting",
        "completed_after that is not a date",
        _execution_sensor(completed_after="yesterday"),
        "completed_after",
        ("'yesterday'", "ISO 8601"),
    ),
    Kind(
        "setting",
        "completed_after as a number",
        _execution_sensor(completed_after=42),
        "completed_after",
        ("int",),
    ),
    Kind(
        "setting",
        "completed_after in month 13",
        _execution_sensor(completed_after="2026-13-01T00:00:00Z"),
        "completed_after",
        ("ISO 8601",),
    ),
    Kind(
        "setting",
        "no completed_after outside a DAG run",
        _execution_sensor(),
        "completed_after",
        ("not set",),
    ),
    Kind(
        "setting",
        "completed_after through the trigger",
        _execution_trigger("soon"),
        "completed_after",
        ("'soon'",),
    ),
    Kind(
        "report id", "a list of ids to the download", _download([GOOD_ID]), "report_id", ("must be a string",)
    ),
    Kind(
        "report id",
        "an execution id with a slash",
        _download(GOOD_ID, execution_id="a/b"),
        "execution_id",
        ("'/'",),
    ),
    Kind(
        "setting", "no download destination", _download(GOOD_ID, destination=None), "destination", ("None",)
    ),
    Kind(
        "setting",
        "a blank download destination",
        _download(GOOD_ID, destination="  "),
        "destination",
        ("'  '",),
    ),
    # -- connection fields -------------------------------------------------------------------------
    Kind("connection", "no login", _with_connection(login=None), "login", ("required",)),
    Kind("connection", "an empty login", _with_connection(login=""), "login", ("required",)),
    Kind(
        "connection",
        "no credential at all",
        _with_connection(password=None),
        "client credential",
        ("required",),
    ),
    Kind(
        "connection",
        "a secret and a certificate",
        _with_connection_from(
            lambda b: b.emu.connection(
                program="mpn", certificate_path=b.emu.certificate_path, password=b.emu.client_secret
            )
        ),
        "certificate_path",
        ("only one client credential",),
    ),
    Kind("connection", "no tenant_id", _with_connection(tenant_id=None), "tenant_id", ("required",)),
    Kind(
        "connection",
        "a tenant_id with a slash",
        _with_connection(tenant_id="contoso/../common"),
        "tenant_id",
        ("not a tenant id",),
    ),
    Kind(
        "connection",
        "a tenant_id with a space",
        _with_connection(tenant_id="contoso tenant"),
        "tenant_id",
        ("not a tenant id",),
    ),
    Kind(
        "connection",
        "a misspelt extra",
        _with_connection(programme="cmp"),
        "programme",
        ("unknown extra", "did you mean 'program'"),
    ),
    Kind(
        "connection",
        "a misspelt extra with the legacy prefix",
        _with_connection(extra__pcinsights__tenantid="x"),
        "tenantid",
        ("unknown extra", "tenant_id"),
    ),
    Kind(
        "connection",
        "an unknown program",
        _with_connection_from(lambda b: _extra(b, program="xyz")),
        "program",
        ("'xyz'", "mpn"),
    ),
    Kind(
        "connection", "an api_version without v", _with_connection(api_version="1"), "api_version", ("'1'",)
    ),
    Kind(
        "connection",
        "an api_version with a path",
        _with_connection(api_version="v1/../v2"),
        "api_version",
        ("'v1/../v2'",),
    ),
    Kind(
        "connection",
        "an unknown auth_type",
        _with_connection(auth_type="password"),
        "auth_type",
        ("'password'",),
    ),
    Kind(
        "connection",
        "refresh_token auth without a token",
        _with_connection(auth_type="refresh_token", refresh_token=None),
        "refresh_token",
        ("required",),
    ),
    Kind(
        "connection",
        "a certificate_path that is not a file",
        _with_connection(certificate_path="/nonexistent/pcinsights.pem", password=None),
        "certificate_path",
        ("not a file",),
    ),
    Kind(
        "connection",
        "a client_assertion_file that is not a file",
        _with_connection(client_assertion_file="/nonexistent/token.jwt", password=None),
        "client_assertion_file",
        ("not a file",),
    ),
    Kind(
        "connection",
        "a plain-http host",
        _with_connection_from(
            lambda b: {**b.emu.connection(program="mpn"), "host": b.emu.url.replace("https", "http")}
        ),
        "host",
        ("https",),
    ),
    Kind(
        "connection",
        "a host with a query",
        _with_connection_from(lambda b: {**b.emu.connection(program="mpn"), "host": f"{b.emu.url}/?next=x"}),
        "host",
        ("query",),
    ),
    Kind(
        "connection",
        "an ftp host",
        _with_connection_from(
            lambda b: {**b.emu.connection(program="mpn"), "host": "ftp://files.example.com"}
        ),
        "host",
        ("https",),
    ),
    Kind(
        "connection",
        "a plain-http authority_host",
        _with_connection(authority_host="http://login.microsoftonline.com"),
        "authority_host",
        ("https",),
    ),
    Kind(
        "connection",
        "verify naming a missing CA file",
        _with_connection(verify="/nonexistent/ca.pem"),
        "verify",
        ("does not exist",),
    ),
    Kind(
        "connection",
        "verify neither boolean nor path",
        _with_connection(verify="maybe"),
        "verify",
        ("true, false or the path",),
    ),
    Kind(
        "connection",
        "proxies that are not JSON",
        _with_connection(proxies="http://proxy:3128"),
        "proxies",
        ("JSON object",),
    ),
    Kind(
        "connection",
        "proxies as a list",
        _with_connection(proxies=["http://proxy:3128"]),
        "proxies",
        ("map schemes",),
    ),
    Kind(
        "connection",
        "a proxy port as a number",
        _with_connection(proxies={"https": 3128}),
        "proxies",
        ("map schemes",),
    ),
    Kind(
        "connection", "a timeout that is not a number", _with_connection(timeout="abc"), "timeout", ("'abc'",)
    ),
    Kind("connection", "a timeout of 0", _with_connection(timeout=0), "timeout", ("more than 0",)),
    Kind("connection", "a negative timeout", _with_connection(timeout=-5), "timeout", ("more than 0",)),
    Kind("connection", "a NaN timeout", _with_connection(timeout="nan"), "timeout", ("more than 0",)),
    Kind("connection", "an infinite timeout", _with_connection(timeout="inf"), "timeout", ("more than 0",)),
    Kind("connection", "a timeout of true", _with_connection(timeout=True), "timeout", ("True",)),
    Kind(
        "connection",
        "extra as a JSON list",
        _with_connection_from(lambda b: {**b.emu.connection(program="mpn"), "extra": ["tenant_id"]}),
        "extra",
        ("JSON object",),
        airflow_may_refuse=True,
    ),
    Kind(
        "connection",
        "extra that is not JSON",
        _with_connection_from(lambda b: {**b.emu.connection(program="mpn"), "extra": "{tenant_id: x"}),
        "extra",
        ("not valid JSON",),
        airflow_may_refuse=True,
    ),
    # -- hook arguments ----------------------------------------------------------------------------
    Kind("hook argument", "negative retries", _hook(retries=-1), "retries", ("-1",)),
    Kind("hook argument", "fractional retries", _hook(retries=1.5), "retries", ("1.5",)),
    Kind("hook argument", "a negative backoff_factor", _hook(backoff_factor=-1), "backoff_factor", ("-1",)),
    Kind("hook argument", "backoff_max as text", _hook(backoff_max="x"), "backoff_max", ("'x'",)),
    Kind(
        "hook argument", "a negative max_retry_after", _hook(max_retry_after=-1), "max_retry_after", ("-1",)
    ),
    Kind("hook argument", "max_pages 0", _hook(max_pages=0), "max_pages", ("0",)),
    Kind(
        "hook argument",
        "a misspelt hook_params key",
        _pause(GOOD_ID, hook_params={"retry": 3}),
        "retry",
        ("unexpected keyword",),
    ),
    Kind(
        "hook argument",
        "statuses joined with a comma",
        _hook_call("get_report_executions", GOOD_ID, execution_status="Completed,Pending"),
        "execution_status",
        ("','",),
    ),
    Kind(
        "hook argument",
        "an undocumented execution status",
        _hook_call("get_report_executions", GOOD_ID, execution_status="Failed"),
        "execution_status",
        ("'Failed'",),
    ),
    Kind(
        "hook argument",
        "an execution id with a slash",
        _hook_call("get_report_executions", GOOD_ID, execution_id="a/b"),
        "execution_id",
        ("'/'",),
    ),
    Kind(
        "hook argument",
        "an empty execution status list",
        _hook_call("get_report_executions", GOOD_ID, execution_status=[]),
        "execution_status",
        ("non-empty",),
    ),
    Kind(
        "hook argument",
        "an empty report_name",
        _hook_call("list_reports", report_name=""),
        "report_name",
        ("non-empty",),
    ),
    Kind(
        "hook argument",
        "a blank query_id",
        _hook_call("list_reports", query_id="  "),
        "query_id",
        ("non-empty",),
    ),
    Kind(
        "hook argument",
        "get_report(None)",
        _hook_call("get_report", None),
        "report_id",
        ("must be a string",),
    ),
    Kind(
        "hook argument",
        "pause_report with a slash",
        _hook_call("pause_report", "../../ScheduledReport"),
        "report_id",
        ("'/'",),
    ),
)


@dataclass
class Verdict:
    kind: Kind
    refused: bool
    error: str  # the exception's type name, or what happened instead
    message: str
    names_field: bool
    names_problem: bool
    requests: int

    @property
    def ok(self) -> bool:
        return self.refused and self.names_field and self.names_problem and self.requests == 0


def _try(kind: Kind, bench: Bench) -> Verdict:
    before = len(bench.emu.all_requests)
    try:
        kind.attempt(bench)
    except Exception as error:  # the refusal we want, whatever its type: judged by its words
        refused, name, message = True, type(error).__name__, str(error)
    else:
        refused, name, message = False, "accepted", ""
    sent = len(bench.emu.all_requests) - before
    folded = message.casefold()
    if kind.airflow_may_refuse and name == "AirflowNotFoundException" and "isn't defined" in message:
        field, problem = BAD_CONN_ID, ("isn't defined",)
    else:
        field, problem = kind.field, kind.problem
    return Verdict(
        kind=kind,
        refused=refused,
        error=name,
        message=message,
        names_field=field.casefold() in folded,
        names_problem=all(part.casefold() in folded for part in problem),
        requests=sent,
    )


def run(size: str = "full") -> ScenarioResult:
    """Every kind at both sizes: each is a single refused call, so the fast variant is the whole set."""
    clock = Stopwatch()
    result = ScenarioResult(number=3, title="Hostile and careless input", size=size)
    with emulator_with_connection(CONN_ID, reports=2) as emu:
        bench = Bench(emu)
        emu.request_log.clear()
        verdicts = [_try(kind, bench) for kind in KINDS]
        total_requests = len(emu.all_requests)
    groups = dict.fromkeys(kind.group for kind in KINDS)
    by_group = ", ".join(f"{sum(k.group == g for k in KINDS)} {g}" for g in groups)
    result.tried = (
        f"{len(KINDS)} kinds of bad input ({by_group}) "
        "through operators, sensor, trigger and hook; each must be refused naming the field and the "
        "problem, with nothing sent (API calls, sign-ins and discovery counted at the emulator)"
    )
    refused = [v for v in verdicts if v.ok]
    result.counts = Counts(
        inputs_refused=len(refused), inputs_total=len(verdicts), requests_sent=total_requests
    )
    for verdict in verdicts:
        if verdict.ok:
            continue
        why = []
        if not verdict.refused:
            why.append("accepted")
        else:
            if not verdict.names_field:
                why.append(f"does not name {verdict.kind.field!r}")
            if not verdict.names_problem:
                why.append(f"does not say {' / '.join(verdict.kind.problem)!r}")
        if verdict.requests:
            why.append(f"{verdict.requests} request(s) sent")
        result.problem(
            f"{verdict.kind.group}: {verdict.kind.name}: {'; '.join(why)} "
            f"({verdict.error}: {verdict.message[:200]!r})"
        )
    if total_requests:
        result.problem(f"the emulator received {total_requests} request(s)")
    result.details = _details(verdicts)
    result.extra = {"verdicts": verdicts}
    result.seconds = clock.seconds
    return result


def _details(verdicts: list[Verdict]) -> list[str]:
    lines = [
        "| group | input | refused with | field named | problem named | requests |",
        "|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        lines.append(
            f"| {v.kind.group} | {_cell(v.kind.name)} | {v.error} | {'yes' if v.names_field else 'NO'} | "
            f"{'yes' if v.names_problem else 'NO'} | {v.requests} |"
        )
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
