"""``PartnerCenterInsightsHook``: every public call over HTTPS to the emulator, and its module.

- Every public call of the hook, over HTTPS to the emulator, through real MSAL.
- What Airflow and DAG files see of the hook module: cheap to import, and a consistent connection form.
- The emulator started by hand, as the README says, serves the hook of another process.
- Secrets stay secret; TLS settings hold even against the environment.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
import requests
from emulator_extras import EmulatorProcess

from airflow_provider_pcinsights import get_provider_info
from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.emulator.behaviour import FOREIGN_HOST
from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    BadRequestError,
    PartnerCenterInsightsError,
    ReportNotFoundError,
    UnexpectedResponseError,
)
from airflow_provider_pcinsights.hooks import insights as insights_module
from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

CREDENTIALS = ["secret", "certificate", "assertion"]


def _credential_overrides(emu, credential: str) -> dict:
    if credential == "certificate":
        return {"certificate_path": emu.certificate_path}
    if credential == "assertion":
        return {"client_assertion_file": emu.client_assertion_file}
    return {}


@pytest.mark.parametrize("program", ["mpn", "cmp"])
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_pause_resume_and_read_back_with_each_program_and_credential(emu, make_hook, program, credential):
    hook = make_hook(program=program, **_credential_overrides(emu, credential))
    report_id = emu.report_ids(program)[0]

    assert hook.get_report(report_id)["ReportStatus"] == "Active"
    paused = hook.pause_report(report_id)
    assert paused["ReportId"] == report_id
    assert paused["ReportStatus"] == "Paused"
    assert emu.report(program, report_id)["ReportStatus"] == "Paused"
    resumed = hook.resume_report(report_id)
    assert resumed["ReportStatus"] == "Active"
    assert emu.report(program, report_id)["ReportStatus"] == "Active"

    default_version = {"mpn": "v1", "cmp": "v1.1"}[program]
    paths = {r.path.split("?")[0] for r in emu.api_requests()}
    assert f"/insights/{default_version}/{program}/ScheduledReport/pause/{report_id}" in paths
    assert f"/insights/{default_version}/{program}/ScheduledReport/resume/{report_id}" in paths


def test_app_plus_user_sign_in_redeems_the_refresh_token(emu, make_hook):
    hook = make_hook(program="mpn", auth_type="refresh_token")
    report_id = emu.report_ids("mpn")[0]

    assert hook.pause_report(report_id)["ReportStatus"] == "Paused"
    assert emu.token_requests(grant_type="refresh_token") == 1
    assert emu.token_requests(grant_type="client_credentials") == 0


def test_api_version_override_changes_the_path(emu, make_hook):
    hook = make_hook(program="cmp", api_version="v1")
    report_id = emu.report_ids("cmp")[0]

    hook.pause_report(report_id)

    assert [r.path.split("?")[0] for r in emu.api_requests(method="PUT")] == [
        f"/insights/v1/cmp/ScheduledReport/pause/{report_id}"
    ]


def test_requests_carry_the_documented_headers(emu, make_hook):
    hook = make_hook()
    hook.list_reports()
    # The emulator refuses a call without a bearer token, so an answer proves it was sent.
    assert [r.status for r in emu.api_requests()] == [200]


def test_list_reports_returns_every_report_and_filters(emu, make_hook):
    hook = make_hook()
    ids = emu.report_ids("mpn")

    assert sorted(r["ReportId"] for r in hook.list_reports()) == sorted(ids)
    name = emu.report("mpn", ids[1])["ReportName"]
    assert [r["ReportId"] for r in hook.list_reports(report_name=name)] == [ids[1]]
    assert [r["ReportId"] for r in hook.list_reports(report_id=ids[2])] == [ids[2]]
    query_id = emu.report("mpn", ids[0])["QueryId"]
    assert ids[0] in [r["ReportId"] for r in hook.list_reports(query_id=query_id)]


def test_list_reports_with_no_match_is_empty(emu, make_hook):
    hook = make_hook()
    assert hook.list_reports(report_name="no report has this name") == []


@pytest.mark.parametrize("next_link", ["absolute", "relative"])
def test_list_reports_follows_next_link(emu, make_hook, next_link):
    for index in range(4):
        emu.add_report("mpn", ReportName=f"extra {index}")
    emu.behaviour.page_size = 2
    emu.behaviour.next_link = next_link
    hook = make_hook()

    records = hook.list_reports()

    assert sorted(r["ReportId"] for r in records) == sorted(emu.report_ids("mpn"))
    assert len(records) == 7
    assert len(emu.api_requests(method="GET")) == 4


def test_a_listing_longer_than_max_pages_is_refused(emu, make_hook):
    emu.behaviour.page_size = 1
    hook = make_hook(hook_kwargs={"max_pages": 2})

    with pytest.raises(Exception, match="after 2 pages"):
        hook.list_reports()


@pytest.mark.parametrize("program", ["mpn", "cmp"])
@pytest.mark.parametrize("key_case", ["mixed", "camel", "pascal"])
def test_records_use_the_documented_names_with_the_values_as_sent(emu, make_hook, program, key_case):
    emu.behaviour.key_case = key_case  # mixed (the default): cmp's PascalCase envelope around camelCase
    hook = make_hook(program=program)  # records; mpn's camelCase records with one PascalCase key
    report_id = emu.report_ids(program)[0]

    record = hook.get_report(report_id)

    stored = emu.report(program, report_id)
    assert record == {**stored, "Format": "csv"}  # every documented name; the lower-case csv as sent
    assert record["ModifiedTime"] is None  # never modified: the service says null
    assert record["CallbackMethod"] == "POST"
    assert {"ReportId", "ReportName", "ReportStatus", "RecurrenceCount"} <= record.keys()


@pytest.mark.parametrize("bom", ["on", "off"])
@pytest.mark.parametrize("program", ["mpn", "cmp"])
def test_answers_and_the_sign_in_are_read_with_or_without_a_byte_order_mark(emu, make_hook, bom, program):
    emu.behaviour.bom = bom  # on (the default): Entra's JSON and the API's start with one
    hook = make_hook(program=program)

    assert hook.get_token()
    assert len(hook.list_reports()) == 3
    assert hook.pause_report(emu.report_ids(program)[0])["ReportStatus"] == "Paused"


def test_the_tidy_shapes_read_the_same(emu, make_hook):
    emu.behaviour.update({"format_case": "upper", "null_times": "off", "bom": "off", "key_case": "pascal"})
    report_id = emu.report_ids("mpn")[0]

    record = make_hook().get_report(report_id)

    stored = emu.report("mpn", report_id)
    assert record == {**stored, "ModifiedTime": stored["CreatedTime"]}


def test_action_answer_without_a_record_reads_the_report_back(emu, make_hook):
    emu.behaviour.action_response = "empty"
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]

    record = hook.pause_report(report_id)

    assert record["ReportStatus"] == "Paused"
    assert [r.method for r in emu.api_requests()] == ["PUT", "GET"]


def test_unknown_report_is_report_not_found(emu, make_hook):
    hook = make_hook()
    unknown = "00000000-0000-4000-8000-000000000404"

    with pytest.raises(ReportNotFoundError, match=f"report {unknown} is unknown to this account") as caught:
        hook.get_report(unknown)
    assert caught.value.report_id == unknown
    with pytest.raises(ReportNotFoundError, match=unknown) as caught:
        hook.pause_report(unknown)
    assert caught.value.status_code == 404
    assert "MS-RequestId" in str(caught.value)


def test_resuming_an_inactive_report_is_a_bad_request_with_the_service_message(emu, make_hook):
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]
    emu.set_report_status("mpn", report_id, "Inactive")

    with pytest.raises(BadRequestError) as caught:
        hook.resume_report(report_id)

    assert caught.value.status_code == 400
    assert caught.value.api_message
    assert caught.value.api_message in str(caught.value)
    assert report_id in str(caught.value)


def test_report_executions(emu, make_hook):
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]

    executions = hook.get_report_executions(report_id)
    assert executions
    assert all(e["ReportId"] == report_id for e in executions)
    assert {"ExecutionId", "ExecutionStatus", "ReportAccessSecureLink"} <= executions[0].keys()

    hook.get_report_executions(report_id, execution_status="Completed", get_latest_execution=False)
    query = emu.api_requests(path_contains="execution")[-1].query
    assert query == {"executionStatus": "Completed", "getLatestExecution": "false"}


@pytest.mark.parametrize("not_found", ["own_text", "no_item"])
def test_report_without_executions_has_an_empty_list_but_unknown_report_raises(emu, make_hook, not_found):
    emu.behaviour.executions_not_found = not_found  # own_text: "There are no executions that have..."
    hook = make_hook()
    fresh = emu.add_report("mpn", ReportName="never ran")

    assert hook.get_report_executions(fresh) == []
    with pytest.raises(ReportNotFoundError):
        hook.get_report_executions("00000000-0000-4000-8000-000000000404")


def test_pending_executions_with_null_links_and_times_come_back_without_error(emu, make_hook):
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]  # two completed runs, the latest without an expiry, and one pending

    runs = hook.get_report_executions(
        report_id, execution_status=["Completed", "pending"], get_latest_execution=False
    )

    assert emu.api_requests(path_contains="execution")[-1].query == {
        "executionStatus": "Completed;Pending",  # several values joined by ';', as the service reads them
        "getLatestExecution": "false",
    }
    assert sorted(r["ExecutionStatus"] for r in runs) == ["Completed", "Completed", "Pending"]
    (pending,) = [r for r in runs if r["ExecutionStatus"] == "Pending"]
    assert pending["ReportAccessSecureLink"] is None
    assert pending["ReportGeneratedTime"] is None
    assert [r["ReportExpiryTime"] for r in runs if r["ExecutionStatus"] == "Completed"].count(None) == 1


def test_several_execution_ids_are_joined_by_semicolons(emu, make_hook):
    hook = make_hook()
    report_id = emu.report_ids("mpn")[0]
    every = hook.get_report_executions(
        report_id, execution_status="Completed;Pending", get_latest_execution=False
    )
    ids = [r["ExecutionId"] for r in every][:2]

    chosen = hook.get_report_executions(
        report_id, execution_id=ids, execution_status="Completed;Pending", get_latest_execution=False
    )

    assert sorted(r["ExecutionId"] for r in chosen) == sorted(ids)
    assert emu.api_requests(path_contains="execution")[-1].query["executionId"] == ";".join(ids)


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"execution_status": "Completed,Pending"}, "Join several with ';'"),
        ({"execution_status": "Failed"}, "unknown status 'Failed'"),
        ({"execution_id": "e1,e2"}, "Join several with ';'"),
        ({"execution_id": "e1/../x"}, "execution_id"),
        ({"execution_status": []}, "execution_status must be a non-empty"),
    ],
)
def test_filters_the_service_would_misread_are_refused_before_sending(emu, make_hook, kwargs, said):
    hook = make_hook()
    with pytest.raises(ValueError, match=said):
        hook.get_report_executions(emu.report_ids("mpn")[0], **kwargs)
    assert emu.api_requests() == []


@pytest.mark.parametrize(("program", "calls"), [("cmp", 1), ("mpn", 2)])
def test_several_report_ids_in_one_listing_on_cmp_v1_1_and_one_call_each_elsewhere(
    emu, make_hook, program, calls
):
    hook = make_hook(program=program)
    wanted = emu.report_ids(program)[:2]

    records = hook.list_reports(report_id=wanted)

    assert sorted(r["ReportId"] for r in records) == sorted(wanted)
    queries = [r.query["reportId"] for r in emu.api_requests()]
    assert len(queries) == calls
    assert queries == ([";".join(wanted)] if calls == 1 else wanted)


@pytest.mark.parametrize(
    "bad_id",
    [
        "",
        "a/b",
        "../x",
        "x?y=1",
        "a b",
        "%2e",
        7,
        None,
        "x" * 129,
        "a\u2215b",  # DIVISION SLASH, a look-alike of '/'
        "a\uff0e\uff0eb",  # FULLWIDTH FULL STOP twice, a look-alike of '..'
        "r\u00e9port",
        "a,b",
        "a;b",
        "a+b",
        "a:b",
        "a@b",
        "['a', 'b']",
    ],
)
def test_unsafe_report_ids_are_refused_before_anything_is_sent(emu, make_hook, bad_id):
    hook = make_hook()
    for call in (hook.get_report, hook.pause_report, hook.resume_report, hook.get_report_executions):
        with pytest.raises(ValueError, match="report_id") as caught:
            call(bad_id)
        if isinstance(bad_id, str) and bad_id and len(bad_id) <= 128:
            assert repr(bad_id) in str(caught.value)  # the id as given
            assert "letters, digits, '-', '.', '_' and '~'" in str(caught.value)  # and the rule
    assert emu.requests == []


def test_a_look_alike_character_is_named_by_its_code_point(emu, make_hook):
    with pytest.raises(ValueError, match=r"U\+2215 DIVISION SLASH"):
        make_hook().get_report("a\u2215b")


def test_test_connection_succeeds_and_says_where(emu, make_hook):
    ok, message = make_hook(program="cmp").test_connection()
    assert ok is True
    assert "cmp v1.1" in message
    assert emu.client_id in message


def test_test_connection_reports_a_wrong_secret_without_raising(emu, make_hook):
    ok, message = make_hook(password="not-the-secret").test_connection()
    assert ok is False
    assert "AADSTS" in message
    assert "not-the-secret" not in message


def test_test_connection_reports_an_invalid_connection(emu, make_hook):
    ok, message = make_hook(program="xyz").test_connection()
    assert ok is False
    assert "program" in message
    assert emu.requests == []


def test_test_connection_reports_a_dead_service(tmp_path, monkeypatch, fast_retries):
    emulator = Emulator(state_dir=tmp_path).start()  # its files outlive stop()
    for name, value in emulator.connection_env("pcinsights_dead").items():
        monkeypatch.setenv(name, value)
    hook = PartnerCenterInsightsHook("pcinsights_dead", **fast_retries)
    hook.get_token()
    emulator.stop()

    ok, message = hook.test_connection()

    assert ok is False
    assert "did not answer" in message


def test_hook_accepts_an_already_fetched_connection(emu):
    from airflow.models.connection import Connection

    connection = Connection.from_json(emu.connection_json(program="cmp"), conn_id="given")
    hook = PartnerCenterInsightsHook(connection=connection, retries=0)
    assert hook.get_report(emu.report_ids("cmp")[0])["ReportStatus"] == "Active"


def test_constructing_a_hook_looks_nothing_up(emu, monkeypatch):
    # No such connection exists: construction must still succeed, failing only on use.
    hook = PartnerCenterInsightsHook(conn_id="does_not_exist_anywhere")
    assert emu.requests == []
    with pytest.raises(Exception, match="does_not_exist_anywhere"):
        hook.get_token()


_PROBE = """
import json, sys
import airflow
import airflow.providers.common.compat.sdk
before = set(sys.modules)
import airflow_provider_pcinsights.hooks.insights
after = set(sys.modules)
print(json.dumps({"before": sorted(before), "new": sorted(after - before)}))
"""

HEAVY = ("msal", "requests", "urllib3", "cryptography")


def test_importing_the_hook_loads_neither_msal_nor_requests():
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=os.environ.copy(), check=True
    )
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    newly_loaded = {name.split(".")[0] for name in modules["new"]}
    already_loaded = {name.split(".")[0] for name in modules["before"]}

    assert "msal" not in newly_loaded
    for heavy in HEAVY:
        # Whatever Airflow itself did not already load, the hook must not load either.
        assert heavy in already_loaded or heavy not in newly_loaded, f"{heavy} imported by the hook module"


def test_hook_identity():
    assert PartnerCenterInsightsHook.conn_name_attr == "conn_id"
    assert PartnerCenterInsightsHook.default_conn_name == "pcinsights_default"
    assert PartnerCenterInsightsHook.conn_type == "pcinsights"
    assert PartnerCenterInsightsHook.hook_name == "Microsoft Partner Center Insights"
    assert PartnerCenterInsightsHook().conn_id == "pcinsights_default"


def _connection_type() -> dict:
    (entry,) = get_provider_info()["connection-types"]
    return entry


def test_the_classic_form_offers_the_same_extras_as_the_provider_info():
    widgets = PartnerCenterInsightsHook.get_connection_form_widgets()
    try:
        import flask_appbuilder  # noqa: F401
    except ImportError:  # Airflow 3 without the FAB UI: nothing to draw, and no crash
        assert widgets == {}
        return
    assert set(widgets) == set(_connection_type()["conn-fields"])
    assert widgets["refresh_token"].field_class.__name__ == "PasswordField"


def test_the_field_behaviour_matches_the_provider_info():
    behaviour = PartnerCenterInsightsHook.get_ui_field_behaviour()
    declared = _connection_type()["ui-field-behaviour"]

    assert behaviour["hidden_fields"] == declared["hidden-fields"]
    assert behaviour["relabeling"] == declared["relabeling"]
    assert behaviour["relabeling"]["login"] == "Client ID"
    assert behaviour["relabeling"]["password"] == "Client secret"
    assert behaviour["placeholders"] == declared["placeholders"]


def test_the_printed_connection_line_works_with_the_hook(monkeypatch):
    with EmulatorProcess("--reports", "2", "--port", "0") as emulator:
        for name, value in emulator.env.items():  # AIRFLOW_CONN_PCINSIGHTS_DEFAULT, as printed
            monkeypatch.setenv(name, value)

        hook = PartnerCenterInsightsHook()
        reports = hook.list_reports()
        paused = hook.pause_report(reports[0]["ReportId"])

        assert len(reports) == 2
        assert paused["ReportStatus"] == "Paused"
        assert hook.get_report(reports[0]["ReportId"])["ReportStatus"] == "Paused"
        assert hook.test_connection()[0] is True
    assert emulator.process.returncode == 0  # stopped cleanly by SIGTERM


def _everything_secret(emu, hook) -> list[str]:
    return [emu.client_secret, emu.refresh_token, hook.get_token()]


def test_no_secret_reaches_the_logs_errors_or_reprs(emu, make_hook, caplog):
    caplog.set_level(logging.DEBUG)
    hook = make_hook(auth_type="refresh_token")
    report_id = emu.report_ids("mpn")[0]
    hook.pause_report(report_id)
    emu.revoke_tokens()  # a 401 and a second sign-in, both logged
    hook.resume_report(report_id)
    emu.faults.fail(count=1, status=400)
    errors = []
    with pytest.raises(PartnerCenterInsightsError) as caught:
        hook.get_report(report_id)
    errors.append(str(caught.value))
    secrets = _everything_secret(emu, hook)
    reprs = [repr(hook), repr(hook.settings), repr(hook._token_source)]

    for secret in secrets:
        assert secret not in caplog.text
        assert all(secret not in text for text in errors + reprs)
    assert "Signed in to Microsoft Entra ID" in caplog.text  # the log was really captured


def test_a_failed_sign_in_says_nothing_secret(emu, make_hook, caplog):
    caplog.set_level(logging.DEBUG)
    hook = make_hook(auth_type="refresh_token", password="a-wrong-but-secret-value")
    with pytest.raises(AuthenticationError) as caught:
        hook.get_token()
    for secret in ("a-wrong-but-secret-value", emu.refresh_token):
        assert secret not in str(caught.value)
        assert secret not in caplog.text


def test_secrets_and_tokens_are_registered_for_masking(emu, make_hook, monkeypatch):
    registered: list[str] = []
    real_mask_secret = insights_module.mask_secret

    def spy(secret, *args, **kwargs):
        registered.append(secret)
        return real_mask_secret(secret, *args, **kwargs)

    monkeypatch.setattr(insights_module, "mask_secret", spy)
    hook = make_hook(auth_type="refresh_token")
    token = hook.get_token()

    assert emu.client_secret in registered
    assert emu.refresh_token in registered
    assert token in registered
    # The refresh token Entra handed back is registered too, whatever it is.
    assert len(registered) >= 4


def test_verify_is_honoured_even_when_requests_ca_bundle_points_elsewhere(emu, make_hook, monkeypatch):
    unrelated_ca = requests.certs.where()  # a real CA bundle that does not know the emulator
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", unrelated_ca)
    monkeypatch.setenv("CURL_CA_BUNDLE", unrelated_ca)
    hook = make_hook(auth_type="refresh_token")  # verify = the emulator's CA

    assert len(hook.list_reports()) == 3  # sign-in through MSAL and the API call both verified


def test_default_trust_refuses_the_emulator_certificate_clearly(emu, make_hook):
    hook = make_hook(verify="true")

    with pytest.raises(PartnerCenterInsightsError, match="verify"):
        hook.get_token()
    assert emu.token_requests() == 0


def test_the_token_is_not_sent_to_another_host(emu, make_hook):
    hook = make_hook()
    stolen: list[str] = []

    class OtherHost(requests.adapters.BaseAdapter):
        """Stands in for the foreign host, so even a regression sends nothing off this machine."""

        def send(self, request, **kwargs):
            stolen.append(request.headers.get("Authorization", ""))
            raise AssertionError("the hook must not call another host")

        def close(self):
            pass

    hook._session("api").mount(FOREIGN_HOST, OtherHost())
    emu.behaviour.page_size = 2
    emu.behaviour.next_link = "foreign"  # the second page is announced on another host

    with pytest.raises(
        UnexpectedResponseError, match="refusing to send the access token to another host"
    ) as caught:
        hook.list_reports()

    assert FOREIGN_HOST in str(caught.value)
    assert stolen == []
    assert [r.query for r in emu.api_requests()] == [{}]  # only the first page was asked for


def test_service_text_that_echoes_the_request_is_quoted_without_any_credential(emu, make_hook, caplog):
    caplog.set_level(logging.DEBUG)
    hook = make_hook(auth_type="refresh_token")
    token = hook.get_token()
    emu.faults.echo(count=3, status=502)  # a proxy quoting the request back: Authorization: Bearer ...

    with pytest.raises(PartnerCenterInsightsError) as caught:
        hook.list_reports()

    message, said = str(caught.value), caught.value.api_message or ""
    assert "Request as received" in said  # quoted...
    assert "authorization: Bearer ***" in said  # ...but redacted
    for secret in (token, emu.client_secret, emu.refresh_token):
        assert secret not in message
        assert secret not in said
        assert secret not in caplog.text

    emu.faults.echo(count=3, status=502)
    ok, said = hook.test_connection()  # never raises, and never quotes a credential either
    assert not ok
    assert "Bearer ***" in said
    assert token not in said


@pytest.mark.parametrize("auth_type", ["refresh_token", "client_credentials"])
def test_msal_debug_records_of_an_answer_echoing_the_form_say_nothing_secret(
    emu, make_hook, caplog, auth_type
):
    """A 400 reaches MSAL, which logs the whole answer at DEBUG (msal.token_cache): it used to quote the
    client secret and the refresh token that the echo carried, before any handler could mask them."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="msal")
    hook = make_hook(auth_type=auth_type, program="cmp" if auth_type == "client_credentials" else "mpn")
    emu.faults.echo(count=3, status=400, path="/oauth2/v2.0/token")

    with pytest.raises(PartnerCenterInsightsError):
        hook.get_token()

    msal_records = [r for r in caplog.records if r.name.startswith("msal")]
    assert any("Request as received" in r.getMessage() for r in msal_records)  # MSAL did log the echo
    for secret in (emu.client_secret, emu.refresh_token):
        assert all(secret not in r.getMessage() for r in caplog.records)
    assert any("client_secret=***" in r.getMessage() for r in msal_records)


def test_a_sign_in_answer_that_echoes_the_form_says_nothing_secret(emu, make_hook, caplog):
    caplog.set_level(logging.DEBUG)
    hook = make_hook(auth_type="refresh_token")
    emu.faults.echo(count=3, status=500, path="/oauth2/v2.0/token")  # client_secret=...&refresh_token=...

    with pytest.raises(PartnerCenterInsightsError) as caught:
        hook.get_token()

    for secret in (emu.client_secret, emu.refresh_token):
        assert secret not in str(caught.value)
        assert secret not in (caught.value.api_message or "")
        assert secret not in caplog.text


@pytest.mark.parametrize("status", [307, 302])
def test_a_redirect_is_not_followed_to_another_host_nor_within_the_api(emu, make_hook, status):
    """requests would follow it, dropping the token for another host but reading that host's answer as the
    service's. Another emulator, on ``localhost``, stands for the other host."""
    from airflow_provider_pcinsights.emulator import Emulator

    hook = make_hook()
    with Emulator(reports=1) as elsewhere:
        other = elsewhere.url.replace("127.0.0.1", "localhost")
        for target in (other, emu.url):
            emu.faults.redirect(count=1, status=status, location=f"{target}/insights/v1/mpn/ScheduledReport")
            with pytest.raises(
                UnexpectedResponseError, match=rf"HTTP {status} with a redirect to "
            ) as caught:
                hook.list_reports()
            assert f"a redirect to {target}, which is not followed" in str(caught.value)
        assert elsewhere.all_requests == []
    assert [r.fault for r in emu.api_requests()] == [f"redirect:{status}"] * 2  # and nothing more
