"""``RefusingProxy``: refuses CONNECT (a 403, or a closed connection); tunnels only to allowed loopback."""

from __future__ import annotations

import socket

import pytest
import requests

from airflow_provider_pcinsights.emulator import Emulator
from emulator_support.clients import strip_bom
from emulator_support.proxy import RefusingProxy


def _connect(proxy: RefusingProxy, target: str) -> bytes:
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        return sock.recv(4096)


def test_forbid_answers_403_and_close_says_nothing() -> None:
    with RefusingProxy(how="forbid") as forbidding, RefusingProxy(how="close") as closing:
        assert _connect(forbidding, "api.example:443").startswith(b"HTTP/1.1 403 Forbidden")
        assert _connect(closing, "api.example:443") == b""
        assert forbidding.refused() == ["CONNECT api.example:443 HTTP/1.1"]
        assert closing.requests == ["CONNECT api.example:443 HTTP/1.1"]


def test_allowed_loopback_targets_are_tunnelled() -> None:
    discovery = "v2.0/.well-known/openid-configuration"
    with Emulator(reports=1) as emu, RefusingProxy(allow=[f"127.0.0.1:{emu.port}"]) as proxy:
        answer = requests.get(
            f"{emu.authority}/{discovery}",
            proxies={"https": proxy.url},
            verify=emu.ca_path,
            timeout=10,
            hooks={"response": [strip_bom]},
        )
        assert answer.status_code == 200
        assert proxy.refused() == []
        with pytest.raises(requests.exceptions.ProxyError):
            requests.get(
                f"https://localhost:{emu.port}/{emu.tenant_id}/{discovery}",
                proxies={"https": proxy.url},
                verify=emu.ca_path,
                timeout=10,
            )
        assert [line.split()[1] for line in proxy.refused()] == [f"localhost:{emu.port}"]


@pytest.mark.parametrize("target", ["example.com:443", "10.0.0.1:443", "no-port"])
def test_only_loopback_targets_can_be_allowed(target: str) -> None:
    with pytest.raises(ValueError, match="loopback HOST:PORT targets only"):
        RefusingProxy(allow=[target])
