"""DownloadReportOperator, and the wait for the next export before it, in real DAG runs on the emulator."""

from __future__ import annotations

import pytest
from dag_runs import task_states

from airflow_provider_pcinsights.exceptions import ReportFileError
from airflow_provider_pcinsights.operators.report import DownloadReportOperator


@pytest.fixture
def emu(pcinsights_emulator):
    return pcinsights_emulator


@pytest.fixture
def export(tmp_path, monkeypatch):
    path = tmp_path / "exports" / "report.csv"
    monkeypatch.setenv("PCINSIGHTS_TEST_EXPORT", str(path))
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")  # the downstream DAG is on
    return path


@pytest.fixture
def dags(dag_module, export):
    import asset_events

    module = dag_module("download_dags")
    module.COLLECTED.clear()
    asset_events.register(module.wait_and_download, module.download_latest, module.use_export)
    asset_events.switch_on("pcinsights_test_use_export")
    return module


def _run(dag, **conf):
    dag_run = dag.test(run_conf=conf)
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    return dag_run


def test_a_deferred_wait_for_the_next_export_then_its_download_with_an_asset_event(
    emu, dags, export, caplog, capsys
):
    import asset_events

    report_id = emu.report_ids()[1]  # has never run
    run = emu.run_report("mpn", report_id)  # as a resume or ExecuteNow starts one
    emu.runs.pending_seconds = emu.runs.running_seconds = 60
    emu.clock.step_per_read = 60  # each read of executions lets a minute pass: no test sleeps

    dag_run = _run(dags.wait_and_download, report_id=report_id)

    assert "running trigger in line" in caplog.text + capsys.readouterr().out  # it really deferred
    (result,) = dags.COLLECTED
    expected = emu.report_file("mpn", report_id, run["ExecutionId"])
    assert export.read_bytes() == expected.content  # gunzipped, no BOM
    assert result == {
        "destination": str(export),
        "bytes": len(expected.content),
        "rows": expected.rows,
        "ExecutionId": run["ExecutionId"],
        "ReportId": report_id,
        "ReportGeneratedTime": result["ReportGeneratedTime"],
        "Format": "csv",  # as the service spells it
        "compressed": True,
    }
    assert [c.authorization for c in emu.file_requests()] == [False]  # the token never reached the file host
    assert [p.name for p in export.parent.iterdir()] == ["report.csv"]  # no partial file left
    (event,) = asset_events.events(f"file://{export}", "pcinsights_test_wait_and_download", dag_run.run_id)
    assert event == {k: result[k] for k in ("destination", "bytes", "rows", "ExecutionId", "ReportId")}
    assert asset_events.queued("pcinsights_test_use_export") == 1  # the downstream DAG is scheduled on it


def test_an_expired_link_is_refreshed_in_a_dag_run(emu, dags, export):
    report_id = emu.report_ids()[0]  # ran twice long ago
    latest = max(
        (e for e in emu.executions("mpn", report_id) if e["ExecutionStatus"] == "Completed"),
        key=lambda e: e["ReportGeneratedTime"],
    )
    emu.expire_next_links(1)  # the link the download reads first is already past its time

    _run(dags.download_latest, report_id=report_id)

    assert [c.status for c in emu.file_requests()] == [403, 200]
    assert all(c.authorization is False for c in emu.file_requests())
    assert export.read_bytes() == emu.report_file("mpn", report_id, latest["ExecutionId"]).content
    assert dags.COLLECTED[0]["ExecutionId"] == latest["ExecutionId"]


def test_a_failed_download_leaves_the_old_file_and_no_partial_one(emu, export):
    report_id = emu.report_ids()[0]
    export.parent.mkdir(parents=True)
    export.write_bytes(b"yesterday's file")
    emu.faults.truncate(count=1, keep=0.5, path="/insights-reports/")
    operator = DownloadReportOperator(
        task_id="download", report_id=report_id, destination=str(export), hook_params={"retries": 0}
    )

    with pytest.raises(Exception, match="cut") as caught:
        operator.execute({})

    assert "sig=" not in str(caught.value)
    assert export.read_bytes() == b"yesterday's file"
    assert [p.name for p in export.parent.iterdir()] == ["report.csv"]


def test_a_destination_ending_with_a_slash_is_a_directory(emu, tmp_path):
    report_id = emu.report_ids()[0]

    result = DownloadReportOperator(
        task_id="download", report_id=report_id, destination=f"file://{tmp_path}/out/"
    ).execute({})

    written = tmp_path / "out" / f"{report_id}_{result['ExecutionId']}.csv"
    assert result["destination"] == f"file://{written}"
    assert written.read_bytes() == emu.report_file("mpn", report_id, result["ExecutionId"]).content


def test_a_report_without_a_completed_export_fails_saying_so(emu, tmp_path):
    report_id = emu.report_ids()[1]  # never ran
    with pytest.raises(ReportFileError, match="has no completed execution yet"):
        DownloadReportOperator(
            task_id="download", report_id=report_id, destination=str(tmp_path / "x")
        ).execute({})
    assert not (tmp_path / "x").exists()
    assert emu.file_requests() == []


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"report_id": "a/b"}, "report_id"),
        ({"report_id": ["r1", "r2"]}, "report_id must be a string"),
        ({"execution_id": "e/1"}, "execution_id"),
        ({"destination": ""}, "destination must be a path"),
        ({"conn_id": ""}, "conn_id"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_sent(emu, tmp_path, kwargs, said):
    arguments = {"report_id": emu.report_ids()[0], "destination": str(tmp_path / "f.csv"), **kwargs}
    with pytest.raises(ValueError, match=said):
        DownloadReportOperator(task_id="download", **arguments).execute({})
    assert emu.requests == []


def test_report_id_destination_execution_id_and_conn_id_are_templated():
    assert set(DownloadReportOperator.template_fields) == {
        "report_id",
        "destination",
        "execution_id",
        "conn_id",
    }
