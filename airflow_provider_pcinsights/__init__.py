"""Apache Airflow provider for Microsoft Partner Center Insights scheduled reports.

Only ``get_provider_info`` lives here: Airflow calls it to discover the provider
without importing the hook, so it must stay free of heavy imports.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_STRING_OR_NULL = {"type": ["string", "null"]}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager.

    The ``conn-fields`` and ``ui-field-behaviour`` entries let Airflow 3's UI draw
    the connection form without importing any hook code; the hook's
    ``get_connection_form_widgets`` and ``get_ui_field_behaviour`` say the same
    to the classic UI of Airflow 2.
    """
    return {
        "package-name": "airflow-provider-pcinsights",
        "name": "Microsoft Partner Center Insights",
        "description": "Pause, resume and wait for Partner Center Insights scheduled reports.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Microsoft Partner Center Insights",
                "external-doc-url": "https://learn.microsoft.com/partner-center/insights/insights-programmatic-access-paradigm",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Microsoft Partner Center Insights",
                "python-modules": ["airflow_provider_pcinsights.hooks.insights"],
            }
        ],
        "operators": [
            {
                "integration-name": "Microsoft Partner Center Insights",
                "python-modules": ["airflow_provider_pcinsights.operators.report"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Microsoft Partner Center Insights",
                "python-modules": ["airflow_provider_pcinsights.sensors.report"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Microsoft Partner Center Insights",
                "python-modules": ["airflow_provider_pcinsights.triggers.report"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "pcinsights",
                "hook-class-name": "airflow_provider_pcinsights.hooks.insights.PartnerCenterInsightsHook",
                "hook-name": "Microsoft Partner Center Insights",
                "conn-fields": _CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {
                        "login": "Client ID",
                        "password": "Client secret",
                        "host": "API base URL",
                    },
                    "placeholders": {
                        "login": "Application (client) id of the Entra app",
                        "password": "Client secret (leave empty with a certificate or assertion file)",
                        "host": "https://api.partnercenter.microsoft.com",
                    },
                },
            }
        ],
    }


_CONN_FIELDS: dict[str, Any] = {
    "tenant_id": {
        "label": "Tenant ID",
        "description": "Microsoft Entra tenant id of the partner account.",
        "schema": {"type": "string"},
    },
    "program": {
        "label": "Program",
        "description": "mpn: Partner Center insights (App+User). cmp: commercial marketplace (app-only).",
        "schema": {"type": ["string", "null"], "default": "mpn", "enum": ["mpn", "cmp"]},
    },
    "api_version": {
        "label": "API version",
        "description": "Path version; v1 for mpn and v1.1 for cmp when empty.",
        "schema": _STRING_OR_NULL,
    },
    "auth_type": {
        "label": "Auth type",
        "description": "client_credentials (app-only) or refresh_token (App+User).",
        "schema": {
            "type": ["string", "null"],
            "default": "client_credentials",
            "enum": ["client_credentials", "refresh_token"],
        },
    },
    "refresh_token": {
        "label": "Refresh token",
        "description": "App+User refresh token, redeemed with the client credential.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "certificate_path": {
        "label": "Certificate path",
        "description": "PEM file with the private key and certificate, instead of a secret.",
        "schema": _STRING_OR_NULL,
    },
    "client_assertion_file": {
        "label": "Client assertion file",
        "description": "Federated token file (workload identity), instead of a secret.",
        "schema": _STRING_OR_NULL,
    },
    "authority_host": {
        "label": "Authority host",
        "schema": {"type": ["string", "null"], "default": "https://login.microsoftonline.com"},
    },
    "scope": {
        "label": "Scope",
        "schema": {"type": ["string", "null"], "default": "https://api.partnercenter.microsoft.com/.default"},
    },
    "verify": {
        "label": "Verify TLS",
        "description": "true, false, or the path of a CA bundle.",
        "schema": {"type": ["string", "null"], "default": "true"},
    },
    "proxies": {
        "label": "Proxies",
        "description": 'requests-style mapping, for example {"https": "http://proxy:3128"}.',
        "schema": {"type": ["object", "null"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Seconds for each HTTP call.",
        "schema": {"type": ["number", "null"], "default": 30},
    },
}
