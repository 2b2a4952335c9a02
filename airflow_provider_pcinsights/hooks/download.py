"""Download a report file from the link the service hands out: without the bearer token, streamed,
gunzipped, without a byte-order mark, its rows counted.

The link (``ReportAccessSecureLink``) is a pre-signed storage URL, its own
credential: the request carries no ``Authorization`` header at all (the session's
``trust_env`` is off, so ``~/.netrc`` adds none either), redirects are followed by hand under the
same rule, and the link's signature never appears in a message or a log. A link
the storage host refuses (an expired one answers 403) is replaced once.

Report files are gzip-compressed CSV or TSV (Microsoft's Java and C# samples
decompress them) and may start with a UTF-8 byte-order mark. Whether every file
is compressed is not documented, so a file that does not start with the gzip
magic is passed through as it is; one whose gzip stream stops short is an error,
never a quietly truncated file. The decoder and the row counter are pure, so they
work on any size in constant memory and are tested without a network.

Imported lazily by the hook (it pulls in ``requests``).
"""

from __future__ import annotations

import itertools
import logging
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from airflow_provider_pcinsights.exceptions import ReportFileError, ServiceUnavailableError, excerpt, redact
from airflow_provider_pcinsights.hooks.http import UTF8_BOM, PinnedSession, transport_error

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024
_MAX_REDIRECTS = 5
_XML_TEXT = re.compile(r"<(Code|Message|AuthenticationErrorDetail)>(.*?)</\1>", re.S)
GZIP_MAGIC = b"\x1f\x8b"
# A line feed (after any carriage returns) that ends a line with something on it.
_RECORD_END = re.compile(rb"[^\r\n]\r*\n")


@dataclass(frozen=True)
class ReportDownload:
    """What ``download`` wrote: the execution (as last read), its decoded size in bytes, its data
    rows, whether it came gzip-compressed, and whether its link had to be replaced."""

    execution: dict[str, Any]
    bytes: int
    rows: int
    compressed: bool
    link_refreshed: bool


class _LinkRefused(Exception):
    """The storage host refused the link (HTTP 403), before any byte of the file: expired, most likely."""


def shown(link: str) -> str:
    """The link as a message may show it: scheme, host and path, never the signed query."""
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def download(
    session: PinnedSession,
    execution: dict[str, Any],
    sink: Callable[[bytes], Any],
    *,
    read_again: Callable[[], dict[str, Any]],
    secrets: Iterable[str],
    retries: int,
) -> ReportDownload:
    """Stream ``execution``'s file into ``sink``; on a refused link, ``read_again()`` the execution
    for a fresh one, once, before anything is written. A second refusal is a ``ReportFileError``."""
    report_id = str(execution.get("ReportId", ""))
    doing = f"download the file of execution {execution.get('ExecutionId', '')} of report {report_id}"
    refreshed = False
    while True:
        link = str(execution.get("ReportAccessSecureLink") or "")
        try:
            written, rows, compressed = _stream(session, link, sink, execution.get("Format"), doing)
            return ReportDownload(execution, written, rows, compressed, link_refreshed=refreshed)
        except _LinkRefused as refusal:
            if refreshed:
                raise ReportFileError(
                    f"Could not {doing}: the file host refused its link even after the execution was "
                    f"read again for a fresh one ({refusal})",
                    status_code=403,
                    report_id=report_id,
                ) from None
            log.info(
                "The file host refused the link to %s (%s); reading the execution again for a fresh link",
                shown(link),
                refusal,
            )
            execution, refreshed = read_again(), True
        except OSError as err:
            origin = shown(link).rsplit("/", 1)[0]
            raise transport_error(err, doing=doing, origin=origin, secrets=secrets, retries=retries) from None


def _stream(
    session: PinnedSession, link: str, sink: Callable[[bytes], Any], file_format: str | None, doing: str
) -> tuple[int, int, bool]:
    """GET ``link`` without credentials and feed the decoded file to ``sink``: bytes written, rows, gzip.

    Raises ``_LinkRefused`` on a 403 before anything was written, ``ReportFileError``
    for any other refusal or a file cut short, and lets ``OSError`` (the network,
    after the session's retries) through for the caller to word.
    """
    url = link
    for _ in range(_MAX_REDIRECTS + 1):
        if urlsplit(url).scheme.lower() != "https":
            raise ReportFileError(f"Could not {doing}: the file link {shown(url)} is not https; not followed")
        response = session.get(url, stream=True, allow_redirects=False)
        if not response.is_redirect:
            break
        url = urljoin(url, response.headers.get("Location", ""))
        response.close()
    else:
        raise ReportFileError(f"Could not {doing}: the file host redirected more than {_MAX_REDIRECTS} times")
    try:
        if response.status_code == 403:
            raise _LinkRefused(_storage_error(response))
        if response.status_code != 200:
            raise ReportFileError(
                f"Could not {doing}: the file host answered HTTP {response.status_code} for {shown(url)} "
                f"({_storage_error(response)})",
                status_code=response.status_code,
            )
        rows, written, where = RowCounter(file_format), 0, shown(url)
        try:
            compressed, decoded = decode(response.iter_content(_CHUNK))
            for data in decoded:
                if data:
                    rows.feed(data)
                    sink(data)
                    written += len(data)
        except TruncatedFileError as err:
            raise ReportFileError(f"Could not {doing}: {err} ({where}, {written} bytes written)") from None
        except ValueError as err:  # not gzip after all, though it began like gzip
            raise ReportFileError(f"Could not {doing}: {err} ({where})") from None
        except (requests.exceptions.RequestException, Urllib3Error, OSError) as err:
            raise ServiceUnavailableError(
                f"Could not {doing}: the download from {where} was cut off after {written} bytes written "
                f"({type(err).__name__}: {redact(str(err))})"
            ) from None
        rows.finish()
        return written, rows.rows, compressed
    finally:
        response.close()


def _storage_error(response: requests.Response) -> str:
    """What a storage host said: Azure's XML code, message and detail, else a short excerpt."""
    try:
        text = response.text
    except Exception:
        text = ""
    found = {name: " ".join(value.split()) for name, value in _XML_TEXT.findall(text[:8192])}
    code = found.get("Code") or response.headers.get("x-ms-error-code")
    parts = [code, found.get("Message", "").split(" RequestId:")[0], found.get("AuthenticationErrorDetail")]
    said = ": ".join(p for p in parts if p) or excerpt(text) or response.reason or "no reason given"
    request_id = response.headers.get("x-ms-request-id")
    return redact(said + (f"; x-ms-request-id {request_id}" if request_id else ""))


# ---------------------------------------------------------------------------------- the file, decoded


class TruncatedFileError(ValueError):
    """The gzip stream ended before its end marker: the download was cut short."""


def decode(chunks: Iterable[bytes]) -> tuple[bool, Iterator[bytes]]:
    """Whether the file is gzip (told by its first two bytes, read at once), and its bytes to write.

    Reading them gunzips (every member of ``cat a.gz b.gz``, as ``gzip`` does) and drops a leading
    byte-order mark; a gzip stream left unfinished raises ``TruncatedFileError``.
    """
    source = iter(chunks)
    head = _first(source, len(GZIP_MAGIC))
    compressed = head.startswith(GZIP_MAGIC)
    data = itertools.chain([head], source)
    return compressed, _without_bom(_gunzipped(data) if compressed else data)


def _first(chunks: Iterator[bytes], size: int) -> bytes:
    """At least ``size`` bytes from ``chunks``, fewer if they end first."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= size:
            break
    return head


def _without_bom(data: Iterator[bytes]) -> Iterator[bytes]:
    yield _first(data, len(UTF8_BOM)).removeprefix(UTF8_BOM)
    yield from data


def _gunzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    inflater = None
    for chunk in chunks:
        while chunk:
            if inflater is None or inflater.eof:  # the first member, or another after one done
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                yield inflater.decompress(chunk)
            except zlib.error as err:
                raise ValueError(f"the report file is not valid gzip: {err}") from None
            chunk = inflater.unused_data
    if inflater is None or not inflater.eof:
        raise TruncatedFileError("the report file ended before its gzip stream did (a cut download?)")


class RowCounter:
    """Counts the records of a CSV or TSV file fed in chunks; ``rows`` leaves out the header.

    A record ends at a line feed outside a quoted field (CSV quotes with ``"``, a
    quote inside one doubled, so each ``"`` simply flips the state); TSV has no
    quoting. Carriage returns belong to the line ending; a blank line is no record;
    a last record without a line feed counts; an empty file has no rows.
    """

    def __init__(self, file_format: str | None = "csv") -> None:
        self.quoted = (file_format or "csv").strip().lower() != "tsv"
        self.records = 0
        self._in_quotes = False
        self._open_record = False  # something seen since the last record ended

    def feed(self, data: bytes) -> None:
        if self.quoted:
            parts = data.split(b'"')
            for index in range(len(parts)):
                if index:
                    self._in_quotes = not self._in_quotes
                if self._in_quotes:
                    parts[index] = b"q"  # a quoted field, line feeds and all, is something in a record
            data = b"".join(parts)
        text = (b"q" if self._open_record else b"") + data
        self.records += len(_RECORD_END.findall(text))
        self._open_record = bool(text[text.rfind(b"\n") + 1 :].strip(b"\r"))

    def finish(self) -> None:
        self.records += self._open_record  # a last record without a line feed
        self._open_record = False

    @property
    def rows(self) -> int:
        """Data rows: every record after the header."""
        return max(self.records - 1, 0)
