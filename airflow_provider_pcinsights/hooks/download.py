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

import logging
import re
import zlib
from collections.abc import Callable, Iterable
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
_LINE_END_FIRST = re.compile(rb"\r*\n")


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
        decoder, rows, written, where = ReportFileDecoder(), RowCounter(file_format), 0, shown(url)

        def put(data: bytes) -> None:
            nonlocal written
            if data:
                rows.feed(data)
                sink(data)
                written += len(data)

        try:
            for chunk in response.iter_content(_CHUNK):
                put(decoder.feed(chunk))
            put(decoder.finish())
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
        return written, rows.rows, bool(decoder.compressed)
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


class ReportFileDecoder:
    """Feed it the bytes of the file as they arrive; it returns the bytes to write.

    Handles gzip files of several members (``cat a.gz b.gz``), as ``gzip`` does.
    ``compressed`` says whether the file was gzip, once the first two bytes were seen.
    """

    def __init__(self) -> None:
        self.compressed: bool | None = None
        self._head = b""  # bytes held until the format is known
        self._inflater: zlib._Decompress | None = None
        self._bom_checked = False
        self._pending = b""  # decoded bytes held until the BOM question is settled

    def feed(self, chunk: bytes) -> bytes:
        if self.compressed is None:
            self._head += chunk
            if len(self._head) < len(GZIP_MAGIC):
                return b""
            chunk, self._head = self._head, b""
            self.compressed = chunk.startswith(GZIP_MAGIC)
        return self._without_bom(self._inflate(chunk) if self.compressed else chunk)

    def finish(self) -> bytes:
        """The last bytes; raises ``TruncatedFileError`` if a gzip stream was left unfinished."""
        out = b""
        if self.compressed is None:  # fewer than two bytes in all: not gzip
            self.compressed = False
            out, self._head = self._head, b""
        elif self.compressed and (self._inflater is None or not self._inflater.eof):
            raise TruncatedFileError("the report file ended before its gzip stream did (a cut download?)")
        out = self._without_bom(out)
        if not self._bom_checked:  # fewer than three bytes in all: not a whole BOM, so kept
            out, self._pending = self._pending, b""
            self._bom_checked = True
        return out

    def _inflate(self, chunk: bytes) -> bytes:
        out = []
        while chunk:
            if self._inflater is None:
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out.append(self._inflater.decompress(chunk))
            except zlib.error as err:
                raise ValueError(f"the report file is not valid gzip: {err}") from None
            if self._inflater.eof:  # one member done: another may follow
                chunk = self._inflater.unused_data
                if chunk:
                    self._inflater = None
            else:
                chunk = b""
        return b"".join(out)

    def _without_bom(self, data: bytes) -> bytes:
        if self._bom_checked:
            return data
        self._pending += data
        if len(self._pending) < len(UTF8_BOM) and UTF8_BOM.startswith(self._pending):
            return b""  # could still be the start of a BOM
        self._bom_checked = True
        data, self._pending = self._pending, b""
        return data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data


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
        self._open_record = False  # bytes seen since the last record ended

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if not self.quoted or (b'"' not in data and not self._in_quotes):
            self._count_lines(data)
            return
        for index, part in enumerate(data.split(b'"')):
            if index:
                self._in_quotes = not self._in_quotes
                self._open_record = True  # the quote itself belongs to a record
            if not self._in_quotes:
                self._count_lines(part)
            elif part:
                self._open_record = True

    def _count_lines(self, data: bytes) -> None:
        """Count the records that end in ``data`` (text outside quotes); blank lines are no records."""
        if not data:
            return
        ends = len(_RECORD_END.findall(data))
        if self._open_record and _LINE_END_FIRST.match(data):
            ends += 1  # closes a record begun in an earlier piece
        self.records += ends
        last = data.rfind(b"\n")
        rest = data[last + 1 :] if last >= 0 else data
        self._open_record = bool(rest.strip(b"\r")) or (last < 0 and self._open_record)

    def finish(self) -> None:
        if self._open_record:
            self.records += 1
            self._open_record = False

    @property
    def rows(self) -> int:
        """Data rows: every record after the header."""
        return max(self.records - 1, 0)
