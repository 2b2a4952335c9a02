"""DAG files import the operators and the sensor at every parse: that must not load requests or msal,
nor the optional OpenLineage provider (the download's lineage methods import it when they are called)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

MODULES = ("airflow_provider_pcinsights.operators.report", "airflow_provider_pcinsights.sensors.report")

# What a DAG file loads anyway is the baseline: on Airflow 2.11, ``import airflow`` already
# brings requests; on 3.x it does not. Only what our modules add on top counts.
_PROBE = """
import importlib, json, sys
import airflow
from airflow.providers.common.compat.sdk import DAG, BaseOperator, BaseSensorOperator, conf
HEAVY = ("msal", "requests", "openlineage", "airflow.providers.openlineage")
heavy = lambda: sorted(name for name in HEAVY if name in sys.modules)
seen = {"baseline": heavy()}
for module in sys.argv[1:]:
    importlib.import_module(module)
    seen[module] = heavy()
print(json.dumps(seen))
"""


def test_importing_the_operators_and_the_sensor_adds_neither_requests_nor_msal_nor_openlineage():
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *MODULES],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
        timeout=120,
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    for module in MODULES:
        assert seen[module] == seen["baseline"], f"importing {module} loaded {seen[module]}: {seen}"
