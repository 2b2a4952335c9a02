"""Download a report file from the link the service hands out: without the bearer token, streamed.

The link (``ReportAccessSecureLink``) is a pre-signed storage URL, its own
credential: the request carries no ``Authorization`` header at all (``NoAuth``
also keeps ``~/.netrc`` from adding one), redirects are followed by hand under
the same rule, and the link's signature never appears in a message or a log.
The body streams through ``report_file.ReportFileDecoder`` (gunzip, BOM) into
the caller's sink, chunk by chunk, its rows counted on the way.

Imported lazily by the hook (it pulls in ``requests``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from airflow_provider_pcinsights.exceptions import ReportFileError, ServiceUnavailableError
from airflow_provider_pcinsights.hooks._errors import excerpt, redact
from airflow_provider_pcinsights.hooks._transport import PinnedSession
from airflow_provider_pcinsights.report_file import ReportFileDecoder, RowCounter, TruncatedFileError

_CHUNK = 256 * 1024
_MAX_REDIRECTS = 5
_XML_TEXT = re.compile(r"<(Code|Message|AuthenticationErrorDetail)>(.*?)</\1>", re.S)


class NoAuth(requests.auth.AuthBase):
    """No credentials: removes any ``Authorization`` header; given as ``auth``, ``~/.netrc`` is not read."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


class LinkRefused(Exception):
    """The storage host refused the link (HTTP 403), before any byte of the file: expired, most likely."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Streamed:
    """What one download wrote: bytes after decoding, data rows, and whether the file was gzip."""

    bytes: int
    rows: int
    compressed: bool


def link_secrets(link: str) -> tuple[str, ...]:
    """The parts of a link that are a credential (the SAS signature), as sent and decoded."""
    query = urlsplit(link).query
    raw = [
        value for part in query.split("&") for key, _, value in [part.partition("=")] if key.lower() == "sig"
    ]
    decoded = [value for key, value in parse_qsl(query, keep_blank_values=True) if key.lower() == "sig"]
    return tuple(s for s in {*raw, *decoded, *(unquote(r) for r in raw)} if s)


def shown(link: str) -> str:
    """The link as a message may show it: scheme, host and path, never the signed query."""
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def stream_file(
    session: PinnedSession,
    link: str,
    sink: Callable[[bytes], Any],
    *,
    file_format: str | None,
    doing: str,
) -> Streamed:
    """GET ``link`` without credentials and feed the decoded file to ``sink``.

    Raises ``LinkRefused`` on a 403 before anything was written, ``ReportFileError``
    for any other refusal or a file cut short, and lets ``OSError`` (the network,
    after the session's retries) through for the caller to word.
    """
    url = link
    for _ in range(_MAX_REDIRECTS + 1):
        if urlsplit(url).scheme.lower() != "https":
            raise ReportFileError(f"Could not {doing}: the file link {shown(url)} is not https; not followed")
        response = session.get(url, auth=NoAuth(), stream=True, allow_redirects=False)
        if not response.is_redirect:
            break
        url = urljoin(url, response.headers.get("Location", ""))
        response.close()
    else:
        raise ReportFileError(f"Could not {doing}: the file host redirected more than {_MAX_REDIRECTS} times")
    secrets = link_secrets(link) + link_secrets(url)
    try:
        if response.status_code == 403:
            raise LinkRefused(_storage_error(response, secrets))
        if response.status_code != 200:
            raise ReportFileError(
                f"Could not {doing}: the file host answered HTTP {response.status_code} for {shown(url)} "
                f"({_storage_error(response, secrets)})",
                status_code=response.status_code,
            )
        return _copy(response, sink, file_format=file_format, doing=doing, where=shown(url), secrets=secrets)
    finally:
        response.close()


def _copy(
    response: requests.Response,
    sink: Callable[[bytes], Any],
    *,
    file_format: str | None,
    doing: str,
    where: str,
    secrets: tuple[str, ...],
) -> Streamed:
    decoder, rows, written = ReportFileDecoder(), RowCounter(file_format), 0

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
            f"({type(err).__name__}: {redact(str(err), secrets)})"
        ) from None
    rows.finish()
    return Streamed(bytes=written, rows=rows.rows, compressed=bool(decoder.compressed))


def _storage_error(response: requests.Response, secrets: tuple[str, ...]) -> str:
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
    return redact(said + (f"; x-ms-request-id {request_id}" if request_id else ""), secrets)
