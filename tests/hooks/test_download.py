"""The hook fetches report files from the file host: no token, one fresh link, the whole file or none."""

from __future__ import annotations

import io

import pytest

from airflow_provider_pcinsights.emulator.proxy import RefusingProxy
from airflow_provider_pcinsights.exceptions import (
    NetworkSetupError,
    ReportFileError,
    ServiceUnavailableError,
)


@pytest.fixture
def completed(emu):
    """A report resumed a run ago: its latest completed execution is brand new."""
    report_id = emu.report_ids()[1]
    run = emu.run_report("mpn", report_id)
    emu.clock.advance(emu.runs.pending_seconds + emu.runs.running_seconds)
    return report_id, run["ExecutionId"]


def _download(hook, report_id, execution_id=None):
    out = io.BytesIO()
    result = hook.download_report_file(hook.get_completed_execution(report_id, execution_id), out.write)
    return result, out.getvalue()


def test_the_latest_completed_file_arrives_plain_without_the_token_reaching_the_file_host(
    emu, make_hook, completed
):
    report_id, execution_id = completed
    hook = make_hook()

    result, content = _download(hook, report_id)

    expected = emu.report_file("mpn", report_id, execution_id)
    assert content == expected.content  # gunzipped, BOM gone
    assert (result.bytes, result.rows, result.compressed) == (len(expected.content), expected.rows, True)
    assert result.execution["ExecutionId"] == execution_id
    assert result.link_refreshed is False
    (call,) = emu.file_requests()
    assert call.status == 200
    assert call.authorization is False  # the bearer token never went to the file host
    assert all(r.kind != "file" for r in emu.api_requests())


def test_an_expired_link_is_replaced_once_by_reading_the_execution_again(emu, make_hook, completed, caplog):
    report_id, execution_id = completed
    hook = make_hook()
    execution = hook.get_completed_execution(report_id)
    emu.expire_links()  # the link just read is now past its time

    out = io.BytesIO()
    result = hook.download_report_file(execution, out.write)

    assert result.link_refreshed is True
    assert out.getvalue() == emu.report_file("mpn", report_id, execution_id).content
    assert [c.status for c in emu.file_requests()] == [403, 200]
    reads = emu.api_requests(path_contains="/execution/")
    assert reads[-1].query["executionId"] == execution_id  # the same execution, read again
    assert "Signature not valid in the specified time frame" in caplog.text
    assert execution["ReportAccessSecureLink"].split("sig=")[1] not in caplog.text  # never the signature


def test_a_link_refused_twice_is_an_error_naming_the_refusal(emu, make_hook, completed):
    report_id, _ = completed
    hook = make_hook()
    execution = hook.get_completed_execution(report_id)
    emu.expire_links()
    emu.expire_next_links(1)  # the fresh link is no better

    with pytest.raises(ReportFileError) as caught:
        hook.download_report_file(execution, io.BytesIO().write)

    message = str(caught.value)
    assert "refused its link even after the execution was read again" in message
    assert "AuthenticationFailed" in message
    assert "sig=" not in message
    assert [c.status for c in emu.file_requests()] == [403, 403]


def test_a_given_execution_that_is_not_completed_yet_is_refused_saying_its_status(emu, make_hook):
    report_id = emu.report_ids()[1]
    run = emu.run_report("mpn", report_id)
    hook = make_hook()
    with pytest.raises(
        ReportFileError, match=f"Execution {run['ExecutionId']} of report {report_id} is Pending"
    ):
        hook.get_completed_execution(report_id, run["ExecutionId"])
    with pytest.raises(ReportFileError, match="has no completed execution yet"):
        hook.get_completed_execution(report_id)
    with pytest.raises(ReportFileError, match="has no execution 00000000"):
        hook.get_completed_execution(report_id, "00000000-0000-4000-8000-000000000000")
    with pytest.raises(ValueError, match="execution_id"):
        hook.get_completed_execution(report_id, "../x")
    assert emu.file_requests() == []


def test_a_file_cut_short_is_an_error_not_a_short_file(emu, make_hook, completed):
    report_id, execution_id = completed
    emu.faults.truncate(count=1, keep=0.5, path=f"/{execution_id}.")
    hook = make_hook(hook_kwargs={"retries": 0})

    with pytest.raises((ReportFileError, ServiceUnavailableError)) as caught:
        _download(hook, report_id)

    assert "cut" in str(caught.value)
    assert "sig=" not in str(caught.value)


def test_netrc_credentials_for_the_file_host_are_not_sent(emu, make_hook, completed, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine localhost login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    hook = make_hook()

    _download(hook, completed[0])

    assert [c.authorization for c in emu.file_requests()] == [False]


def test_the_download_goes_through_the_connections_proxy(emu, make_hook, completed):
    report_id, _ = completed
    api, files = f"127.0.0.1:{emu.port}", f"localhost:{emu.port}"
    with RefusingProxy(allow=[api, files]) as proxy:
        _download(make_hook(proxies={"https": proxy.url}), report_id)
        assert [line.split()[1] for line in proxy.requests if "localhost" in line] == [files]
    with RefusingProxy(allow=[api]) as proxy:
        hook = make_hook(proxies={"https": proxy.url}, hook_kwargs={"retries": 2})
        with pytest.raises(NetworkSetupError, match=f"the proxy {proxy.url} refused to connect to localhost"):
            _download(hook, report_id)


def test_a_file_host_that_hangs_is_given_up_after_the_connections_timeout(emu, make_hook, completed):
    report_id, execution_id = completed
    emu.faults.hang(count=5, seconds=30, path=f"/{execution_id}.")
    hook = make_hook(timeout=0.5, hook_kwargs={"retries": 0})

    with pytest.raises(ServiceUnavailableError, match="did not answer"):
        _download(hook, report_id)
