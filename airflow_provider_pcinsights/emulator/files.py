"""The emulator's file host: report files behind expiring links, as Azure Blob storage serves them.

Completed executions point at a file on a **second host name** of the emulator
(``localhost`` beside the API's ``127.0.0.1``: the same server and certificate,
another origin), so a client that sent its bearer token there would be sending
it to another host. Each answer of the executions call mints a fresh link, a
shared-access-signature (SAS) URL valid for ``RunTimes.link_seconds`` on the
emulator's clock. The host answers as Blob storage does:

- an expired link: 403 ``AuthenticationFailed`` ("Signature not valid in the
  specified time frame"), so a client must read the execution again for a new one;
- a forged or altered link: 403 ``AuthenticationFailed`` ("Signature did not match");
- no signature: 409 ``PublicAccessNotPermitted``; an unknown file: 404 ``BlobNotFound``;
- a request carrying an ``Authorization`` header: refused (400
  ``InvalidAuthenticationInfo``), so a token sent here cannot go unnoticed; the
  request log records, for every call, whether it carried one.

The file is gzip-compressed CSV or TSV, named ``.csv``/``.tsv`` all the same,
and starts with a UTF-8 byte-order mark (``file_compression`` and ``file_bom``
play the tidy alternatives). Its content is made from the report's query and the
execution id, the same every time; ``report_file`` gives it as a pipeline should
end up with it, with its number of data rows.
"""

from __future__ import annotations

import base64
import csv
import datetime
import email.utils
import gzip
import hashlib
import hmac
import io
import re
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from .behaviour import Behaviour
from .messages import Request, Response
from .runs import Clock, RunTimes
from .state import PROGRAMS, EmulatorState, format_time

CONTAINER = "insights-reports"
SAS_VERSION = "2021-08-06"
UTF8_BOM = b"\xef\xbb\xbf"
_PATH = re.compile(
    rf"^/{CONTAINER}/(?P<program>[^/]+)/(?P<report_id>[^/]+)/(?P<execution_id>[^/.]+)\.(?P<ext>\w+)$"
)
_AUTH_FAILED = (
    "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
    "correctly including the signature."
)
# Text values of the generated files: a comma, quotes and a line feed inside a field, as real data has.
_TEXTS = ("Contoso, Ltd.", 'Fabrikam "Premium"\nadd-on', "Northwind Traders", "Wide World Importers")


@dataclass(frozen=True)
class ReportFile:
    """A report file as a pipeline should end up with it: decompressed, without a byte-order mark."""

    content: bytes
    rows: int  # data rows, after the header
    file_format: str  # "CSV" or "TSV"


def report_file(report: dict[str, Any], execution_id: str) -> ReportFile:
    """The file of one execution of ``report``: the query's columns, a few rows, the same every time."""
    query = str(report.get("Query") or "SELECT Value FROM Dataset")
    columns = [c.strip() for c in query.split("SELECT", 1)[-1].split(" FROM")[0].split(",") if c.strip()]
    file_format = "TSV" if str(report.get("Format") or "CSV").upper() == "TSV" else "CSV"
    seed = int(hashlib.sha256(execution_id.encode()).hexdigest(), 16)
    count = 3 + seed % 5
    rows = []
    for row in range(count):
        values = []
        for index, column in enumerate(columns):
            cell = hashlib.sha256(f"{execution_id}:{row}:{index}".encode()).digest()
            if index == 0:
                values.append(str(uuid.UUID(bytes=cell[:16])))
            elif any(word in column for word in ("Name", "Market", "Status", "Country")):
                values.append(_TEXTS[(row + index) % len(_TEXTS)])
            else:
                values.append(str(cell[0] % 100))
        rows.append(values)
    text = io.StringIO()
    if file_format == "TSV":  # TSV has no quoting: tabs and line feeds inside a value become spaces
        for values in [columns, *rows]:
            text.write("\t".join(re.sub(r"[\t\r\n]+", " ", v) for v in values) + "\r\n")
    else:
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows(rows)
    return ReportFile(text.getvalue().encode("utf-8"), count, file_format)


class FileHost:
    """Serves the files of completed executions on ``host_name``, behind links it signs itself."""

    def __init__(
        self,
        state: EmulatorState,
        clock: Clock,
        times: RunTimes,
        behaviour: Behaviour,
        host_name: str = "localhost",
    ) -> None:
        self.state = state
        self.clock = clock
        self.times = times
        self.behaviour = behaviour
        self.host_name = host_name
        self._key = secrets.token_bytes(32)
        self._generation = 0  # links signed in an earlier generation are expired (``expire_links``)
        self._expired_on_arrival = 0  # how many of the next links to hand out already expired
        self._lock = threading.Lock()

    # -- links ---------------------------------------------------------------------------

    def base_url(self, api_base_url: str) -> str:
        """``https://<host_name>:<port>`` for the emulator whose API is at ``api_base_url``."""
        return f"https://{self.host_name}:{urlsplit(api_base_url).port}"

    def render(self, execution: dict[str, Any], program: str, api_base_url: str) -> dict[str, Any]:
        """The execution as answered now: a completed one with its location and a fresh link."""
        if execution.get("ExecutionStatus") != "Completed":
            return execution
        extension = "tsv" if str(execution.get("Format") or "").upper() == "TSV" else "csv"
        path = f"/{CONTAINER}/{program}/{execution['ReportId']}/{execution['ExecutionId']}.{extension}"
        location = f"{self.base_url(api_base_url)}{path}"
        now = self.clock.now().replace(microsecond=0)
        lifetime = datetime.timedelta(seconds=self.times.link_seconds)
        with self._lock:
            if self._expired_on_arrival:  # as if the client had sat on the link past its expiry
                self._expired_on_arrival -= 1
                now -= lifetime + datetime.timedelta(seconds=1)
            expiry = format_time(now + lifetime)
            signature = self._sign(self._generation, path, expiry)
        sas = {
            "sv": SAS_VERSION,
            "st": format_time(now),
            "se": expiry,
            "sr": "b",
            "sp": "r",
            "sig": signature,
        }
        return {
            **execution,
            "ReportLocation": location,
            "ReportAccessSecureLink": f"{location}?{urlencode(sas)}",
        }

    def expire_links(self) -> None:
        """Every link handed out so far is now expired; links minted from now on work."""
        with self._lock:
            self._generation += 1

    def expire_next_links(self, count: int = 1) -> None:
        """The next ``count`` links handed out are expired by the time they are used."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        with self._lock:
            self._expired_on_arrival += count

    def _sign(self, generation: int, path: str, expiry: str) -> str:
        digest = hmac.new(self._key, f"{generation}\n{path}\n{expiry}".encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    # -- serving -------------------------------------------------------------------------

    def serves(self, request: Request) -> bool:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]").lower()
        return host == self.host_name.lower() and request.path.startswith(f"/{CONTAINER}/")

    def log_fields(self, request: Request) -> dict[str, Any]:
        """What the request log keeps of a call to this host, faulted or not: never the signature."""
        fields: dict[str, Any] = {
            "kind": "file",
            "authorization": "authorization" in request.headers,
            "query": {k: ("***" if k.lower() == "sig" else v) for k, v in request.flat_query().items()},
        }
        match = _PATH.match(request.path)
        if match:
            fields.update(
                program=match["program"], report_id=match["report_id"], execution_id=match["execution_id"]
            )
        return fields

    def handle(self, request: Request) -> Response:
        return self._answer(request, _PATH.match(request.path))

    def _answer(self, request: Request, match: re.Match[str] | None) -> Response:
        if request.method != "GET":
            return _error(405, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.")
        if "authorization" in request.headers:
            return _error(
                400,
                "InvalidAuthenticationInfo",
                "Authentication information is not given in the correct format. Check the value of "
                "Authorization header.",
            )
        if not match or match["program"] not in PROGRAMS:
            return _error(404, "ResourceNotFound", "The specified resource does not exist.")
        program, report_id, execution_id = match["program"], match["report_id"], match["execution_id"]
        execution = self.state.find_execution(program, report_id, execution_id)
        report = self.state.find_report(program, report_id)
        if execution is None or report is None or execution["ExecutionStatus"] != "Completed":
            return _error(404, "BlobNotFound", "The specified blob does not exist.")
        signature, expiry = request.param("sig"), request.param("se")
        if not signature or not expiry:
            return _error(
                409, "PublicAccessNotPermitted", "Public access is not permitted on this storage account."
            )
        refusal = self._check_link(request.path, signature, expiry, request.param("st") or expiry)
        if refusal is not None:
            return refusal
        file = report_file(report, execution_id)
        body = (UTF8_BOM if self.behaviour.file_bom == "on" else b"") + file.content
        if self.behaviour.file_compression == "gzip":
            body = gzip.compress(body, mtime=0)
        return Response(
            200,
            body,
            content_type="application/octet-stream",
            headers={
                "x-ms-blob-type": "BlockBlob",
                "x-ms-version": SAS_VERSION,
                "ETag": f'"0x{execution_id[:8]}"',
            },
        )

    def _check_link(self, path: str, signature: str, expiry: str, start: str) -> Response | None:
        with self._lock:
            generation = self._generation
        current = hmac.compare_digest(signature, self._sign(generation, path, expiry))
        earlier = any(hmac.compare_digest(signature, self._sign(g, path, expiry)) for g in range(generation))
        if not current and not earlier:
            return _error(
                403,
                "AuthenticationFailed",
                _AUTH_FAILED,
                "Signature did not match. String to sign used was r",
            )
        now = self.clock.now()
        try:
            expires = datetime.datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc
            )
        except ValueError:
            expires = now
        if earlier or now >= expires:
            return _error(
                403,
                "AuthenticationFailed",
                _AUTH_FAILED,
                f"Signature not valid in the specified time frame: Start [{_http_date(start)}] - "
                f"Expiry [{_http_date(expiry)}] - Current [{email.utils.format_datetime(now, usegmt=True)}]",
            )
        return None


def _http_date(value: str) -> str:
    try:
        moment = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return value
    return email.utils.format_datetime(moment, usegmt=True)


def _error(status: int, code: str, message: str, detail: str | None = None) -> Response:
    """An error as Blob storage words it: XML, with the code in ``x-ms-error-code`` too."""
    request_id = str(uuid.uuid4())
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    extra = f"<AuthenticationErrorDetail>{detail}</AuthenticationErrorDetail>" if detail else ""
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
        f"<Message>{message}\nRequestId:{request_id}\nTime:{now}</Message>{extra}</Error>"
    )
    return Response(
        status,
        body.encode("utf-8"),
        content_type="application/xml",
        headers={"x-ms-error-code": code, "x-ms-request-id": request_id},
    )
