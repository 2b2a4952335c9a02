"""Test-wide Airflow set-up: a throwaway AIRFLOW_HOME with a sqlite database.

The environment is set before anything imports Airflow, which reads its
configuration once, at import. Each Airflow line gets a home of its own because
their database schemas differ.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_VERSION = version("apache-airflow")
AIRFLOW_MAJOR = AIRFLOW_VERSION.split(".")[0]
AIRFLOW_HOME = REPO / ".airflow-test" / f"af{AIRFLOW_MAJOR}"

os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "example_dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")


def _migrate_database() -> None:
    """Create the schema once per checkout and Airflow line; later runs reuse it."""
    marker = AIRFLOW_HOME / f".migrated-{AIRFLOW_VERSION}"
    if marker.exists():
        return
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
    )
    marker.touch()


_migrate_database()
