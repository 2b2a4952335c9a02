"""Connection fields: defaults, accepted spellings, and a clear error naming the field otherwise."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from airflow.models.connection import Connection

from airflow_provider_pcinsights.exceptions import ConnectionConfigError, PartnerCenterInsightsError
from airflow_provider_pcinsights.hooks.connection import settings_from_connection
from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

SECRET = "s3cr3t-value-for-tests"
REFRESH = "0.refresh-token-value-for-tests"


def connection(extra: dict | None = None, **fields) -> Connection:
    values = {
        "conn_id": "pcinsights_cfg",
        "conn_type": "pcinsights",
        "login": "client-id",
        "password": SECRET,
    }
    values.update(fields)
    return Connection(**values, extra=json.dumps({"tenant_id": "contoso.onmicrosoft.com", **(extra or {})}))


def test_defaults_follow_the_public_interface():
    settings = settings_from_connection(connection())

    assert settings.base_url == "https://api.partnercenter.microsoft.com/insights/v1/mpn/"
    assert settings.authority_host == "https://login.microsoftonline.com"
    assert settings.tenant_id == "contoso.onmicrosoft.com"
    assert settings.scope == "https://api.partnercenter.microsoft.com/.default"
    assert settings.auth_type == "client_credentials"
    assert settings.verify is True
    assert settings.proxies is None
    assert settings.timeout == 30


def test_cmp_defaults_to_v1_1_and_the_version_can_be_overridden():
    assert settings_from_connection(connection({"program": "cmp"})).base_url.endswith("/insights/v1.1/cmp/")
    assert settings_from_connection(connection({"program": "CMP", "api_version": "v1"})).base_url.endswith(
        "/insights/v1/cmp/"
    )


def test_host_may_be_given_without_scheme_and_with_a_trailing_slash():
    assert (
        settings_from_connection(connection(host="example.test", port=8443)).host
        == "https://example.test:8443"
    )
    assert settings_from_connection(connection(host="https://example.test/")).host == "https://example.test"


def test_extras_with_the_legacy_prefix_are_read():
    conn = Connection(
        conn_id="legacy",
        conn_type="pcinsights",
        login="client-id",
        password=SECRET,
        extra=json.dumps(
            {
                "extra__pcinsights__tenant_id": "tenant-a",
                "extra__pcinsights__program": "cmp",
                "extra__pcinsights__timeout": "12.5",
                "program": "",
            }
        ),
    )
    settings = settings_from_connection(conn)
    assert (settings.tenant_id, settings.program, settings.timeout) == ("tenant-a", "cmp", 12.5)


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (False, False), ("false", False), ("TRUE", True), ("0", False)]
)
def test_verify_accepts_booleans_and_their_spellings(value, expected):
    assert settings_from_connection(connection({"verify": value})).verify is expected


def test_verify_accepts_a_ca_bundle_path(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not checked here")
    assert settings_from_connection(connection({"verify": str(bundle)})).verify == str(bundle)


@pytest.mark.parametrize("proxies", [{"https": "http://proxy:3128"}, '{"https": "http://proxy:3128"}'])
def test_proxies_as_a_mapping_or_json(proxies):
    assert settings_from_connection(connection({"proxies": proxies})).proxies == {
        "https": "http://proxy:3128"
    }


def test_refresh_token_auth_and_its_token():
    settings = settings_from_connection(connection({"auth_type": "refresh_token", "refresh_token": REFRESH}))
    assert settings.auth_type == "refresh_token"
    assert settings.refresh_token == REFRESH


@pytest.mark.parametrize(
    ("fields", "extra", "named"),
    [
        ({"login": None}, {}, "login"),
        ({}, {"tenant_id": ""}, "tenant_id"),
        ({}, {"tenant_id": "a/b"}, "tenant_id"),
        ({}, {"program": "csp"}, "program"),
        ({}, {"api_version": "latest/../x"}, "api_version"),
        ({}, {"auth_type": "password"}, "auth_type"),
        ({}, {"auth_type": "refresh_token"}, "refresh_token"),
        ({"password": None}, {}, "client credential"),
        ({}, {"certificate_path": "/no/such/file.pem"}, "only one client credential"),
        ({"password": None}, {"certificate_path": "/no/such/file.pem"}, "certificate_path"),
        ({"password": None}, {"client_assertion_file": "/no/such/token"}, "client_assertion_file"),
        ({"host": "http://api.example.test"}, {}, "host"),
        ({}, {"authority_host": "http://login.example.test"}, "authority_host"),
        ({}, {"verify": "/no/such/ca.pem"}, "verify"),
        ({}, {"proxies": "not json"}, "proxies"),
        ({}, {"proxies": ["http://proxy"]}, "proxies"),
        ({}, {"timeout": "soon"}, "timeout"),
        ({}, {"timeout": 0}, "timeout"),
        ({}, {"timeout": -3}, "timeout"),
    ],
)
def test_invalid_fields_are_named(fields, extra, named):
    with pytest.raises(ConnectionConfigError, match=named) as caught:
        settings_from_connection(connection(extra, **fields))
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, PartnerCenterInsightsError)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "extra", ['{tenant_id: "contoso"}', '{"tenant_id": "contoso", "password": "' + SECRET]
)
def test_an_extra_that_is_not_json_is_named_as_such_without_quoting_it(extra):
    """Airflow logs a malformed extra and reads it as empty, which used to say "tenant_id is required".

    The connection is one such as Airflow hands over (``extra_dejson`` empty): Airflow 3.0.0 does not
    even load one from an environment variable.
    """
    conn = SimpleNamespace(
        conn_id="pcinsights_bad", login="client-id", password=SECRET, host=None, port=None, extra=extra
    )
    conn.extra_dejson = {}

    with pytest.raises(ConnectionConfigError, match=r"extra is not valid JSON \(.*line 1 column") as caught:
        settings_from_connection(conn)
    assert "tenant_id is required" not in str(caught.value)
    assert SECRET not in str(caught.value)


def test_invalid_connection_fails_on_first_use_before_any_request(emu, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PCINSIGHTS_BAD", emu.connection_json(program="partner"))
    hook = PartnerCenterInsightsHook("pcinsights_bad")

    with pytest.raises(ValueError, match="program"):
        hook.pause_report(emu.report_ids("mpn")[0])
    assert emu.all_requests == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"programme": "cmp"}, "unknown extra 'programme' (did you mean 'program'?)"),
        ({"extra__pcinsights__tenant": "x"}, "unknown extra 'tenant' (did you mean 'tenant_id'?)"),
        ({"colour": "blue"}, "unknown extra 'colour';"),
    ],
)
def test_an_unknown_extra_is_refused_naming_the_nearest_field(extra, message):
    with pytest.raises(ConnectionConfigError) as caught:
        settings_from_connection(connection(extra))
    assert message in str(caught.value)
    assert "the known extras are" in str(caught.value)


def test_a_misspelt_program_never_runs_against_the_default(emu, monkeypatch):
    """``programme`` used to be ignored silently, and the task ran against mpn."""
    conn = json.loads(emu.connection_json(program="cmp"))
    conn["extra"].pop("program")
    conn["extra"]["programme"] = "cmp"
    monkeypatch.setenv("AIRFLOW_CONN_PCINSIGHTS_TYPO", json.dumps(conn))
    hook = PartnerCenterInsightsHook("pcinsights_typo")

    with pytest.raises(ConnectionConfigError, match=r"did you mean 'program'\?"):
        hook.list_reports()
    assert hook.test_connection()[0] is False
    assert emu.all_requests == []


def test_settings_repr_hides_the_secrets():
    settings = settings_from_connection(connection({"auth_type": "refresh_token", "refresh_token": REFRESH}))
    assert SECRET not in repr(settings)
    assert REFRESH not in repr(settings)
    assert "client-id" in repr(settings)


@pytest.mark.parametrize(
    "kwargs",
    [{"retries": -1}, {"backoff_factor": "1"}, {"max_retry_after": -5}, {"max_pages": 0}],
)
def test_retry_settings_are_checked(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PartnerCenterInsightsHook(connection=connection(), **kwargs)
