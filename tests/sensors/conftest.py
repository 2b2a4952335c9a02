"""Run DAG files of this directory with ``dag.test()`` on Airflow 2.11 and 3.x.

Airflow 3's ``dag.test()`` only runs a DAG that a DAG bundle holds (it writes
the bundle's DAGs to the database first), so the test DAGs live in files of
``dags/`` and this directory is added as a bundle next to the usual dags folder.
Airflow 2.11 ignores the setting.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

DAGS = Path(__file__).parent / "dags"
_LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


@pytest.fixture
def dag_module(monkeypatch):
    """Load a DAG file of ``dags/`` by name, with its folder registered as a DAG bundle."""
    bundles = [
        {"name": "dags-folder", "classpath": _LOCAL_BUNDLE, "kwargs": {}},
        {"name": "pcinsights-sensor-tests", "classpath": _LOCAL_BUNDLE, "kwargs": {"path": str(DAGS)}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))

    def load(name: str) -> ModuleType:
        module_name = f"pcinsights_sensor_test_dags_{name}"
        spec = importlib.util.spec_from_file_location(module_name, DAGS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
