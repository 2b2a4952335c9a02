"""Reading the service's answers: the envelope, record keys, paging, and the typed error an answer stands for.

Pure (standard library only): bytes, a status and headers in; an ``Envelope`` or a raised
``PartnerCenterInsightsError`` out. So every shape the service is known to send is tested
without a server, and the hook imports this at parse time for free. What is read, and how:

- Bytes as sent: a UTF-8 byte-order mark before the JSON is skipped, the declared charset honoured.
- Keys as Microsoft spells them: it documents PascalCase (``Value``, ``ReportStatus``) while its
  samples show camelCase, mix the two in one answer, and one has a key with a leading space. Callers
  get the documented (PascalCase) names, with the values as sent.
- Errors in the Insights shape (``statusCode``, ``message``), Partner Center's general one
  (``code``, ``description``), OData's, Entra's, or an HTTP 200 whose body carries a failing
  ``statusCode``: the service's words always go in ``api_message``.
- A 404 with JSON means "nothing matches" (an empty listing, or an unknown report); a 404 that is
  not JSON, or names a missing route, means the URL is wrong (host, program or api_version).
- Anything else (not JSON, cut short, not an object, no ``value`` where records are expected, a
  record without its id or status, a status the docs do not name) is an ``UnexpectedResponseError``.
- ``nextLink`` is followed on the API's own origin only, and a listing that loops fails loudly:
  returning what was read so far would pass a partial listing off as whole. A loop shows as a link
  to a page already read (perhaps spelled differently), or as records that came on an earlier page.

Every message names what was attempted, the HTTP status, the service's own message and the
``MS-RequestId`` to quote to Microsoft support, and passes through ``redact``: a misbehaving
service or proxy may echo the request's headers back, bearer token and all.
"""

from __future__ import annotations

import codecs
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit

from airflow_provider_pcinsights.exceptions import (
    AuthenticationError,
    BadRequestError,
    PagingLoopError,
    PartnerCenterInsightsError,
    PermissionDeniedError,
    ReportNotFoundError,
    ServiceUnavailableError,
    ThrottledError,
    UnexpectedResponseError,
    UnreadableStatusError,
    excerpt,
    redact,
)
from airflow_provider_pcinsights.waiting import EXECUTION_STATUSES, KNOWN_STATUSES

if TYPE_CHECKING:
    from airflow_provider_pcinsights.hooks.connection import InsightsSettings

_ENVELOPE_KEYS = frozenset({"value", "totalcount", "message", "statuscode", "nextlink", "dataredacted"})


# A 404 that names a missing route, not a missing item: ASP.NET's "No HTTP resource was found that
# matches the request URI", a gateway's "Resource not found".
_WRONG_ROUTE = re.compile(r"(?i)no http resource|resource not found|api version|no route|not a valid route")
_CHARSET = re.compile(r"(?i)charset\s*=\s*\"?([\w.:-]+)")
# What ``json.loads`` makes of anything but an object, as JSON calls it.
_JSON_TYPES = {
    list: "array",
    str: "string",
    bool: "true/false",
    int: "number",
    float: "number",
    type(None): "null",
}

# Which field names a record and which its status, and the statuses the docs name, by record kind.
RECORD_KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "report": ("ReportId", "ReportStatus", KNOWN_STATUSES),
    "execution": ("ExecutionId", "ExecutionStatus", EXECUTION_STATUSES),
}


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, as received: the final one, after the transport's retries."""

    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    url: str
    request_id: str


@dataclass(frozen=True)
class Call:
    """What was asked, and so what the answer must hold.

    :param action: what was attempted, for messages: ``"pause report X"``.
    :param record: ``"report"`` or ``"execution"``: every record must carry that kind's
        id and a status the docs name.
    :param report_id: the report the call is about; a 404 then means it is unknown.
    :param records_required: the answer must carry ``value`` (a listing), rather than
        maybe (pause and resume, read back when the answer has no record).
    :param nothing_matches_is_empty: a 404 with JSON is an empty listing, not an error.
    :param only_ids: when set (folded ids), only those records must carry a status the docs
        name: a listing of the whole account read for a few reports is not failed by a
        record of another report. Every record must still name itself.
    """

    action: str
    record: str
    report_id: str | None = None
    records_required: bool = True
    nothing_matches_is_empty: bool = False
    only_ids: frozenset[str] | None = None


# ---------------------------------------------------------------------------------- the envelope


@dataclass(frozen=True)
class Envelope:
    """One parsed answer: the records plus what the service said about them."""

    records: list[dict[str, Any]]
    total_count: int | None = None
    status_code: int | None = None
    next_link: str | None = None
    has_value: bool = True  # whether the answer carried a ``value`` key at all


class NotAnEnvelope(ValueError):
    """The JSON body is not the documented envelope; the caller names the HTTP details."""


def normalize_key(key: str) -> str:
    """The documented name for ``key``: camelCase and PascalCase differ only in the first letter."""
    stripped = key.strip()
    return stripped[:1].upper() + stripped[1:]


def _lower_keys(body: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key).strip().lower(): value for key, value in body.items()}


def _folded(body: Mapping[str, Any], name_of: Any, what: str) -> dict[str, Any]:
    """``body`` under the names ``name_of`` gives; ``NotAnEnvelope`` if two spellings of one name
    disagree (``reportStatus`` and ``ReportStatus`` with different values: picking one is a guess)."""
    folded: dict[str, Any] = {}
    spelt: dict[str, str] = {}
    for key, value in body.items():
        name = name_of(str(key))
        if name in folded and folded[name] != value:
            raise NotAnEnvelope(
                f"{what} gives {name} twice, as {spelt[name]!r} and {str(key)!r}, with different values"
            )
        folded[name], spelt[name] = value, str(key)
    return folded


def parse_envelope(body: Any) -> Envelope:
    """Read the envelope from a decoded JSON body; raise ``NotAnEnvelope`` if it is something else."""
    if not isinstance(body, Mapping) or not _ENVELOPE_KEYS & _lower_keys(body).keys():
        raise NotAnEnvelope("the JSON body has none of value, totalCount, message, statusCode, nextLink")
    fields = _folded(body, lambda key: key.strip().lower(), "the envelope")
    value = fields.get("value")
    items = [] if value is None else [value] if isinstance(value, Mapping) else value
    if isinstance(items, list) and all(isinstance(item, Mapping) for item in items):
        records = [_folded(item, normalize_key, "a record") for item in items]
    else:
        raise NotAnEnvelope(f"value is a {type(value).__name__}, not a list of records")
    next_link = fields.get("nextlink")
    status_code = _as_int(fields.get("statuscode"))
    if status_code is None and fields.get("statuscode") not in (None, ""):
        # It decides whether an HTTP 200 is a failure: one that cannot be read cannot be ignored.
        raise NotAnEnvelope("statusCode is not a whole number, so whether the call failed cannot be told")
    return Envelope(
        records=records,
        total_count=_as_int(fields.get("totalcount")),
        status_code=status_code,
        next_link=str(next_link).strip() or None if next_link else None,
        has_value="value" in fields,
    )


def service_error(body: Any) -> tuple[str | None, str | None]:
    """``(text, code)`` of an error body in any shape the service or Entra uses.

    The Insights envelope says ``message``; Partner Center's general shape says
    ``description`` with a ``code`` (``{"code": 2000, "description": "Account Id
    has to be set.", "data": [], "source": "PartnerFD"}``); OData nests
    ``{"error": {"code", "message"}}``; Entra says ``error_description``.
    """
    if not isinstance(body, Mapping):
        return None, None
    fields = _lower_keys(body)
    code = fields.get("code")
    for key in ("message", "description", "error_description", "errormessage", "error"):
        value = fields.get(key)
        if isinstance(value, Mapping):  # {"error": {"code": ..., "message": ...}}
            nested = _lower_keys(value)
            value, code = nested.get("message"), nested.get("code", code)
        if value not in (None, "") and not isinstance(value, (Mapping, list)):
            return str(value), (str(code) if code not in (None, "") else None)
    return None, None


def _as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400 reads as an infinite float
        return None


def wants_new_token(answer: Answer) -> bool:
    """A 401 a fresh token may mend; not one asking for multi-factor sign-in, which a new token lacks too."""
    return answer.status == 401 and not asks_for_mfa(service_error(_read_json(answer)[1])[0])


def read_answer(answer: Answer, call: Call, settings: InsightsSettings, secrets: tuple[str, ...]) -> Envelope:
    """The envelope of a successful answer; raise the typed error of anything else.

    ``settings`` say who asked (program, sign-in, client and tenant), for the advice a refusal
    comes with; ``secrets`` (the connection's and the token) never show in a message.
    """
    text, body, problem = _read_json(answer)
    quoted = redact(excerpt(text), secrets) if text else ""

    def unexpected(what: str, shown: str = quoted) -> UnexpectedResponseError:
        return UnexpectedResponseError(
            f"Could not {call.action}: HTTP {answer.status} with {what}"
            f"{f': {shown!r}' if shown else ''}; MS-RequestId {answer.request_id}",
            status_code=answer.status,
            report_id=call.report_id,
        )

    if answer.status >= 400:
        return _failure(answer.status, answer, call, settings, secrets, None if problem else body, quoted)
    if 300 <= answer.status < 400:
        where = redact(origin(answer.headers.get("location")) or "the same host", secrets)
        raise unexpected(
            f"a redirect to {where}, which is not followed: the service does not redirect, and the "
            "access token goes to the API's host only. Check the connection's host",
            shown="",
        )
    if problem is not None:
        if text is None or not text.strip():
            if not call.records_required:
                return Envelope(records=[], total_count=0)  # an action answered without a body
            problem = "an empty body"
        raise unexpected(f"a body that is not JSON ({problem})")
    if not isinstance(body, Mapping):
        raise unexpected(f"JSON {_JSON_TYPES[type(body)]} where the Insights envelope (an object) belongs")
    try:
        envelope = parse_envelope(body)
    except NotAnEnvelope as err:
        raise unexpected(f"JSON that is not the Insights envelope ({err})") from None
    if envelope.status_code is not None and envelope.status_code >= 400:  # an error inside an HTTP 2xx
        return _failure(envelope.status_code, answer, call, settings, secrets, body, quoted)
    if call.records_required and not envelope.has_value:
        raise unexpected("an envelope without value, where records were expected")
    _check_records(envelope, answer, call, secrets)
    return envelope


def _check_records(envelope: Envelope, answer: Answer, call: Call, secrets: tuple[str, ...]) -> None:
    """Every record names itself and carries a status the docs name; anything else cannot be acted on."""
    id_field, status_field, statuses = RECORD_KINDS[call.record]
    folded = {status.casefold() for status in statuses}
    for record in envelope.records:
        record_id = record.get(id_field)
        status = record.get(status_field)
        where = f"MS-RequestId {answer.request_id}"
        if not isinstance(record_id, str) or not record_id:
            keys = ", ".join(sorted(record)) or "none"
            raise UnexpectedResponseError(
                f"Could not {call.action}: the service answered a {call.record} without {id_field} "
                f"(its keys: {redact(keys, secrets)}; {where})",
                status_code=answer.status,
                report_id=call.report_id,
            )
        if call.only_ids is not None and record_id.casefold() not in call.only_ids:
            continue
        if isinstance(status, str) and status.strip().casefold() in folded:
            continue
        wrong = (
            f"without a {status_field}"
            if status is None
            else f"with {status_field} {redact(repr(status), secrets)}, which the docs do not name (known: "
            f"{', '.join(statuses)}); refusing to guess what it means"
        )
        raise UnreadableStatusError(
            f"Could not {call.action}: the service answered {call.record} {redact(record_id, secrets)} "
            f"{wrong} ({where})",
            status_code=answer.status,
            report_id=call.report_id or record_id,
        )


# ---------------------------------------------------------------------------------- bytes


def _read_json(answer: Answer) -> tuple[str | None, Any, str | None]:
    """``(text, JSON, problem)``: the body as text without a byte-order mark, the JSON it holds, and
    what kept it from being read (``None`` when nothing did)."""
    if not answer.body:
        return None, None, "an empty body"
    declared = _CHARSET.search(answer.headers.get("content-type", ""))
    encoding = declared.group(1).lower() if declared else "utf-8"
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        codec = "utf-8"
    if codec == "utf-8":
        codec = "utf-8-sig"  # the same, but a BOM in front is skipped rather than kept as text
    try:
        text = answer.body.decode(codec)
    except UnicodeDecodeError as err:
        return answer.body.decode(codec, errors="replace"), None, f"not valid {encoding}: {err.reason}"
    try:
        return text, json.loads(text), None
    except RecursionError:  # arrays or objects nested past the parser's depth: no envelope is that deep
        return text, None, "JSON nested too deeply to read"
    except json.JSONDecodeError as err:
        if err.msg.startswith("Unterminated") or err.pos >= len(text.rstrip()):
            return text, None, "it ends in the middle: the answer was cut short"
        return text, None, err.msg
    except ValueError as err:  # valid JSON Python will not read, e.g. an integer past its digit limit
        return text, None, str(err)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds, for a message and ``ThrottledError.retry_after``; ``None`` if
    absent or a date (the retries themselves read both forms: ``http.BoundedRetry``)."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------------- status -> typed error


ROLE_HINTS = {
    "cmp": "the Entra app must be added to the Partner Center account with the Manager role",
    "mpn": "the signed-in user needs the Executive Report Viewer role in Partner Center",
}
APP_PLUS_USER_HINT = (
    "set the connection's auth_type to refresh_token, with the refresh token of a user who passed "
    "multi-factor sign-in (interactive or device code: python -m airflow_provider_pcinsights.signin)"
)
_MFA = re.compile(r"(?i)\bMFA\b|multi-?factor|\(10001\)")


def asks_for_mfa(api_message: str | None) -> bool:
    """Whether the service says the token lacks multi-factor sign-in (``MFA required. (10001)``)."""
    return bool(api_message and _MFA.search(api_message))


def _failure(
    status: int,
    answer: Answer,
    call: Call,
    settings: InsightsSettings,
    secrets: tuple[str, ...],
    body: Any,
    quoted: str,
) -> Envelope:
    """A failed answer: the typed error, worded with what was attempted (``call.action``) and the
    service's words (its message, or for a body that is not JSON, ``quoted``: a piece of it); or an
    empty listing for a 404 that means "nothing matches".

    A 404 that names a missing route (``_WRONG_ROUTE``) means the URL is wrong, not the id.
    """
    api_message, code = service_error(body)
    api_message = redact(api_message, secrets) if api_message else None
    wrong_route = bool(api_message and _WRONG_ROUTE.search(api_message))
    if status == 404 and body is not None and not wrong_route and call.nothing_matches_is_empty:
        return Envelope(records=[], total_count=0)  # nothing matches: no records, no next page
    body_excerpt = None if body is not None else quoted
    said = [f"HTTP {status}"]
    if api_message:
        said.append(
            f"service said: {api_message}{f' (code {code})' if code and code not in api_message else ''}"
        )
    elif body_excerpt:
        said.append(f"body: {body_excerpt!r}")
    detail = f" ({'; '.join(said)}; MS-RequestId {answer.request_id})"
    program = settings.program

    def error(
        kind: type[PartnerCenterInsightsError], message: str, **more: Any
    ) -> PartnerCenterInsightsError:
        return kind(
            f"Could not {call.action}: {message}",
            status_code=status,
            api_message=api_message or body_excerpt or None,
            report_id=call.report_id,
            **more,
        )

    if status == 404 and body is None:
        raise error(
            UnexpectedResponseError,
            f"{answer.url.split('?', 1)[0]} answered HTTP 404 with a body that is not JSON ({quoted!r}; "
            f"MS-RequestId {answer.request_id}). Check the connection's host, program and api_version",
        )
    if status == 404 and call.report_id and not wrong_route:
        raise error(ReportNotFoundError, f"report {call.report_id} is unknown to this account{detail}")
    if status == 404:
        raise error(
            BadRequestError, f"not found{detail}. Check the connection's host, program and api_version"
        )
    if status == 401 and asks_for_mfa(api_message):
        raise error(
            AuthenticationError,
            f"Partner Center requires multi-factor authentication for this call{detail}. It needs an "
            f"App+User token from a sign-in that passed MFA: {APP_PLUS_USER_HINT}",
        )
    if status in (401, 403) and program == "mpn" and settings.auth_type == "client_credentials":
        raise error(
            AuthenticationError if status == 401 else PermissionDeniedError,
            f"Partner Center refused the app-only token{detail}. The mpn program (Partner Center "
            f"insights) needs App+User sign-in: {APP_PLUS_USER_HINT}. Commercial marketplace analytics "
            "(program cmp) take app-only tokens",
        )
    if status == 401:
        raise error(
            AuthenticationError,
            f"Partner Center rejected the access token even after signing in again{detail}. Check the "
            f"tenant id ({settings.tenant_id}), the client id ({settings.client_id}), the client secret "
            "or certificate, and for App+User sign-in the refresh token",
        )
    if status == 403:
        hint = ROLE_HINTS.get(program, ROLE_HINTS["mpn"])
        raise error(
            PermissionDeniedError,
            f"permission denied{detail}. For the {program} program {hint} (client id {settings.client_id})",
        )
    if status == 429:
        retry_after = retry_after_seconds(answer.headers.get("retry-after"))
        wait = f"; the service asked to wait {retry_after:g} s" if retry_after is not None else ""
        raise error(
            ThrottledError, f"still throttled after every retry{detail}{wait}", retry_after=retry_after
        )
    if status >= 500:
        raise error(ServiceUnavailableError, f"Partner Center failed after every retry{detail}")
    raise error(BadRequestError, f"Partner Center refused the request{detail}")


# ---------------------------------------------------------------------------------- paging


_DEFAULT_PORTS = {"https": 443, "http": 80}


def origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of a URL, as two origins are compared: scheme and host in lower case,
    a default port left out. ``None`` when the URL names no host (a relative link)."""
    parts = urlsplit((url or "").strip())
    if not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # not a number: compared (and shown) as written
        return f"{scheme}://{parts.netloc.lower()}"
    shown_port = f":{port}" if port and port != _DEFAULT_PORTS.get(scheme) else ""
    return f"{scheme}://{parts.hostname.lower()}{shown_port}"


def with_query(url: str, params: Mapping[str, str] | None) -> str:
    """``url`` with ``params`` added to its query, as the request will carry it."""
    if not params:
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(list(params.items()))}"


def same_page_key(url: str) -> str:
    """One spelling for every URL that names the same page of this API.

    Scheme and host are case-insensitive and the default port implied; ASP.NET
    routes and query parameter names are case-insensitive, escapes mean what
    they escape, and the order of parameters carries nothing. Parameter values
    (continuation tokens) stay case-sensitive.
    """
    parts = urlsplit(url)
    path = unquote(parts.path).lower().rstrip("/")
    query = sorted((name.lower(), value) for name, value in parse_qsl(parts.query, keep_blank_values=True))
    return f"{origin(url)}{path}?{urlencode(query)}"


def follow_pages(
    read_page: Callable[[str, Mapping[str, str] | None], Envelope],
    url: str,
    params: Mapping[str, str] | None,
    *,
    base_url: str,
    action: str,
    max_pages: int,
    record: str,
    secrets: Iterable[str] = (),
) -> Iterator[tuple[Envelope, bool]]:
    """Each page of one listing (``read_page(url, params)``), with whether another follows.

    The next page is checked before this one is handed on, so a caller that stops early has seen
    only pages that led somewhere sound: ``nextLink`` on ``base_url``'s origin only, never back to
    a page already read (``same_page_key``), no record twice on a page or again on a later one
    (records are told apart by ``record``'s id field, which ``read_answer`` checked every record
    carries), and no more than
    ``max_pages`` pages (a runaway).
    """
    id_field = RECORD_KINDS[record][0]
    secrets = tuple(secrets)
    page_of_url: dict[str, int] = {}
    page_of_record: dict[str, int] = {}
    for read in itertools.count(1):
        envelope = read_page(url, params)
        page_of_url.setdefault(same_page_key(with_query(url, params)), read)
        named: dict[str, str] = {}
        for item in envelope.records:
            key = item[id_field].casefold()
            name = f"{id_field} {redact(item[id_field], secrets)}"
            if key in named:  # two records named alike: which one is true?
                raise PagingLoopError(
                    f"Could not {action}: page {read} holds {name} twice; the listing cannot be trusted"
                )
            named[key] = name
        for key, name in named.items():
            if key in page_of_record:
                raise PagingLoopError(
                    f"Could not {action}: page {read} repeats {name} from page {page_of_record[key]}; "
                    "the service's paging is looping, so the listing cannot be trusted"
                )
        page_of_record.update(dict.fromkeys(named, read))
        link = envelope.next_link
        if not link:
            yield envelope, False
            return
        # Absolute links stand alone; a relative one is read against the API root, where
        # the service's paths live, unless it is clearly relative to the host or the page.
        resolved = urljoin(url if link.startswith(("/", "?")) else base_url, link)
        if origin(resolved) != origin(base_url):
            raise UnexpectedResponseError(
                f"Could not {action}: nextLink points to {origin(resolved)}, not to {origin(base_url)}; "
                "refusing to send the access token to another host"
            )
        earlier = page_of_url.get(same_page_key(resolved))
        if earlier is not None:
            again = "the same page" if earlier == read else f"page {earlier}"
            raise PagingLoopError(
                f"Could not {action}: the nextLink of page {read} leads back to {again} "
                f"({redact(link, secrets)}); the service's paging is looping, so the listing "
                "cannot be trusted"
            )
        if read >= max_pages:
            raise UnexpectedResponseError(
                f"Could not {action}: the service kept returning nextLink after {max_pages} pages; "
                "refusing to follow more (raise max_pages if this listing is really that long)"
            )
        yield envelope, True
        url, params = resolved, None
