"""The response envelope and record keys, read whatever casing the service used.

Microsoft documents PascalCase (``Value``, ``ReportStatus``) while its samples
show camelCase (``value``, ``reportStatus``), mix the two in one answer (a
PascalCase envelope around camelCase records, camelCase records with one
PascalCase key), and one sample even has a key with a leading space. Callers
get one shape: the documented PascalCase names, with the values as sent.
Errors come in two shapes: the Insights one (``statusCode``, ``message``) and
Partner Center's general one (``code``, ``description``, ``data``, ``source``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Documented record fields of reports, executions, queries and datasets.
KNOWN_FIELDS = (
    "ReportId",
    "ReportName",
    "Description",
    "QueryId",
    "Query",
    "User",
    "CreatedTime",
    "ModifiedTime",
    "ExecuteNow",
    "StartTime",
    "EndTime",
    "ReportStatus",
    "RecurrenceInterval",
    "RecurrenceCount",
    "CallbackUrl",
    "CallbackMethod",
    "Format",
    "QueryStartTime",
    "QueryEndTime",
    "ExecutionId",
    "ExecutionStatus",
    "ReportLocation",
    "ReportAccessSecureLink",
    "ReportExpiryTime",
    "ReportGeneratedTime",
    "Name",
    "DatasetName",
)
_BY_LOWER = {name.lower(): name for name in KNOWN_FIELDS}
_ENVELOPE_KEYS = frozenset({"value", "totalcount", "message", "statuscode", "nextlink", "dataredacted"})


@dataclass(frozen=True)
class Envelope:
    """One parsed answer: the records plus what the service said about them."""

    records: list[dict[str, Any]]
    total_count: int | None
    message: str | None
    status_code: int | None
    next_link: str | None
    has_value: bool = True  # whether the answer carried a ``value`` key at all


class NotAnEnvelope(ValueError):
    """The JSON body is not the documented envelope; the caller names the HTTP details."""


def normalize_key(key: str) -> str:
    """The documented name for ``key``; unknown keys only get their first letter upper-cased."""
    stripped = key.strip()
    known = _BY_LOWER.get(stripped.lower())
    if known:
        return known
    return stripped[:1].upper() + stripped[1:]


def normalize_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The record under the documented names; ``NotAnEnvelope`` if two spellings of one name disagree.

    ``reportStatus`` and ``ReportStatus`` in one record with different values leave no way to
    tell which is meant; picking one would act on a guess.
    """
    return _folded(raw, normalize_key, "a record")


def _lower_keys(body: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key).strip().lower(): value for key, value in body.items()}


def _folded(body: Mapping[str, Any], name_of: Any, what: str) -> dict[str, Any]:
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


def looks_like_envelope(body: Any) -> bool:
    """Whether a JSON body is the envelope at all (an error answer carries one too)."""
    return isinstance(body, Mapping) and bool(_ENVELOPE_KEYS & _lower_keys(body).keys())


def parse_envelope(body: Any) -> Envelope:
    """Read the envelope from a decoded JSON body; raise ``NotAnEnvelope`` if it is something else."""
    if not looks_like_envelope(body):
        raise NotAnEnvelope("the JSON body has none of value, totalCount, message, statusCode, nextLink")
    fields = _folded(body, lambda key: key.strip().lower(), "the envelope")
    value = fields.get("value")
    has_value = "value" in fields
    if value is None:
        records: list[dict[str, Any]] = []
    elif isinstance(value, Mapping):
        records = [normalize_record(value)]
    elif isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
        records = [normalize_record(item) for item in value]
    else:
        raise NotAnEnvelope(f"value is a {type(value).__name__}, not a list of records")
    message = fields.get("message")
    next_link = fields.get("nextlink")
    status_code = _as_int(fields.get("statuscode"))
    if status_code is None and fields.get("statuscode") not in (None, ""):
        # It decides whether an HTTP 200 is a failure: one that cannot be read cannot be ignored.
        raise NotAnEnvelope("statusCode is not a whole number, so whether the call failed cannot be told")
    return Envelope(
        records=records,
        total_count=_as_int(fields.get("totalcount")),
        message=str(message) if message not in (None, "") else None,
        status_code=status_code,
        next_link=str(next_link).strip() or None if next_link else None,
        has_value=has_value,
    )


def empty_envelope() -> Envelope:
    """What an answer that says "nothing matches" holds: no records, no next page."""
    return Envelope(records=[], total_count=0, message=None, status_code=None, next_link=None)


def error_message(body: Any) -> str | None:
    """The service's message from an error body, whatever its casing; ``None`` if there is none."""
    return service_error(body)[0]


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
