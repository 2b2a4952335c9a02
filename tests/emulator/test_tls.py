"""Clients verify the emulator like a real service: with its CA, under OpenSSL's strict checks."""

from __future__ import annotations

import socket
import ssl

import pytest
import requests

from airflow_provider_pcinsights.emulator import Emulator


def test_requests_trusts_the_emulator_with_its_ca(emu: Emulator) -> None:
    answer = requests.get(
        f"{emu.authority}/v2.0/.well-known/openid-configuration", verify=emu.ca_path, timeout=10
    )
    assert answer.status_code == 200


def test_the_system_trust_store_does_not_trust_it(emu: Emulator) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{emu.authority}/v2.0/.well-known/openid-configuration", verify=True, timeout=10)


@pytest.mark.parametrize("server_name", ["127.0.0.1", "localhost"])
def test_strict_openssl_verification_accepts_the_chain(emu: Emulator, server_name: str) -> None:
    context = ssl.create_default_context(cafile=emu.ca_path)
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    with (
        socket.create_connection(("127.0.0.1", emu.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        assert tls.getpeercert()["subjectAltName"] == (("IP Address", "127.0.0.1"), ("DNS", "localhost"))


def test_a_silent_client_does_not_stall_other_clients(emu: Emulator) -> None:
    """The handshake runs per connection, so a client that never speaks TLS blocks nobody."""
    with socket.create_connection(("127.0.0.1", emu.port), timeout=10):
        answer = requests.get(
            f"{emu.authority}/v2.0/.well-known/openid-configuration", verify=emu.ca_path, timeout=5
        )
    assert answer.status_code == 200


def test_certificates_are_shared_but_each_emulator_has_its_own_files() -> None:
    with Emulator(reports=0) as first, Emulator(reports=0) as second:
        assert first.ca_path != second.ca_path
        assert first.port != second.port
        with open(first.ca_path) as a, open(second.ca_path) as b:
            assert a.read() == b.read()
        requests.get(
            f"{second.authority}/v2.0/.well-known/openid-configuration", verify=first.ca_path, timeout=10
        ).raise_for_status()
