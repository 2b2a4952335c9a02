"""``EmulatorProcess``: the emulator's command line, started and stopped from Python."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path
from typing import Any

import msal
import pytest
import requests
from emulator_extras import EmulatorProcess, EmulatorProcessError
from emulator_extras.process import parse_connection_line
from emulator_support.clients import VerifyingSession, strip_bom, values

SCOPE = ["https://api.partnercenter.microsoft.com/.default"]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _fake_python(tmp_path: Path, script: str) -> str:
    """An executable that stands in for Python: ``<it> -m <module> ...`` runs ``script`` (sh)."""
    path = tmp_path / "fake-python"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_its_connection_works_for_plain_clients(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    with EmulatorProcess("--reports", "4", "--program", "cmp", "--request-log", str(log)) as emu:
        assert list(emu.env) == ["AIRFLOW_CONN_PCINSIGHTS_DEFAULT"]
        assert json.loads(emu.env["AIRFLOW_CONN_PCINSIGHTS_DEFAULT"]) == emu.connection
        conn = emu.connection
        assert conn["conn_type"] == "pcinsights"
        assert conn["extra"]["program"] == "cmp"
        assert emu.url == conn["host"]
        assert emu.url.startswith("https://127.0.0.1:")
        assert emu.verify == conn["extra"]["verify"]
        assert Path(emu.verify).exists()

        app = msal.ConfidentialClientApplication(
            conn["login"],
            client_credential=conn["password"],
            authority=f"{conn['extra']['authority_host']}/{conn['extra']['tenant_id']}",
            instance_discovery=False,
            http_client=VerifyingSession(emu.verify),
        )
        token = app.acquire_token_for_client(SCOPE)["access_token"]
        answer = requests.get(
            f"{emu.url}/insights/v1.1/cmp/ScheduledReport",
            headers={"Authorization": f"Bearer {token}"},
            verify=emu.verify,
            timeout=10,
            hooks={"response": [strip_bom]},
        )
        assert answer.status_code == 200
        assert len(values(answer)) == 4
    assert [json.loads(line)["kind"] for line in log.read_text().splitlines()] == [
        "discovery",
        "token",
        "api",
    ]


def test_admin_get_and_post() -> None:
    with EmulatorProcess("--reports", "2") as emu:
        reports = emu.admin_get("reports", program="mpn")
        assert len(reports) == 2
        report_id = reports[0]["ReportId"]

        record = emu.admin_post(
            "report-status", {"program": "mpn", "report_id": report_id, "status": "Paused"}
        )
        assert record["ReportStatus"] == "Paused"
        scheduled = emu.admin_post(
            "status-after-reads", {"report_id": report_id, "status": "Active", "reads": 2}
        )
        assert scheduled["scheduled"][0]["reads_left"] == 2
        assert emu.admin_get("reads", program="mpn", report_id=report_id) == {"reads": 0}
        assert emu.admin_get("state")["scheduled_status_changes"][0]["status"] == "Active"
        assert emu.admin_post("reset") == {"reset": True}

        with pytest.raises(EmulatorProcessError, match="answered HTTP 400: no mpn report") as refused:
            emu.admin_post("report-status", {"report_id": "nope", "status": "Paused"})
        assert refused.value.status == 400
        with pytest.raises(EmulatorProcessError, match="HTTP 404") as unknown:
            emu.admin_get("nothing-here")
        assert unknown.value.status == 404


def test_stop_is_idempotent_and_leaves_no_process(tmp_path: Path) -> None:
    emu = EmulatorProcess("--reports", "1", log_file=tmp_path / "emulator.log")
    assert emu.stop() is None  # never started: nothing to do
    with emu:
        assert emu.running
        pid = emu.process.pid
        ca = Path(emu.verify)
        assert ca.exists()
    assert not emu.running
    assert _gone(pid)
    assert emu.process.returncode == 0  # SIGTERM: it stopped cleanly
    assert not ca.exists()  # and removed its temporary certificates
    assert emu.stop() == 0
    assert emu.stop() == 0
    with pytest.raises(EmulatorProcessError, match="already started"):
        emu.start()
    # Its whole output, stdout and stderr, went to the log.
    text = (tmp_path / "emulator.log").read_text()
    assert text.startswith("export AIRFLOW_CONN_PCINSIGHTS_DEFAULT='")  # pasted as printed
    assert "pcinsights emulator at https://127.0.0.1:" in text
    assert text.rstrip().endswith("pcinsights emulator stopped")


def test_bad_arguments_fail_with_the_emulators_own_message() -> None:
    emu = EmulatorProcess("--drop-every", "0")
    with pytest.raises(EmulatorProcessError) as failed:
        emu.start()
    message = str(failed.value)
    assert "exited with code 2 before printing its connection line" in message
    assert "argument --drop-every: must be a positive integer, got '0'" in message
    assert not emu.running
    assert emu.process.returncode == 2


def test_not_started_has_no_connection() -> None:
    with pytest.raises(EmulatorProcessError, match="not started"):
        EmulatorProcess().connection  # noqa: B018


def test_a_process_that_never_prints_the_line_is_stopped(tmp_path: Path) -> None:
    emu = EmulatorProcess(
        python=_fake_python(tmp_path, "echo warming up\nexec sleep 60\n"), start_timeout=0.5
    )
    started = time.monotonic()
    with pytest.raises(EmulatorProcessError, match=r"printed no connection line within 0.5s") as failed:
        emu.start()
    assert "warming up" in str(failed.value)
    assert time.monotonic() - started < 15
    assert _gone(emu.process.pid)


def test_export_prefix_and_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    line = 'export AIRFLOW_CONN_OTHER=\'{"host": "https://127.0.0.1:1/", "extra": {"verify": false}}\''
    script = f"trap '' TERM\necho {json.dumps(line)}\nexec sleep 60\n"
    emu = EmulatorProcess(python=_fake_python(tmp_path, script), stop_timeout=0.5).start()
    assert emu.env == {"AIRFLOW_CONN_OTHER": '{"host": "https://127.0.0.1:1/", "extra": {"verify": false}}'}
    assert emu.url == "https://127.0.0.1:1"
    assert emu.verify is False
    assert emu.stop() == -signal.SIGKILL  # SIGTERM ignored: killed after stop_timeout
    assert _gone(emu.process.pid)


def test_output_keeps_being_read_after_the_line(tmp_path: Path) -> None:
    """A megabyte after the line would fill the pipe and stall a process nobody reads."""
    done = tmp_path / "done"
    line = 'AIRFLOW_CONN_X=\'{"host": "https://127.0.0.1:1"}\''
    script = (
        f"echo {json.dumps(line)}\nhead -c 1000000 /dev/zero | tr '\\0' x\necho > {done}\nexec sleep 60\n"
    )
    with EmulatorProcess(python=_fake_python(tmp_path, script), log_file=tmp_path / "out.log") as emu:
        deadline = time.monotonic() + 20
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert done.exists()
        assert emu.running
    assert (tmp_path / "out.log").stat().st_size > 1_000_000


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("AIRFLOW_CONN_PCINSIGHTS_DEFAULT='{\"a\": 1}'\n", ("AIRFLOW_CONN_PCINSIGHTS_DEFAULT", '{"a": 1}')),
        ("export AIRFLOW_CONN_X='it'\"'\"'s'", ("AIRFLOW_CONN_X", "it's")),
        ('AIRFLOW_CONN_X="two words"', ("AIRFLOW_CONN_X", "two words")),
        ("pcinsights emulator at https://127.0.0.1:1", None),
        ("AIRFLOW_CONN_X='unbalanced", None),
        ("", None),
    ],
)
def test_the_line_is_read_as_a_shell_would(line: str, expected: Any) -> None:
    assert parse_connection_line(line) == expected
