"""What Airflow and DAG files see of the hook module: cheap to import, and a consistent connection form."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airflow_provider_pcinsights import get_provider_info
from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

_PROBE = """
import json, sys
import airflow
import airflow.providers.common.compat.sdk
before = set(sys.modules)
import airflow_provider_pcinsights.hooks.insights
after = set(sys.modules)
print(json.dumps({"before": sorted(before), "new": sorted(after - before)}))
"""

HEAVY = ("msal", "requests", "urllib3", "cryptography")


def test_importing_the_hook_loads_neither_msal_nor_requests():
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=os.environ.copy(), check=True
    )
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    newly_loaded = {name.split(".")[0] for name in modules["new"]}
    already_loaded = {name.split(".")[0] for name in modules["before"]}

    assert "msal" not in newly_loaded
    for heavy in HEAVY:
        # Whatever Airflow itself did not already load, the hook must not load either.
        assert heavy in already_loaded or heavy not in newly_loaded, f"{heavy} imported by the hook module"


def test_hook_identity():
    assert PartnerCenterInsightsHook.conn_name_attr == "conn_id"
    assert PartnerCenterInsightsHook.default_conn_name == "pcinsights_default"
    assert PartnerCenterInsightsHook.conn_type == "pcinsights"
    assert PartnerCenterInsightsHook.hook_name == "Microsoft Partner Center Insights"
    assert PartnerCenterInsightsHook().conn_id == "pcinsights_default"


def _connection_type() -> dict:
    (entry,) = get_provider_info()["connection-types"]
    return entry


def test_the_classic_form_offers_the_same_extras_as_the_provider_info():
    widgets = PartnerCenterInsightsHook.get_connection_form_widgets()
    try:
        import flask_appbuilder  # noqa: F401
    except ImportError:  # Airflow 3 without the FAB UI: nothing to draw, and no crash
        assert widgets == {}
        return
    assert set(widgets) == set(_connection_type()["conn-fields"])
    assert widgets["refresh_token"].field_class.__name__ == "PasswordField"


def test_the_field_behaviour_matches_the_provider_info():
    behaviour = PartnerCenterInsightsHook.get_ui_field_behaviour()
    declared = _connection_type()["ui-field-behaviour"]

    assert behaviour["hidden_fields"] == declared["hidden-fields"]
    assert behaviour["relabeling"] == declared["relabeling"]
    assert behaviour["relabeling"]["login"] == "Client ID"
    assert behaviour["relabeling"]["password"] == "Client secret"
    assert behaviour["placeholders"] == declared["placeholders"]
