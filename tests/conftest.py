"""Test-wide Airflow set-up: a throwaway AIRFLOW_HOME with a sqlite database.

The environment is set before anything imports Airflow, which reads its
configuration once, at import. Each Airflow version gets a home of its own because
their database schemas differ (and the floor runs use older releases of a line).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_VERSION = version("apache-airflow")
AIRFLOW_MAJOR = AIRFLOW_VERSION.split(".")[0]
AIRFLOW_HOME = REPO / ".airflow-test" / f"af{AIRFLOW_VERSION}"

os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "example_dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")


# scripts/ on the path: the tests of the scripts import them, and the schema is created as they create it.
SCRIPTS = REPO / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from airflow_components import migrate_database  # noqa: E402

migrate_database(AIRFLOW_HOME, os.environ)  # once per checkout and Airflow line; later runs reuse it


_LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


def _sdk_dag_can_test() -> bool:
    """``dag.test()`` on the DAG class DAG files import (the Task SDK's has it from Airflow 3.0.2)."""
    from airflow.providers.common.compat.sdk import DAG

    return hasattr(DAG, "test")


NO_DAG_TEST = "Airflow 3.0.0 and 3.0.1: the Task SDK's DAG has no test() (it came in 3.0.2)"


def pytest_configure(config):
    config.addinivalue_line("markers", "dag_test: runs a DAG with dag.test() (skipped where DAGs lack it)")


def pytest_collection_modifyitems(config, items):
    if _sdk_dag_can_test():
        return
    for item in items:
        if "dag_test" in item.keywords or "dag_module" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=NO_DAG_TEST))


@pytest.fixture
def dag_module(request, monkeypatch):
    """Load a DAG file from the ``dags/`` folder beside the test, for ``dag.test()``.

    Airflow 3's ``dag.test()`` only runs a DAG that a DAG bundle holds (it writes
    the bundle's DAGs to the database first), so that folder is added as a bundle
    next to the usual dags folder. Airflow 2.11 ignores the setting.
    """
    dags = Path(request.path).parent / "dags"
    suite = dags.parent.name
    bundles = [
        {"name": "dags-folder", "classpath": _LOCAL_BUNDLE, "kwargs": {}},
        {"name": f"pcinsights-{suite}-tests", "classpath": _LOCAL_BUNDLE, "kwargs": {"path": str(dags)}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))

    def load(name: str) -> ModuleType:
        module_name = f"pcinsights_{suite}_test_dags_{name}"
        spec = importlib.util.spec_from_file_location(module_name, dags / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def db_connection():
    """``store(conn_id, fields)``: put a connection into Airflow's metadata database, as
    ``airflow connections add`` would (``fields`` as ``Emulator.connection()`` gives them);
    every connection stored is deleted when the test ends."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    stored: list[str] = []

    def delete(session, conn_id: str) -> None:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()

    def store(conn_id: str, fields: dict) -> str:
        with create_session() as session:
            delete(session, conn_id)
            session.add(
                Connection(
                    conn_id=conn_id,
                    conn_type=fields.get("conn_type", "pcinsights"),
                    login=fields.get("login"),
                    password=fields.get("password"),
                    host=fields.get("host"),
                    extra=json.dumps(fields.get("extra", {})),
                )
            )
        stored.append(conn_id)
        return conn_id

    yield store
    with create_session() as session:
        for conn_id in stored:
            delete(session, conn_id)


@pytest.fixture
def logs(caplog, capsys):
    """Everything logged so far, wherever this Airflow line sends task logs (stdlib or structlog)."""
    caplog.set_level(logging.INFO)
    seen: list[str] = []

    def text() -> str:
        seen.append(capsys.readouterr().out)
        return caplog.text + "".join(seen)

    return text


@pytest.fixture(autouse=True)
def _no_holds_from_earlier_tests(request):
    """Each test's emulator starts afresh with the same report ids, while Airflow's database stays: an
    earlier test's hold on an id (a run that ended without its restore) must not carry over. The
    hold Variables are written empty, as the provider's listener creates them in a deployment."""
    if "pcinsights_emulator" in request.fixturenames:
        from airflow_provider_pcinsights.holds import SHARD_KEYS, Variables

        for key in SHARD_KEYS:
            Variables(model=True).set(key, {})
    return
