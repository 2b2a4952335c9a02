"""DownloadReportOperator's OpenLineage datasets, as the OpenLineage provider emits them in a DAG run.

Needs the optional extra ``openlineage`` (``make install`` gives it to the af2 and af3
environments; the floor runs go without it, as a user who never installs it does). The
provider's listener is set up when Airflow loads its plugins, once per process, and only
if a transport is configured then; so the DAG runs in a process of its own, started with
a file transport, and the test reads the events that process wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip(
    "airflow.providers.openlineage", reason="the optional extra 'openlineage' is not installed"
)

pytestmark = pytest.mark.dag_test

DAGS = Path(__file__).parent / "dags"

# Runs one DAG of download_dags.py with dag.test() and writes the final states of its tasks to a file
# (stdout interleaves with the lines of the listener's own threads).
RUN_DAG = textwrap.dedent(
    """
    import importlib.util, sys
    sys.path.insert(0, sys.argv[1])
    spec = importlib.util.spec_from_file_location("pcinsights_lineage_dags", sys.argv[2])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag_run = module.download_latest.test(run_conf={"report_id": sys.argv[3]})
    states = sorted({str(getattr(t.state, "value", t.state)) for t in dag_run.get_task_instances()})
    open(sys.argv[4], "w").write(",".join(states))
    """
)


def _events(path: Path) -> list[dict]:
    return (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )


def test_the_report_and_the_file_it_wrote_are_the_task_s_lineage(pcinsights_emulator, dag_module, tmp_path):
    emu = pcinsights_emulator
    report_id = emu.report_ids()[0]  # has completed exports
    export = tmp_path / "exports" / "report.csv"
    events_file = tmp_path / "openlineage.jsonl"
    states = tmp_path / "states.txt"
    dag_module("download_dags")  # sets the DAG bundle of tests/operators/dags, for Airflow 3's dag.test()
    env = {
        **os.environ,
        "PCINSIGHTS_TEST_EXPORT": str(export),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "pcinsights-tests",
    }

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_DAG,
            str(Path(__file__).parents[1]),
            str(DAGS / "download_dags.py"),
            report_id,
            str(states),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert states.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    assert states.read_text() == "success", done.stdout[-3000:] + done.stderr[-3000:]
    assert export.exists()
    download_events = [
        e for e in _events(events_file) if e.get("job", {}).get("name", "").endswith(".download")
    ]
    by_type = {e["eventType"]: e for e in download_events}
    assert {"START", "COMPLETE"} <= set(by_type), [e.get("eventType") for e in download_events]
    tenant = emu.tenant_id
    for event_type in ("START", "COMPLETE"):
        event = by_type[event_type]
        inputs = [(d["namespace"], d["name"]) for d in event["inputs"]]
        outputs = [(d["namespace"], d["name"]) for d in event["outputs"]]
        assert inputs == [(f"pcinsights://{tenant}/mpn", report_id)], event_type
        assert outputs == [("file", str(export))], event_type
    written = events_file.read_text()
    assert "sig=" not in written  # no download link in the lineage
    assert "ReportAccessSecureLink" not in written


@pytest.mark.parametrize(
    ("destination", "namespace", "name"),
    [
        ("s3://exports-bucket/partner/report.csv", "s3://exports-bucket", "partner/report.csv"),
        ("gs://exports-bucket/partner/", "gs://exports-bucket", "partner"),
        ("/data/partner/report.csv", "file", "/data/partner/report.csv"),
    ],
)
def test_an_object_store_destination_is_named_as_openlineage_names_it(
    pcinsights_emulator, destination, namespace, name
):
    from airflow_provider_pcinsights.operators.report import DownloadReportOperator

    operator = DownloadReportOperator(task_id="download", report_id="r-1", destination=destination)

    lineage = operator.get_openlineage_facets_on_start()  # reads the connection, sends nothing

    assert [(d.namespace, d.name) for d in lineage.outputs] == [(namespace, name)]
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        (f"pcinsights://{pcinsights_emulator.tenant_id}/mpn", "r-1")
    ]
    assert pcinsights_emulator.requests == []
