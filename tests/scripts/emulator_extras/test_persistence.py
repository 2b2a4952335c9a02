"""``PersistentEmulator`` (``--state-file``): a restarted emulator answers as the one before."""

from __future__ import annotations

import json
from pathlib import Path

from airflow_components import free_port
from emulator_extras import EmulatorProcess
from emulator_extras.persistence import PersistentEmulator
from emulator_support.clients import Api, VerifyingSession, app_plus_user_token

from airflow_provider_pcinsights.emulator import Emulator


def test_a_restarted_emulator_keeps_its_reports_tokens_and_certificates(tmp_path: Path) -> None:
    # Restarted on its port: one reserved for this test run, not one the OS may hand to another socket
    # between the two.
    port = free_port()
    state_file, files = tmp_path / "state.pickle", tmp_path / "files"
    with (
        PersistentEmulator(state_file, reports=2, port=port, state_dir=files) as first,
        VerifyingSession(first.ca_path) as session,
    ):
        answer = app_plus_user_token(first, session).json()
        api = Api(first, session, answer["access_token"])
        report_id = first.report_ids("mpn")[0]
        assert api.put(f"ScheduledReport/pause/{report_id}").status_code == 200
        added = first.add_report("mpn", ReportName="Added before the restart")
        ca = Path(first.ca_path).read_bytes()

    with (
        PersistentEmulator(state_file, reports=2, port=port, state_dir=files) as second,
        VerifyingSession(second.ca_path) as session,
    ):
        assert Path(second.ca_path).read_bytes() == ca  # a client's verify still holds
        assert second.report("mpn", report_id)["ReportStatus"] == "Paused"
        assert added in second.report_ids("mpn")
        api = Api(second, session, answer["access_token"])  # the token issued before the restart
        assert api.get("ScheduledReport").status_code == 200
        rotated = {
            "grant_type": "refresh_token",
            "client_id": second.client_id,
            "client_secret": second.client_secret,
            "refresh_token": answer["refresh_token"],  # the one Entra handed back before the restart
            "scope": second.scope,
        }
        assert session.post(f"{second.authority}/oauth2/v2.0/token", data=rotated).status_code == 200


def test_without_a_state_file_a_new_emulator_starts_from_the_seed(tmp_path: Path) -> None:
    with Emulator(reports=1, state_dir=tmp_path) as first:
        first.set_report_status("mpn", first.report_ids("mpn")[0], "Paused")
    with Emulator(reports=1, state_dir=tmp_path) as second:
        assert second.report("mpn", second.report_ids("mpn")[0])["ReportStatus"] == "Active"


def test_the_command_line_keeps_its_state_across_a_restart_with_the_same_port(tmp_path: Path) -> None:
    args = ["--reports", "2", "--state-dir", str(tmp_path / "files"), "--state-file", str(tmp_path / "state")]
    port = str(free_port())  # reserved for this run, as above
    with EmulatorProcess(*args, "--port", port) as first:
        report_id = first.admin_get("reports", program="mpn")[0]["ReportId"]
        first.admin_post("report-status", {"report_id": report_id, "status": "Inactive"})
        connection = first.connection
    with EmulatorProcess(*args, "--port", port) as second:
        assert second.connection == connection  # the printed line still works as it was
        statuses = {r["ReportId"]: r["ReportStatus"] for r in second.admin_get("reports", program="mpn")}
        assert statuses[report_id] == "Inactive"
        assert json.loads(json.dumps(second.admin_get("state")))["url"] == first.url
