"""`make bench`'s fast variant: the script runs every measurement at tiny sizes and writes its page.

No timing is asserted (the suite may share the machine); only that every row of the issue's
table is measured, compared with its baseline, and written with the machine it ran on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_MAJOR = int(version("apache-airflow").split(".")[0])
ROWS = [
    "DAG-file import of operators + sensor",
    "token requests per credential per process",
    "per-call overhead vs bare requests",
    "default settings: API calls",
    "same: speed-up over one at a time",
    "same: time vs ideal",
    "overlapping runs of",
    "sign-in included: time vs a plain pool",
    "one sensor poke / one trigger poll over",
    "deferred single-report waits on one event loop: API calls per poll interval",
    "same: TCP+TLS connections held",
    "same: memory added",
    "same: longest event-loop stall, start-up included",
    *(
        ["watched reports (event triggers) on one triggerer: API calls per poll interval"]
        * (AIRFLOW_MAJOR >= 3)
    ),
    "bulk pause under the service's rate limit",
]


@pytest.mark.skipif(
    bool(os.environ.get("PCINSIGHTS_FLOOR_RUN")), reason="the benchmark runs on the newest releases"
)
def test_the_quick_benchmark_measures_every_row_and_writes_the_page(tmp_path):
    page, rows = tmp_path / "benchmarks.md", tmp_path / "rows.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_CONN_")}

    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "bench.py"),
            "--quick",
            "--output",
            str(page),
            "--json",
            str(rows),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-4000:]
    text = page.read_text(encoding="utf-8")
    measured = json.loads(rows.read_text(encoding="utf-8"))["rows"]
    assert len(measured) == len(ROWS)
    for name, row in zip(ROWS, measured, strict=True):
        assert name in row["goal_name"]
        assert row["goal_name"] in text
        assert row["baseline"] is not None  # side by side with something, always
        assert isinstance(row["met"], bool)
    assert "Quick run" in text
    assert "## Machine" in text
    assert "cores" in text
    assert "Apache Airflow" in text
    # The bulk, poll and wait rows ran the public operator, sensor and trigger, and say so.
    by_part = {
        part: [row["goal_name"] for row in measured if part in row["note"]]
        for part in ("PauseReportOperator", "ReportStatusSensor", "ReportStatusTrigger")
    }
    # 3 bulk pause rows, the one beside a plain pool and the rate-limited one
    assert len(by_part["PauseReportOperator"]) == 5
    assert by_part["ReportStatusSensor"] == by_part["ReportStatusTrigger"][:1]
    # the one poll, the 1,000 waits, and (Airflow 3) the status waits the export watchers are held to
    assert len(by_part["ReportStatusTrigger"]) == 2 + (AIRFLOW_MAJOR >= 3)
    # What does not depend on timing holds even at tiny sizes.
    by_name = dict(zip(ROWS, measured, strict=True))
    assert by_name["overlapping runs of"]["met"]  # one pause and one resume per report, held to the last
    assert by_name["token requests per credential per process"]["figure"] == 1
    assert (
        by_name["one sensor poke / one trigger poll over"]["figure"]
        < by_name["one sensor poke / one trigger poll over"]["baseline"]
    )
