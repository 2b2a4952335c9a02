"""Apache Airflow provider for Microsoft Partner Center Insights scheduled reports.

Only ``get_provider_info`` lives here: Airflow calls it to discover the provider
without importing the hook, so it must stay free of heavy imports.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_pcinsights import connection_fields

__version__ = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager.

    The ``conn-fields`` and ``ui-field-behaviour`` entries let Airflow 3's UI draw
    the connection form without importing any hook code; the hook's
    ``get_connection_form_widgets`` and ``get_ui_field_behaviour`` say the same
    to the classic UI of Airflow 2. Both are derived from ``connection_fields``.
    """
    name = "Microsoft Partner Center Insights"
    # One module of each kind, all under the one integration.
    modules = {
        "hooks": "hooks.insights",
        "operators": "operators.report",
        "sensors": "sensors.report",
        "triggers": "triggers.report",
    }
    return {
        "package-name": "airflow-provider-pcinsights",
        "name": name,
        "description": "Pause, resume and wait for Partner Center Insights scheduled reports.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": name,
                "external-doc-url": "https://learn.microsoft.com/partner-center/insights/insights-programmatic-access-paradigm",
                "tags": ["service"],
            }
        ],
        **{
            kind: [{"integration-name": name, "python-modules": [f"airflow_provider_pcinsights.{module}"]}]
            for kind, module in modules.items()
        },
        "connection-types": [
            {
                "connection-type": connection_fields.CONNECTION_TYPE,
                "hook-class-name": "airflow_provider_pcinsights.hooks.insights.PartnerCenterInsightsHook",
                "hook-name": name,
                "conn-fields": connection_fields.provider_conn_fields(),
                "ui-field-behaviour": connection_fields.ui_field_behaviour(kebab_case=True),
            }
        ],
    }
