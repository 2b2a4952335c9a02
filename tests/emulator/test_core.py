"""The Python API tests and the demo use: connections, report helpers, lifecycle, concurrency."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from emulator_support.clients import Api, VerifyingSession, app_plus_user_token

from airflow_provider_pcinsights.emulator import Emulator


def test_connection_json_points_at_the_emulator_and_signs_in_as_a_real_tenant_would(emu: Emulator) -> None:
    conn = json.loads(emu.connection_json())
    assert conn == {
        "conn_type": "pcinsights",
        "login": emu.client_id,
        "password": emu.client_secret,
        "host": emu.url,
        "extra": {
            "tenant_id": emu.tenant_id,
            "program": "mpn",
            "auth_type": "refresh_token",  # mpn wants App+User; the emulator refuses app-only there
            "refresh_token": emu.refresh_token,
            "authority_host": emu.url,
            "verify": emu.ca_path,
        },
    }
    assert json.loads(emu.connection_json(program="cmp"))["extra"]["auth_type"] == "client_credentials"
    app_only = json.loads(emu.connection_json(auth_type="client_credentials"))
    assert app_only["extra"]["auth_type"] == "client_credentials"
    assert "refresh_token" not in app_only["extra"]


def test_connection_overrides(emu: Emulator) -> None:
    with_certificate = json.loads(emu.connection_json(program="cmp", certificate_path=emu.certificate_path))
    assert "password" not in with_certificate  # the certificate is then the credential used
    assert with_certificate["extra"]["certificate_path"] == emu.certificate_path
    refresh = json.loads(
        emu.connection_json(auth_type="refresh_token", timeout=5, verify=None, login="other")
    )
    assert refresh["extra"]["refresh_token"] == emu.refresh_token
    assert refresh["extra"]["timeout"] == 5
    assert "verify" not in refresh["extra"]
    assert refresh["login"] == "other"
    assert emu.connection_env("my_conn", program="cmp") == {
        "AIRFLOW_CONN_MY_CONN": emu.connection_json(program="cmp")
    }


def test_report_helpers(emu: Emulator) -> None:
    report_id = emu.report_ids("cmp")[0]
    copy = emu.report("cmp", report_id)
    copy["ReportStatus"] = "Paused"
    assert emu.report("cmp", report_id)["ReportStatus"] == "Active"  # a copy, not the stored record
    assert emu.set_report_status("cmp", report_id, "Inactive")["ReportStatus"] == "Inactive"
    with pytest.raises(ValueError, match="status must be one of Active, Paused, Inactive"):
        emu.set_report_status("cmp", report_id, "paused-ish")
    with pytest.raises(KeyError, match="no mpn report"):
        emu.report("mpn", report_id)
    added = emu.add_report("mpn", ReportName="Mine", ReportStatus="Paused")
    assert emu.report_ids("mpn")[-1] == added
    assert emu.report("mpn", added)["ReportName"] == "Mine"
    assert emu.report("mpn", added)["ReportStatus"] == "Paused"
    assert "QueryStartTime" in emu.report("cmp", report_id)


def test_stop_removes_its_temporary_files() -> None:
    emu = Emulator(reports=0).start()
    emu.stop()
    assert not Path(emu.ca_path).exists()
    assert not Path(emu.state_dir).exists()


def test_a_stopped_emulator_answers_nothing_on_kept_alive_connections(tmp_path: Path) -> None:
    emu = Emulator(reports=1, state_dir=tmp_path).start()
    session = VerifyingSession(emu.ca_path)
    api = Api(emu, session, app_plus_user_token(emu, session).json()["access_token"])
    assert api.get("ScheduledReport").status_code == 200  # leaves a kept-alive connection in the pool
    emu.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("ScheduledReport")
    session.close()
    assert Path(emu.ca_path).exists()  # a state directory the caller chose is kept


def test_an_emulator_not_started_has_no_url() -> None:
    with pytest.raises(RuntimeError, match="has not been started"):
        _ = Emulator(reports=0).url


def test_repr_shows_no_secret(emu: Emulator) -> None:
    assert emu.client_secret not in repr(emu)
    assert emu.url in repr(emu)


def test_concurrent_calls_are_all_answered_consistently() -> None:
    with Emulator(reports=20) as emu:
        ids = emu.report_ids("mpn")

        def flip(report_id: str) -> tuple[int, int, int]:
            with VerifyingSession(emu.ca_path) as session:
                api = Api(emu, session, app_plus_user_token(emu, session).json()["access_token"])
                return (
                    api.put(f"ScheduledReport/pause/{report_id}").status_code,
                    api.put(f"ScheduledReport/resume/{report_id}").status_code,
                    api.put(f"ScheduledReport/pause/{report_id}").status_code,
                )

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(flip, ids))
        assert results == [(200, 200, 200)] * len(ids)
        assert {r["ReportStatus"] for r in emu.reports("mpn")} == {"Paused"}
        assert emu.token_requests() == len(ids)
        assert len([r for r in emu.requests if r.kind == "api"]) == 3 * len(ids)
        assert [r.seq for r in emu.requests] == sorted(r.seq for r in emu.requests)


def test_constructor_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="reports must be >= 0"):
        Emulator(reports=-1)
    with pytest.raises(ValueError, match="token_lifetime"):
        Emulator(token_lifetime=0)
