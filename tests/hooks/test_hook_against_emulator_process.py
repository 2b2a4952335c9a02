"""The emulator started by hand, as the README says, serves the hook of another process."""

from __future__ import annotations

from airflow_provider_pcinsights.emulator import EmulatorProcess
from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook


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
