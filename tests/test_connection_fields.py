"""The connection form, as each Airflow line's UI receives it, comes from one table of fields."""

from __future__ import annotations

import logging
from importlib.metadata import version

import pytest

from airflow_provider_pcinsights import connection_fields, get_provider_info
from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

AIRFLOW_VERSION = tuple(int(part) for part in version("apache-airflow").split(".")[:2])
AIRFLOW_MAJOR = AIRFLOW_VERSION[0]
EXTRAS = {f.name for f in connection_fields.EXTRA_FIELDS}
BY_NAME = {f.name: f for f in connection_fields.FIELDS}


def test_the_settings_reader_accepts_exactly_the_extras_of_the_table():
    assert connection_fields.KNOWN_EXTRAS == EXTRAS
    info = get_provider_info()["connection-types"][0]
    assert set(info["conn-fields"]) == EXTRAS


def test_every_field_has_a_description_and_an_example():
    for f in connection_fields.FIELDS:
        assert f.description.strip(), f.name
        assert f.example.strip(), f.name
        assert f.example in f.help_text


@pytest.mark.skipif(AIRFLOW_VERSION < (3, 2), reason="Airflow 3.2 reads conn-fields; 3.0 and 3.1 below")
def test_airflow_3_ui_receives_every_field_with_its_description_example_and_requirement():
    """What Airflow 3's React form gets from its API, built by Airflow's own code from get_provider_info()."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    HookMetaService.hook_meta_data.cache_clear()
    meta = next(m for m in HookMetaService.hook_meta_data() if m.connection_type == "pcinsights")
    extra_fields = meta.extra_fields
    assert set(extra_fields) == EXTRAS
    for name, spec in extra_fields.items():
        f = BY_NAME[name]
        assert spec["schema"]["title"] == f.label
        assert f.description in spec["description"]
        assert f"Example: {f.example}" in spec["description"]
    # The form marks a field required when its type does not admit null; only the tenant is.
    required = {n for n, s in extra_fields.items() if "null" not in s["schema"]["type"]}
    assert required == {"tenant_id"}
    assert extra_fields["refresh_token"]["schema"]["format"] == "password"
    # The fields a user always fills stay in the first section ("Extra Fields"), the rare ones below.
    first_section = [n for n, s in extra_fields.items() if "section" not in s["schema"]]
    assert first_section[:3] == ["tenant_id", "program", "auth_type"]

    standard = meta.standard_fields
    assert standard.login.title == "Client ID"
    assert "Example:" in standard.login.placeholder
    assert standard.password.title == "Client secret"
    assert "Example:" in standard.password.placeholder
    assert standard.host.title == "API base URL"
    assert "Example:" in standard.host.placeholder
    assert standard.port.hidden
    assert standard.url_schema.hidden


@pytest.mark.skipif(AIRFLOW_MAJOR >= 3, reason="the classic (Flask AppBuilder) form is Airflow 2's")
def test_airflow_2_classic_form_shows_every_field_with_its_description_and_example():
    from airflow.providers_manager import ProvidersManager

    widgets = {
        name.removeprefix(connection_fields.LEGACY_EXTRA_PREFIX): w
        for name, w in ProvidersManager().connection_form_widgets.items()
        if name.startswith(connection_fields.LEGACY_EXTRA_PREFIX)
    }
    assert set(widgets) == EXTRAS
    for name, widget in widgets.items():
        f = BY_NAME[name]
        assert f"Example: {f.example}" in widget.field.kwargs["description"]
        placeholders = ProvidersManager().field_behaviours["pcinsights"]["placeholders"]
        assert placeholders[f"{connection_fields.LEGACY_EXTRA_PREFIX}{name}"] == f.example
    assert widgets["refresh_token"].field.field_class.__name__ == "PasswordField"
    assert widgets["refresh_token"].is_sensitive
    behaviour = PartnerCenterInsightsHook.get_ui_field_behaviour()
    assert behaviour["relabeling"]["login"] == "Client ID"


@pytest.mark.skipif(
    not (3, 0) <= AIRFLOW_VERSION < (3, 2), reason="Airflow 3.0 and 3.1 draw the extras from the hook"
)
def test_airflow_3_0_and_3_1_ui_draws_the_extras_from_the_hook_widgets(monkeypatch):
    """Before conn-fields, Airflow 3's UI calls get_connection_form_widgets with its own stand-ins for
    wtforms and Flask AppBuilder, which accept fewer arguments than the real ones. It patches the real
    modules, so empty modules stand in here for the ones this environment lacks (the FAB provider)."""
    import sys
    import types

    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    names = {
        "wtforms": ["StringField", "IntegerField", "PasswordField", "BooleanField"],
        "wtforms.fields": ["StringField", "IntegerField", "BooleanField"],
        "wtforms.fields.simple": ["StringField", "BooleanField"],
        "wtforms.validators": ["Optional", "any_of"],
        "flask_babel": ["lazy_gettext"],
        "flask_appbuilder": [],
        "flask_appbuilder.fieldwidgets": [
            "BS3TextFieldWidget",
            "BS3TextAreaFieldWidget",
            "BS3PasswordFieldWidget",
        ],
    }
    for module_name, attributes in names.items():
        if module_name in sys.modules:
            continue
        module = types.ModuleType(module_name)
        for attribute in attributes:
            setattr(module, attribute, None)
        monkeypatch.setitem(sys.modules, module_name, module)
    monkeypatch.setattr(sys.modules["wtforms"], "fields", sys.modules["wtforms.fields"], raising=False)
    monkeypatch.setattr(
        sys.modules["wtforms.fields"], "simple", sys.modules["wtforms.fields.simple"], raising=False
    )
    monkeypatch.setattr(
        sys.modules["wtforms"], "validators", sys.modules["wtforms.validators"], raising=False
    )
    monkeypatch.setattr(
        sys.modules["flask_appbuilder"],
        "fieldwidgets",
        sys.modules["flask_appbuilder.fieldwidgets"],
        raising=False,
    )

    from airflow.providers_manager import ProvidersManager

    monkeypatch.setattr(ProvidersManager, "_initialized", False, raising=False)
    monkeypatch.setattr(ProvidersManager, "_instance", None, raising=False)
    HookMetaService.hook_meta_data.cache_clear()
    meta = next(m for m in HookMetaService.hook_meta_data() if m.connection_type == "pcinsights")

    assert set(meta.extra_fields) == EXTRAS
    for name, spec in meta.extra_fields.items():
        assert f"Example: {BY_NAME[name].example}" in spec["description"]
    assert meta.extra_fields["refresh_token"]["schema"]["format"] == "password"
    assert meta.standard_fields.login.title == "Client ID"


def test_both_behaviours_say_the_same():
    kebab = connection_fields.ui_field_behaviour(kebab_case=True)
    snake = PartnerCenterInsightsHook.get_ui_field_behaviour()
    assert list(kebab.values()) == list(snake.values())


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("programme", "program"),
        ("tenant", "tenant_id"),
        ("tenantid", "tenant_id"),
        ("Auth_Type", "auth_type"),
        ("refreshtoken", "refresh_token"),
        ("extra__pcinsights__programme", "program"),
        ("certificate", "certificate_path"),
        ("api-version", "api_version"),
    ],
)
def test_the_nearest_field_of_a_typo(typo, meant):
    assert connection_fields.nearest_field(typo) == meant


def test_a_name_like_no_field_has_no_suggestion():
    assert connection_fields.nearest_field("colour") is None


def test_provider_info_imports_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys; import airflow_provider_pcinsights as p; p.get_provider_info(); "
        "print(sorted(m for m in ('airflow', 'msal', 'requests', 'cryptography') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_app_only_mpn_warns_once_per_connection(caplog, monkeypatch):
    from airflow.models.connection import Connection

    from airflow_provider_pcinsights.hooks import connection as _settings

    _settings.warn_once.cache_clear()

    def conn(conn_id: str, **extra: str) -> Connection:
        extras = {"tenant_id": "contoso.onmicrosoft.com", **extra}
        return Connection(
            conn_id=conn_id, conn_type="pcinsights", login="client-id", password="secret-value", extra=extras
        )

    with caplog.at_level(logging.WARNING, logger=_settings.__name__):
        for _ in range(3):
            _settings.settings_from_connection(conn("pcinsights_mpn"))
        _settings.settings_from_connection(conn("pcinsights_cmp", program="cmp"))
        _settings.settings_from_connection(
            conn("pcinsights_user", auth_type="refresh_token", refresh_token="0.rt-value")
        )
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == _settings.__name__
    ]
    assert len(warnings) == 1
    assert "pcinsights_mpn" in warnings[0]
    assert "App+User" in warnings[0]
    assert "python -m airflow_provider_pcinsights.signin" in warnings[0]
