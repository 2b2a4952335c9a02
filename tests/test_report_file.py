"""Report files as they arrive in pieces: gunzipped, without a BOM, rows counted, a cut file refused."""

from __future__ import annotations

import gzip

import pytest

from airflow_provider_pcinsights.hooks.download import (
    UTF8_BOM,
    ReportFileDecoder,
    RowCounter,
    TruncatedFileError,
)

CSV = (
    b"CustomerTenantId,ProductName,LicensesActive\r\n"
    b'1a2b,"Microsoft 365 E3, annual",20\r\n'
    b'3c4d,"Teams ""Premium""\nadd-on",5\r\n'
    b"5e6f,Power BI Pro,12\r\n"
)


def _decode(data: bytes, size: int) -> tuple[bytes, ReportFileDecoder]:
    decoder = ReportFileDecoder()
    out = b"".join(decoder.feed(data[i : i + size]) for i in range(0, len(data), size))
    return out + decoder.finish(), decoder


def _rows(data: bytes, size: int, file_format: str = "csv") -> int:
    counter = RowCounter(file_format)
    for i in range(0, len(data), size):
        counter.feed(data[i : i + size])
    counter.finish()
    return counter.rows


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100_000])
def test_a_gzipped_file_with_a_bom_comes_out_plain_in_pieces_of_any_size(size):
    out, decoder = _decode(gzip.compress(UTF8_BOM + CSV), size)
    assert out == CSV
    assert decoder.compressed is True


@pytest.mark.parametrize("size", [1, 2, 64])
def test_a_plain_file_is_passed_through_and_only_a_leading_bom_goes(size):
    body = UTF8_BOM + b"a,b\n" + UTF8_BOM + b"\n"
    out, decoder = _decode(body, size)
    assert out == b"a,b\n" + UTF8_BOM + b"\n"
    assert decoder.compressed is False


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
