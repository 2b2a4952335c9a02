"""``hooks.download``: report files from the file host, and the file as it arrives.

- The hook fetches report files from the file host: no token, one fresh link, the whole file or none.
- Report files as they arrive in pieces: gunzipped, without a BOM, rows counted, a cut file refused.
"""

from __future__ import annotations

import gzip
import io

import pytest
from emulator_support.proxy import RefusingProxy

from airflow_provider_pcinsights.exceptions import (
    NetworkSetupError,
    ReportFileError,
    ServiceUnavailableError,
)
from airflow_provider_pcinsights.hooks.download import (
    UTF8_BOM,
    RowCounter,
    TruncatedFileError,
    decode,
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


CSV = (
    b"CustomerTenantId,ProductName,LicensesActive\r\n"
    b'1a2b,"Microsoft 365 E3, annual",20\r\n'
    b'3c4d,"Teams ""Premium""\nadd-on",5\r\n'
    b"5e6f,Power BI Pro,12\r\n"
)


def _decode(data: bytes, size: int) -> tuple[bytes, bool]:
    compressed, decoded = decode(data[i : i + size] for i in range(0, len(data), size))
    return b"".join(decoded), compressed


def _rows(data: bytes, size: int, file_format: str = "csv") -> int:
    counter = RowCounter(file_format)
    for i in range(0, len(data), size):
        counter.feed(data[i : i + size])
    counter.finish()
    return counter.rows


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100_000])
def test_a_gzipped_file_with_a_bom_comes_out_plain_in_pieces_of_any_size(size):
    out, compressed = _decode(gzip.compress(UTF8_BOM + CSV), size)
    assert out == CSV
    assert compressed is True


@pytest.mark.parametrize("size", [1, 2, 64])
def test_a_plain_file_is_passed_through_and_only_a_leading_bom_goes(size):
    body = UTF8_BOM + b"a,b\n" + UTF8_BOM + b"\n"
    out, compressed = _decode(body, size)
    assert out == b"a,b\n" + UTF8_BOM + b"\n"
    assert compressed is False


def test_several_gzip_members_are_one_file():
    out, _ = _decode(gzip.compress(UTF8_BOM + CSV[:50]) + gzip.compress(CSV[50:]), 5)
    assert out == CSV


@pytest.mark.parametrize("data", [b"", b"a", b"\xef\xbb", b"\xef\xbb\xbf"])
def test_tiny_files(data):
    out, _ = _decode(data, 1)
    assert out == (b"" if data == UTF8_BOM else data)


def test_a_cut_gzip_stream_is_an_error_not_a_short_file():
    whole = gzip.compress(CSV)
    with pytest.raises(TruncatedFileError, match="ended before its gzip stream did"):
        _decode(whole[: len(whole) // 2], 16)


def test_a_file_that_only_looks_gzip_is_refused():
    with pytest.raises(ValueError, match="not valid gzip"):
        _decode(b"\x1f\x8bnot really gzip at all", 4)


@pytest.mark.parametrize("size", [1, 2, 5, 1000])
def test_rows_leave_out_the_header_and_respect_quoted_line_feeds(size):
    assert _rows(CSV, size) == 3


@pytest.mark.parametrize(
    ("data", "rows"),
    [
        (b"", 0),
        (b"h1,h2", 0),
        (b"h1,h2\n", 0),
        (b"h1,h2\na,b", 1),  # the last record needs no line feed
        (b"h1,h2\na,b\n\n\r\n", 1),  # blank lines are no records
        (b'h\n""\n"x"\n', 2),
    ],
)
def test_rows_in_edge_cases(data, rows):
    for size in (1, 3, 100):
        assert _rows(data, size) == rows


def test_tsv_has_no_quoting():
    tsv = b'h1\th2\n5" screen\tx\n7" screen\ty\n'
    assert _rows(tsv, 4, "TSV") == 2
    assert _rows(tsv, 4, "csv") != 2  # as CSV the quotes would swallow a line
