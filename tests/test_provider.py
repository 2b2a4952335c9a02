"""Airflow discovers the provider and its connection type, on the Airflow line under test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from airflow_provider_pcinsights import get_provider_info

AIRFLOW_MAJOR = int(version("apache-airflow").split(".")[0])


def _airflow(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        # Airflow 3.0 logs its plugin set-up to stdout at INFO; only the JSON is wanted here.
        env={**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"},
        check=True,
    )
    return result.stdout


def test_airflow_providers_list_shows_the_provider():
    providers = json.loads(_airflow("providers", "list", "--output", "json"))
    names = {p["package_name"] for p in providers}
    assert "airflow-provider-pcinsights" in names


def test_airflow_providers_hooks_shows_the_connection_type():
    hooks = json.loads(_airflow("providers", "hooks", "--output", "json"))
    by_type = {h["connection_type"]: h for h in hooks}
    assert by_type["pcinsights"]["class"] == (
        "airflow_provider_pcinsights.hooks.insights.PartnerCenterInsightsHook"
    )


def test_every_module_named_in_provider_info_imports():
    import importlib

    info = get_provider_info()
    modules = [
        m
        for kind in ("hooks", "operators", "sensors", "triggers")
        for e in info[kind]
        for m in e["python-modules"]
    ]
    for module in modules:
        importlib.import_module(module)
    for connection_type in info["connection-types"]:
        module, _, cls = connection_type["hook-class-name"].rpartition(".")
        assert getattr(importlib.import_module(module), cls).conn_type == connection_type["connection-type"]


def test_connection_form_matches_the_hook():
    """Airflow 3's UI reads conn-fields; the classic UI asks the hook. They must agree."""
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

    info = get_provider_info()["connection-types"][0]
    behaviour = PartnerCenterInsightsHook.get_ui_field_behaviour()
    assert sorted(behaviour["hidden_fields"]) == sorted(info["ui-field-behaviour"]["hidden-fields"])
    assert behaviour["relabeling"] == info["ui-field-behaviour"]["relabeling"]
    widgets = PartnerCenterInsightsHook.get_connection_form_widgets()
    if not widgets:
        # Airflow 3 ships no wtforms; its UI draws the form from conn-fields alone.
        assert AIRFLOW_MAJOR >= 3
        return
    widget_fields = {name.removeprefix("extra__pcinsights__") for name in widgets}
    assert widget_fields == set(info["conn-fields"])


def test_provider_info_and_form_behaviour_pass_airflows_own_schemas():
    from airflow import providers_manager

    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

    providers_manager._create_provider_info_schema_validator().validate(get_provider_info())
    providers_manager._create_customized_form_field_behaviours_schema_validator().validate(
        PartnerCenterInsightsHook.get_ui_field_behaviour()
    )
    # Airflow 3's UI draws the form from conn-fields; they must match its provider.yaml schema.
    import jsonschema

    yaml_schema = json.loads(
        (Path(providers_manager.__file__).parent / "provider.yaml.schema.json").read_text()
    )
    connection_type_schema = yaml_schema["properties"]["connection-types"]
    jsonschema.validate(get_provider_info()["connection-types"], connection_type_schema)


def test_airflow_connections_test_works_for_a_connection_without_a_port(pcinsights_emulator):
    """The README's workaround for Airflow 3.3's Test button (HTTP 400 without a port)."""
    env = {
        **os.environ,
        **pcinsights_emulator.connection_env("pcinsights_cli_test", program="cmp"),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "test", "pcinsights_cli_test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Connection success!" in result.stdout
    assert pcinsights_emulator.token_requests() == 1
    assert pcinsights_emulator.client_secret not in result.stdout + result.stderr
