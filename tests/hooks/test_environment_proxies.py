"""The environment's proxies still apply to API calls, read once per host rather than at every call."""

from __future__ import annotations

from airflow_provider_pcinsights.emulator import RefusingProxy


def _api_tunnels(proxy: RefusingProxy, port: int) -> int:
    return sum(1 for line in proxy.requests if line.startswith(f"CONNECT 127.0.0.1:{port}"))


def test_https_proxy_from_the_environment_carries_the_api_calls(emu, make_hook, monkeypatch):
    with RefusingProxy(allow=[f"127.0.0.1:{emu.port}"]) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        hook = make_hook()
        hook.get_token()  # the sign-in's own session
        before = _api_tunnels(proxy, emu.port)

        hook.get_report(emu.report_ids()[0])

        assert _api_tunnels(proxy, emu.port) == before + 1  # the API session's tunnel
        assert proxy.refused() == []


def test_no_proxy_from_the_environment_is_honoured(emu, make_hook, monkeypatch):
    with RefusingProxy(how="forbid") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        hook = make_hook()

        hook.get_report(emu.report_ids()[0])

        assert proxy.requests == []


def test_the_connections_proxies_win_over_the_environments(emu, make_hook, monkeypatch):
    with RefusingProxy(how="forbid") as refusing, RefusingProxy(allow=[f"127.0.0.1:{emu.port}"]) as chosen:
        monkeypatch.setenv("HTTPS_PROXY", refusing.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        hook = make_hook(proxies={"https": chosen.url})
        hook.get_token()
        before = _api_tunnels(chosen, emu.port)

        hook.get_report(emu.report_ids()[0])

        assert _api_tunnels(chosen, emu.port) == before + 1
        assert refusing.requests == []
