"""What the in-process scenarios share: an emulator with a connection pointed at it, and clean sign-ins.

The scenarios run the provider's real code (operators, sensor, trigger, hook, MSAL,
requests) in this process against an emulator on loopback, the way the test suite
does; the connection is an ``AIRFLOW_CONN_*`` variable, as users define one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from airflow_provider_pcinsights.emulator import Emulator


@contextlib.contextmanager
def environment(**variables: str | None) -> Iterator[None]:
    """Set (or, with ``None``, unset) environment variables for the block; restore them after."""
    saved = {name: os.environ.get(name) for name in variables}
    try:
        for name, value in variables.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def connection_variable(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def forget_sign_ins() -> None:
    """Drop every process-wide MSAL application, so the next hook signs in afresh."""
    from airflow_provider_pcinsights.hooks.entra import forget_all_token_sources

    forget_all_token_sources()


@contextlib.contextmanager
def emulator_with_connection(
    conn_id: str,
    *,
    program: str = "mpn",
    auth_type: str | None = None,
    connection: dict[str, Any] | None = None,
    **options: Any,
) -> Iterator[Emulator]:
    """An emulator on loopback, and ``conn_id`` pointing at it for the block (fresh sign-ins around it)."""
    forget_sign_ins()
    with Emulator(**options) as emu:
        value = emu.connection_json(program=program, auth_type=auth_type, **(connection or {}))
        with environment(**{connection_variable(conn_id): value}):
            try:
                yield emu
            finally:
                forget_sign_ins()


LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


def dag_bundles(folder: str | os.PathLike[str], name: str) -> dict[str, str]:
    """The setting that adds ``folder`` as a DAG bundle: Airflow 3's ``dag.test()`` only runs a DAG that a
    bundle holds (it writes the bundle's DAGs to the database first). Airflow 2.11 ignores it."""
    bundles = [
        {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
        {"name": name, "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(folder)}},
    ]
    return {"AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles)}


def load_module(path: Path, name: str) -> ModuleType:
    """A DAG file a scenario wrote, imported as a module of its own: its DAGs, and what its tasks record
    (they run in this process under ``dag.test()``)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Stopwatch:
    """Seconds since it was made."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self._start
