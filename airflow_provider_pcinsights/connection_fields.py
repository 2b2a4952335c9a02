"""The ``pcinsights`` connection's fields, declared once.

Every view of the connection is derived from ``FIELDS``: the ``conn-fields`` and
``ui-field-behaviour`` that Airflow 3's UI reads from ``get_provider_info()``,
the hook's ``get_connection_form_widgets`` / ``get_ui_field_behaviour`` for the
classic UI, and the extras the settings reader accepts. Adding a field here is
the whole job; nothing else lists them.

Imported by ``get_provider_info()``, which Airflow calls to discover providers:
it must stay free of imports beyond the standard library.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

CONNECTION_TYPE = "pcinsights"
# Older Airflow UIs stored custom form fields under this prefix.
LEGACY_EXTRA_PREFIX = f"extra__{CONNECTION_TYPE}__"

DEFAULT_HOST = "https://api.partnercenter.microsoft.com"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_SCOPE = "https://api.partnercenter.microsoft.com/.default"
DEFAULT_TIMEOUT = 30.0
DEFAULT_API_VERSIONS = {"mpn": "v1", "cmp": "v1.1"}
PROGRAMS = tuple(DEFAULT_API_VERSIONS)
AUTH_TYPES = ("client_credentials", "refresh_token")

# Airflow 3's form shows fields without a section under "Extra Fields"; the rarely
# changed ones go to sections of their own so the ones every user fills come first.
_CREDENTIAL_SECTION = "Certificate or workload identity (instead of a secret)"
_NETWORK_SECTION = "Network and other clouds"


@dataclass(frozen=True)
class ConnectionField:
    """One field of the connection, with everything any view of it needs.

    ``extra`` is false for Airflow's own fields (``login``, ``password``,
    ``host``), which the UIs only relabel and give a placeholder; ``required``
    marks what the connection cannot work without whatever else is set;
    ``pattern`` is what a value must look like (the tenant and the version land
    in URL paths, so only what they really look like is accepted).
    """

    name: str
    label: str
    description: str
    example: str
    extra: bool = True
    default: str | float | None = None
    secret: bool = False
    required: bool = False
    choices: tuple[str, ...] = ()
    json_type: str = "string"
    section: str | None = None
    pattern: str | None = None

    @property
    def help_text(self) -> str:
        """Description and example in one line, for the form's helper text."""
        return f"{self.description} Example: {self.example}"


FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField(
        "login",
        "Client ID",
        "Application (client) id of the Microsoft Entra app registration.",
        "11111111-2222-3333-4444-555555555555",
        extra=False,
        required=True,
    ),
    ConnectionField(
        "password",
        "Client secret",
        "Client secret of the Entra app; leave empty when a certificate or an assertion file signs in.",
        "the secret's Value, not its Secret ID",
        extra=False,
        secret=True,
    ),
    ConnectionField(
        "host",
        "API base URL",
        "Partner Center API root; leave empty for the public cloud.",
        DEFAULT_HOST,
        extra=False,
        default=DEFAULT_HOST,
    ),
    ConnectionField(
        "tenant_id",
        "Tenant ID",
        "Microsoft Entra tenant of the partner account: its GUID or a verified domain.",
        "contoso.onmicrosoft.com",
        required=True,
        pattern=r"[A-Za-z0-9][A-Za-z0-9.\-]{0,252}",
    ),
    ConnectionField(
        "program",
        "Program",
        "mpn: Partner Center insights, App+User sign-in (auth_type refresh_token) on the real service. "
        "cmp: commercial marketplace analytics, app-only sign-in.",
        "cmp",
        default="mpn",
        choices=PROGRAMS,
    ),
    ConnectionField(
        "auth_type",
        "Auth type",
        "client_credentials: app-only (cmp). refresh_token: App+User (mpn), redeeming the refresh token "
        "that `python -m airflow_provider_pcinsights.signin` mints.",
        "refresh_token",
        default="client_credentials",
        choices=AUTH_TYPES,
    ),
    ConnectionField(
        "refresh_token",
        "Refresh token",
        "App+User refresh token, redeemed with the client credential; required for auth_type "
        "refresh_token. Mint or renew it with `python -m airflow_provider_pcinsights.signin`.",
        "0.AXoA... (as printed by the sign-in helper)",
        secret=True,
    ),
    ConnectionField(
        "api_version",
        "API version",
        "Version in the API path; empty means v1 for mpn and v1.1 for cmp.",
        "v1.1",
        pattern=r"v[0-9]+(\.[0-9]+)*",
    ),
    ConnectionField(
        "certificate_path",
        "Certificate path",
        "PEM file holding the private key (unencrypted) and the certificate registered on the app, "
        "instead of a secret.",
        "/opt/airflow/secrets/pcinsights.pem",
        section=_CREDENTIAL_SECTION,
    ),
    ConnectionField(
        "client_assertion_file",
        "Client assertion file",
        "Federated token file (workload identity), read again at every sign-in, instead of a secret.",
        "/var/run/secrets/azure/tokens/azure-identity-token",
        section=_CREDENTIAL_SECTION,
    ),
    ConnectionField(
        "authority_host",
        "Authority host",
        "Microsoft Entra sign-in host; change it only for another cloud.",
        "https://login.microsoftonline.us",
        default=DEFAULT_AUTHORITY_HOST,
        section=_NETWORK_SECTION,
    ),
    ConnectionField(
        "scope",
        "Scope",
        "Token scope asked of Entra; Partner Center accepts only its own audience.",
        DEFAULT_SCOPE,
        default=DEFAULT_SCOPE,
        section=_NETWORK_SECTION,
    ),
    ConnectionField(
        "verify",
        "Verify TLS",
        "true, false, or the path of a CA bundle; it wins over REQUESTS_CA_BUNDLE.",
        "/etc/ssl/certs/corporate-ca.pem",
        default="true",
        section=_NETWORK_SECTION,
    ),
    ConnectionField(
        "proxies",
        "Proxies",
        "requests-style mapping of scheme to proxy URL, used for sign-in and API calls.",
        '{"https": "http://proxy.example.com:3128"}',
        json_type="object",
        section=_NETWORK_SECTION,
    ),
    ConnectionField(
        "timeout",
        "Timeout (seconds)",
        "Seconds each HTTP call may take.",
        "60",
        default=DEFAULT_TIMEOUT,
        json_type="number",
        section=_NETWORK_SECTION,
    ),
)

EXTRA_FIELDS: tuple[ConnectionField, ...] = tuple(f for f in FIELDS if f.extra)
KNOWN_EXTRAS: frozenset[str] = frozenset(f.name for f in EXTRA_FIELDS)


def nearest_field(name: str) -> str | None:
    """The known extra a mistyped name most likely meant (``programme`` -> ``program``)."""
    plain = name.removeprefix(LEGACY_EXTRA_PREFIX).lower().replace("-", "_")
    match = difflib.get_close_matches(plain, sorted(KNOWN_EXTRAS), n=1, cutoff=0.6)  # all lower case
    return match[0] if match else None


def _schema(f: ConnectionField) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": f.json_type if f.required else [f.json_type, "null"]}
    if f.default is not None:
        schema["default"] = f.default
    if f.choices:
        schema["enum"] = list(f.choices)
    if f.secret:
        schema["format"] = "password"
    if f.section:
        schema["section"] = f.section
    return schema


def provider_conn_fields() -> dict[str, dict[str, Any]]:
    """``conn-fields`` for ``get_provider_info()``: what Airflow 3's UI draws the extras from."""
    return {
        f.name: {"label": f.label, "description": f.help_text, "schema": _schema(f)} for f in EXTRA_FIELDS
    }


def ui_field_behaviour(*, kebab_case: bool) -> dict[str, Any]:
    """How the standard fields are hidden, relabelled and filled in: kebab-case keys for
    ``get_provider_info()``, snake_case for the hook's ``get_ui_field_behaviour``."""
    return {
        # Airflow's own fields this connection does not use.
        ("hidden-fields" if kebab_case else "hidden_fields"): ["schema", "port", "extra"],
        "relabeling": {f.name: f.label for f in FIELDS if not f.extra},
        # Airflow 2's form shows a placeholder in every field; Airflow 3 only in the standard ones.
        # An extra's input has no room for its description: it shows the example.
        "placeholders": {f.name: f.example if f.extra else f.help_text for f in FIELDS},
    }
