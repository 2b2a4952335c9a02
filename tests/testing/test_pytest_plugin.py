"""The shipped pytest fixtures, and that loading them costs nothing heavy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import requests

from airflow_provider_pcinsights.emulator import Emulator


def test_fixture_points_the_default_connection_at_a_running_emulator(pcinsights_emulator: Emulator) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_PCINSIGHTS_DEFAULT"])
    assert conn["host"] == pcinsights_emulator.url
    assert conn["login"] == pcinsights_emulator.client_id
    assert conn["extra"]["program"] == "mpn"
    assert conn["extra"]["auth_type"] == "refresh_token"  # App+User on mpn, as a real tenant signs in
    assert conn["extra"]["refresh_token"] == pcinsights_emulator.refresh_token
    discovery = f"{conn['host']}/{conn['extra']['tenant_id']}/v2.0/.well-known/openid-configuration"
    assert requests.get(discovery, verify=conn["extra"]["verify"], timeout=10).status_code == 200
    assert len(pcinsights_emulator.report_ids("mpn")) == 3


def test_factory_starts_custom_emulators_under_their_own_connection_ids(
    pcinsights_emulator_factory: Callable[..., Emulator],
) -> None:
    emu = pcinsights_emulator_factory(
        conn_id="pc_cmp", program="cmp", auth_type="refresh_token", reports=7, page_size=2
    )
    conn = json.loads(os.environ["AIRFLOW_CONN_PC_CMP"])
    assert conn["extra"]["refresh_token"] == emu.refresh_token
    assert conn["extra"]["program"] == "cmp"
    assert len(emu.report_ids("cmp")) == 7
    assert emu.behaviour.page_size == 2


def test_loading_the_plugin_costs_nothing_and_the_emulator_never_imports_airflow() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_pcinsights.testing.pytest_plugin\n"
        "heavy = {'cryptography', 'requests', 'msal', 'airflow_provider_pcinsights.emulator'}\n"
        "heavy &= set(sys.modules)\n"
        "assert not heavy, f'the plugin imported {heavy} before its fixture was used'\n"
        "import airflow_provider_pcinsights.emulator\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
