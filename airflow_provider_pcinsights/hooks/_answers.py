"""From one HTTP answer to the records it carries, or the typed error it stands for.

Pure: bytes, a status and headers in; an ``Envelope`` or a raised
``PartnerCenterInsightsError`` out. No I/O and no ``requests``, so every shape
the service is known to send can be tested here without a server, and the hook
only has to say what it asked (``Call``) and who asked (``Caller``).

What is read, and how:

- Bytes as sent: a UTF-8 byte-order mark before the JSON is skipped, the
  declared charset honoured.
- Keys in any case, records normalized to the documented names (``_envelope``).
- Errors in the Insights shape (``statusCode``, ``message``), Partner Center's
  general one (``code``, ``description``), or an HTTP 200 whose body carries a
  failing ``statusCode``: the service's words always go in ``api_message``.
- A 404 with JSON means "nothing matches" (an empty listing, or an unknown
  report); a 404 that is not JSON, or names a missing route, means the URL is
  wrong (the connection's host, program or api_version).
- Anything else (not JSON, cut short, not an object, no ``value`` where records
  are expected, a record without its id or status, a status the docs do not
  name) is an ``UnexpectedResponseError`` or one of its subclasses.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_pcinsights.exceptions import (
    PartnerCenterInsightsError,
    UnexpectedResponseError,
    UnreadableStatusError,
)
from airflow_provider_pcinsights.hooks._envelope import (
    Envelope,
    NotAnEnvelope,
    empty_envelope,
    parse_envelope,
    service_error,
)
from airflow_provider_pcinsights.hooks._errors import asks_for_mfa, error_for_status, excerpt, redact
from airflow_provider_pcinsights.waiting import EXECUTION_STATUSES, KNOWN_STATUSES

# A 404 that names a missing route, not a missing item: ASP.NET's "No HTTP resource was found that
# matches the request URI", a gateway's "Resource not found".
_WRONG_ROUTE = re.compile(r"(?i)no http resource|resource not found|api version|no route|not a valid route")
_CHARSET = re.compile(r"(?i)charset\s*=\s*\"?([\w.:-]+)")

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

    @property
    def where(self) -> str:
        """The URL without its query, for messages."""
        return self.url.split("?", 1)[0]


@dataclass(frozen=True)
class Caller:
    """Who asked: what error messages name, and which secrets they must never show."""

    program: str
    auth_type: str
    client_id: str
    tenant_id: str
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Call:
    """What was asked, and so what the answer must hold.

    :param action: what was attempted, for messages: ``"pause report X"``.
    :param report_id: the report the call is about; a 404 then means it is unknown.
    :param record: ``"report"`` or ``"execution"``: every record must carry that kind's
        id and a status the docs name. ``None`` checks nothing of the records.
    :param records_required: the answer must carry ``value`` (a listing), rather than
        maybe (pause and resume, read back when the answer has no record).
    :param nothing_matches_is_empty: a 404 with JSON is an empty listing, not an error.
    :param only_ids: when set (folded ids), only those records must carry a status the docs
        name: a listing of the whole account read for a few reports is not failed by a
        record of another report. Every record must still name itself.
    """

    action: str
    report_id: str | None = None
    record: str | None = None
    records_required: bool = True
    nothing_matches_is_empty: bool = False
    only_ids: frozenset[str] | None = None


def wants_new_token(answer: Answer) -> bool:
    """A 401 a fresh token may mend; not one asking for multi-factor sign-in, which a new token lacks too."""
    if answer.status != 401:
        return False
    text, _ = service_error(_json_or_none(answer))
    return not asks_for_mfa(text)


def read_answer(answer: Answer, call: Call, caller: Caller) -> Envelope:
    """The envelope of a successful answer; raise the typed error of anything else."""
    text, decode_problem = _decode(answer)
    body, parse_problem = _parse(text)
    problem = decode_problem or parse_problem

    if answer.status >= 400:
        return _failure(answer, call, caller, body if problem is None else None, text)
    if 300 <= answer.status < 400:
        raise _unexpected(answer, call, caller, _redirect(answer, caller), None)
    if problem is not None:
        if text is None or not text.strip():
            if not call.records_required:
                return empty_envelope()
            problem = "an empty body"
        raise _unexpected(answer, call, caller, f"a body that is not JSON ({problem})", text)
    if not isinstance(body, Mapping):
        raise _unexpected(
            answer,
            call,
            caller,
            f"JSON {_json_type(body)} where the Insights envelope (an object) belongs",
            text,
        )
    try:
        envelope = parse_envelope(body)
    except NotAnEnvelope as err:
        raise _unexpected(
            answer, call, caller, f"JSON that is not the Insights envelope ({err})", text
        ) from None
    if envelope.status_code is not None and envelope.status_code >= 400:  # an error inside an HTTP 2xx
        return _failure(answer, call, caller, body, text, status=envelope.status_code)
    if call.records_required and not envelope.has_value:
        raise _unexpected(
            answer, call, caller, "an envelope without value, where records were expected", text
        )
    if call.record is not None:
        _check_records(envelope, answer, call, caller)
    return envelope


# ---------------------------------------------------------------------------------- failures


def _failure(
    answer: Answer,
    call: Call,
    caller: Caller,
    body: Any,
    text: str | None,
    *,
    status: int | None = None,
) -> Envelope:
    """An error answer: the typed error with the service's words, or an empty listing for a 404."""
    status = status or answer.status
    api_message, code = service_error(body)
    if status == 404:
        if body is None:
            raise UnexpectedResponseError(
                f"Could not {call.action}: {answer.where} answered HTTP 404 with a body that is not JSON "
                f"({_quote(text, caller)!r}; MS-RequestId {answer.request_id}). Check the connection's "
                "host, program and api_version",
                status_code=404,
                api_message=_quote(text, caller) or None,
                report_id=call.report_id,
            )
        wrong_route = bool(api_message and _WRONG_ROUTE.search(api_message))
        if not wrong_route and call.nothing_matches_is_empty:
            return empty_envelope()
        raise _status_error(
            answer, call, caller, 404, api_message, code, report_id=None if wrong_route else call.report_id
        )
    raise _status_error(
        answer,
        call,
        caller,
        status,
        api_message,
        code,
        report_id=call.report_id,
        body_excerpt=None if body is not None else _quote(text, caller),
    )


def _status_error(
    answer: Answer,
    call: Call,
    caller: Caller,
    status: int,
    api_message: str | None,
    code: str | None,
    *,
    report_id: str | None,
    body_excerpt: str | None = None,
) -> PartnerCenterInsightsError:
    error = error_for_status(
        status,
        action=call.action,
        api_message=api_message,
        request_id=answer.request_id,
        report_id=report_id,
        program=caller.program,
        client_id=caller.client_id,
        tenant_id=caller.tenant_id,
        auth_type=caller.auth_type,
        retry_after=_retry_after(answer) if status == 429 else None,
        body_excerpt=body_excerpt,
        service_code=code,
        secrets=caller.secrets,
    )
    if error.report_id is None:
        error.report_id = call.report_id
    return error


def _unexpected(
    answer: Answer, call: Call, caller: Caller, what: str, text: str | None
) -> UnexpectedResponseError:
    quoted = _quote(text, caller)
    return UnexpectedResponseError(
        f"Could not {call.action}: HTTP {answer.status} with {what}"
        f"{f': {quoted!r}' if quoted else ''}; MS-RequestId {answer.request_id}",
        status_code=answer.status,
        report_id=call.report_id,
    )


def _check_records(envelope: Envelope, answer: Answer, call: Call, caller: Caller) -> None:
    """Every record names itself and carries a status the docs name; anything else cannot be acted on."""
    id_field, status_field, statuses = RECORD_KINDS[call.record or ""]
    folded = {status.casefold() for status in statuses}
    for record in envelope.records:
        record_id = record.get(id_field)
        status = record.get(status_field)
        where = f"MS-RequestId {answer.request_id}"
        if not isinstance(record_id, str) or not record_id:
            keys = ", ".join(sorted(record)) or "none"
            raise UnexpectedResponseError(
                f"Could not {call.action}: the service answered a {call.record} without {id_field} "
                f"(its keys: {redact(keys, caller.secrets)}; {where})",
                status_code=answer.status,
                report_id=call.report_id,
            )
        if call.only_ids is not None and record_id.casefold() not in call.only_ids:
            continue
        named = redact(record_id, caller.secrets)
        if status is None:
            raise UnreadableStatusError(
                f"Could not {call.action}: the service answered {call.record} {named} without a "
                f"{status_field} ({where})",
                status_code=answer.status,
                report_id=call.report_id or record_id,
            )
        if not isinstance(status, str) or status.strip().casefold() not in folded:
            raise UnreadableStatusError(
                f"Could not {call.action}: the service answered {call.record} {named} with {status_field} "
                f"{redact(repr(status), caller.secrets)}, which the docs do not name (known: "
                f"{', '.join(statuses)}); refusing to guess what it means ({where})",
                status_code=answer.status,
                report_id=call.report_id or record_id,
            )


# ---------------------------------------------------------------------------------- bytes


def _decode(answer: Answer) -> tuple[str | None, str | None]:
    """The body as text, without a byte-order mark; ``(text, problem)``."""
    if not answer.body:
        return None, "an empty body"
    declared = _CHARSET.search(answer.headers.get("content-type", ""))
    encoding = declared.group(1).lower() if declared else "utf-8"
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        codec = "utf-8"
    if codec == "utf-8":
        codec = "utf-8-sig"  # the same, but a BOM in front is skipped rather than kept as text
    try:
        return answer.body.decode(codec), None
    except UnicodeDecodeError as err:
        return answer.body.decode(codec, errors="replace"), f"not valid {encoding}: {err.reason}"


def _parse(text: str | None) -> tuple[Any, str | None]:
    if text is None:
        return None, "an empty body"
    try:
        return json.loads(text), None
    except RecursionError:  # arrays or objects nested past the parser's depth: no envelope is that deep
        return None, "JSON nested too deeply to read"
    except ValueError as err:
        position = getattr(err, "pos", None)
        message = str(getattr(err, "msg", ""))
        if message.startswith("Unterminated") or (position is not None and position >= len(text.rstrip())):
            return None, "it ends in the middle: the answer was cut short"
        return None, str(getattr(err, "msg", err))


def _json_or_none(answer: Answer) -> Any:
    text, _ = _decode(answer)
    return _parse(text)[0]


def _redirect(answer: Answer, caller: Caller) -> str:
    """What a 3xx said, for the message: where it pointed (scheme and host only), and why not followed."""
    target = urlsplit(answer.headers.get("location", "").strip())
    where = f"{target.scheme}://{target.netloc}" if target.netloc else "the same host"
    return (
        f"a redirect to {redact(where, caller.secrets)}, which is not followed: the service does not "
        "redirect, and the access token goes to the API's host only. Check the connection's host"
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "array", str: "string", bool: "true/false", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def _quote(text: str | None, caller: Caller) -> str:
    return redact(excerpt(text), caller.secrets) if text else ""


def _retry_after(answer: Answer) -> float | None:
    try:
        return float(answer.headers.get("retry-after", ""))
    except ValueError:
        return None
