"""The request log says what was called, by whom, with what result, and never carries a secret."""

from __future__ import annotations

import json
from pathlib import Path

from emulator_extras import admin
from emulator_support.clients import Api, VerifyingSession, client_credentials_token, msal_app

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.hooks.entra import certificate_credential


def test_calls_are_logged_in_order_with_what_they_did(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids("mpn")[0]
    api.put(f"ScheduledReport/pause/{report_id}")
    emu.faults.throttle(count=1, retry_after=2)
    api.put(f"ScheduledReport/resume/{report_id}")
    api.get("ScheduledReport", params={"reportId": report_id})

    token, pause, throttled, lookup = emu.requests
    assert (token.kind, token.method, token.status, token.grant_type, token.client_id) == (
        "token",
        "POST",
        200,
        "refresh_token",  # the api fixture signs in as App+User, as mpn wants
        emu.client_id,
    )
    assert (pause.kind, pause.method, pause.program, pause.report_id, pause.report_status, pause.status) == (
        "api",
        "PUT",
        "mpn",
        report_id,
        "Paused",
        200,
    )
    assert pause.path == f"/insights/v1/mpn/ScheduledReport/pause/{report_id}"
    assert pause.client_id == emu.client_id
    assert (throttled.status, throttled.fault) == (429, "throttle:2")
    assert lookup.query == {"reportId": report_id}
    assert lookup.report_status == "Paused"
    assert [r.seq for r in emu.requests] == sorted(r.seq for r in emu.requests)
    assert token.monotonic <= pause.monotonic <= lookup.monotonic
    assert lookup.wall_time > 1_600_000_000


def test_token_requests_counts_by_grant_type(emu: Emulator) -> None:
    app = msal_app(emu, emu.client_secret)
    app.acquire_token_for_client([emu.scope])
    app.acquire_token_by_refresh_token(emu.refresh_token, [emu.scope])
    app.acquire_token_by_refresh_token("0.wrong", [emu.scope])
    assert emu.token_requests() == 3
    assert emu.token_requests("refresh_token") == 2
    assert emu.token_requests("client_credentials") == 1
    assert [r.kind for r in emu.all_requests].count("discovery") == 1
    assert "discovery" not in [r.kind for r in emu.requests]


def _secrets(emu: Emulator, issued: list[str]) -> list[str]:
    key = Path(emu.certificate_path).read_text()
    key_body = key.split("-----")[2].strip().splitlines()[1]  # a line of the private key's base64
    return [
        emu.client_secret,
        emu.unauthorized_client_secret,
        emu.refresh_token,
        Path(emu.client_assertion_file).read_text(),
        key_body,
        *issued,
    ]


def test_no_secret_reaches_the_log_the_admin_endpoint_or_the_log_file(tmp_path: Path) -> None:
    log_file = tmp_path / "requests.jsonl"
    with admin.attach(Emulator(reports=2)) as emu, VerifyingSession(emu.ca_path) as session:
        emu.request_log.path = log_file  # as ``--request-log`` sets it
        issued = []
        secret_app = msal_app(emu, emu.client_secret)
        issued.append(secret_app.acquire_token_for_client([emu.scope])["access_token"])
        refreshed = secret_app.acquire_token_by_refresh_token(emu.refresh_token, [emu.scope])
        issued += [refreshed["access_token"], refreshed["refresh_token"]]
        cert_app = msal_app(emu, certificate_credential(emu.certificate_path))
        issued.append(cert_app.acquire_token_for_client([emu.scope])["access_token"])
        assertion = Path(emu.client_assertion_file).read_text()
        msal_app(emu, {"client_assertion": lambda: assertion}).acquire_token_for_client([emu.scope])
        msal_app(emu, "wrong-" + emu.client_secret).acquire_token_for_client([emu.scope])
        api = Api(emu, session, issued[0])
        api.put(f"ScheduledReport/pause/{emu.report_ids('mpn')[0]}")
        api.get("ScheduledReport", params={"reportName": "Daily usage 1"})

        in_memory = json.dumps([r.to_dict() for r in emu.all_requests])
        over_http = session.get(f"{emu.url}/_emulator/requests", params={"all": "1"}).text
        on_disk = log_file.read_text()
        assert len(on_disk.splitlines()) == len(emu.all_requests) >= 8
        for text in (in_memory, over_http, on_disk):
            for secret in _secrets(emu, issued):
                assert secret not in text
        assert "wrong-" not in on_disk


def test_log_file_lines_are_json_records(tmp_path: Path) -> None:
    log_file = tmp_path / "requests.jsonl"
    with Emulator(reports=1) as emu, VerifyingSession(emu.ca_path) as session:
        emu.request_log.path = log_file  # as ``--request-log`` sets it
        client_credentials_token(emu, session)
        records = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert records[-1]["kind"] == "token"
    assert records[-1]["status"] == 200
    assert {"seq", "method", "path", "query", "monotonic", "wall_time", "fault", "report_status"} <= set(
        records[-1]
    )
