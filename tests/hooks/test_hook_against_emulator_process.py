"""The emulator started by hand, as the README says, serves the hook of another process."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys

from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook


def test_the_printed_connection_line_works_with_the_hook(monkeypatch, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_pcinsights.emulator", "--reports", "2", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = ""
        while "AIRFLOW_CONN_PCINSIGHTS_DEFAULT=" not in line:
            line = process.stdout.readline()
            assert line, "the emulator exited without printing its connection line"
        name, _, value = shlex.split(line.strip().removeprefix("export "))[0].partition("=")
        monkeypatch.setenv(name, value)

        hook = PartnerCenterInsightsHook()
        reports = hook.list_reports()
        paused = hook.pause_report(reports[0]["ReportId"])

        assert len(reports) == 2
        assert paused["ReportStatus"] == "Paused"
        assert hook.get_report(reports[0]["ReportId"])["ReportStatus"] == "Paused"
        assert hook.test_connection()[0] is True
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
