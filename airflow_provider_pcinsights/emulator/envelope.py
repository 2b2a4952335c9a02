"""What the emulated service puts on the wire: envelopes, records and errors, shaped by ``Behaviour``.

The store keeps records under their documented names and values; this module
renders them the way the real service is seen to send them. With the default
``key_case = "mixed"``:

- cmp: a PascalCase envelope (``Value``, ``TotalCount``...) around camelCase
  records, without ``nextLink`` (unless there is a next page) or ``dataRedacted``;
- mpn: a camelCase envelope with ``nextLink`` and ``dataRedacted``, around
  camelCase records with one PascalCase key (``CallbackMethod``).

Errors come in the Insights shape (``statusCode``, ``message``) or Partner
Center's general one (``code``, ``description``, ``data``, ``source``).
"""

from __future__ import annotations

import datetime
from typing import Any

from .behaviour import MIXED_PASCAL_FIELD, STRAY_SPACE_FIELD, Behaviour

# Front-door failures: answered in Partner Center's general shape when ``error_shape`` is "mixed".
_GENERAL_SHAPE_STATUSES = frozenset({401, 403})
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _pascal(key: str) -> str:
    return key[:1].upper() + key[1:]


def _camel(key: str) -> str:
    return key[:1].lower() + key[1:]


def _envelope_case(program: str, behaviour: Behaviour) -> str:
    if behaviour.key_case == "mixed":
        return "pascal" if program == "cmp" else "camel"
    return behaviour.key_case


def render_record(record: dict[str, Any], *, program: str, behaviour: Behaviour) -> dict[str, Any]:
    """One stored record (documented names) as the service sends it."""
    values = dict(record)
    if behaviour.null_times == "off":
        values = _with_times_filled(values)
    if isinstance(values.get("Format"), str):
        values["Format"] = values["Format"].lower() if behaviour.format_case == "lower" else values["Format"]
    rendered: dict[str, Any] = {}
    for key, value in values.items():
        if behaviour.key_case == "pascal" or (behaviour.key_case == "mixed" and _mixed_pascal(key, program)):
            name = _pascal(key)
        else:
            name = _camel(key)
        if behaviour.key_spacing == "stray_space" and key == STRAY_SPACE_FIELD:
            name = f" {key}"  # as the Microsoft sample spells it, whatever the other keys do
        rendered[name] = value
    return rendered


def _mixed_pascal(key: str, program: str) -> bool:
    return program == "mpn" and key == MIXED_PASCAL_FIELD


def _with_times_filled(record: dict[str, Any]) -> dict[str, Any]:
    """The tidy service: a never-modified report says its creation time; a finished run its expiry."""
    if "ModifiedTime" in record and record["ModifiedTime"] is None:
        record["ModifiedTime"] = record.get("CreatedTime")
    if record.get("ExecutionStatus") == "Completed" and record.get("ReportExpiryTime") is None:
        generated = record.get("ReportGeneratedTime")
        if isinstance(generated, str):
            moment = datetime.datetime.strptime(generated, _TIME_FORMAT) + datetime.timedelta(days=60)
            record["ReportExpiryTime"] = moment.strftime(_TIME_FORMAT)
    return record


def envelope(
    value: list[dict[str, Any]],
    *,
    program: str,
    behaviour: Behaviour,
    message: str = "",
    status_code: int = 200,
    total_count: int | None = None,
    next_link: str | None = None,
) -> dict[str, Any]:
    """The answer around stored records: rendered records in the envelope of ``program``."""
    records = [render_record(record, program=program, behaviour=behaviour) for record in value]
    fields: dict[str, Any] = {
        "value": records,
        "totalCount": len(records) if total_count is None else total_count,
        "message": message,
        "statusCode": status_code,
        "nextLink": next_link,
        "dataRedacted": False,
    }
    if program == "cmp" and behaviour.cmp_envelope == "sparse":
        del fields["dataRedacted"]
        if next_link is None:
            del fields["nextLink"]
    return _keyed(fields, _envelope_case(program, behaviour))


def error_body(
    status_code: int,
    message: str,
    *,
    program: str | None,
    behaviour: Behaviour,
    code: int | None = None,
) -> dict[str, Any]:
    """An error answer: the Insights shape, or Partner Center's general one (see ``error_shape``)."""
    shape = behaviour.error_shape
    if shape == "general" or (shape == "mixed" and status_code in _GENERAL_SHAPE_STATUSES):
        return {
            "code": status_code if code is None else code,
            "description": message,
            "data": [],
            "source": "PartnerFD",
        }
    return _keyed(
        {"statusCode": status_code, "message": message}, _envelope_case(program or "mpn", behaviour)
    )


def _keyed(fields: dict[str, Any], case: str) -> dict[str, Any]:
    return {(_pascal(key) if case == "pascal" else key): value for key, value in fields.items()}
