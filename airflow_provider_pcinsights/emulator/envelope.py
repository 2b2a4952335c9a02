"""The Insights response envelope, in the key case the emulator is set to answer in.

Microsoft's docs show PascalCase keys, its samples camelCase; the emulator can
answer either way so clients are tested against both.
"""

from __future__ import annotations

from typing import Any

from .behaviour import STRAY_SPACE_FIELD

_KEYS = {
    "camel": {
        "value": "value",
        "totalCount": "totalCount",
        "message": "message",
        "statusCode": "statusCode",
        "nextLink": "nextLink",
        "dataRedacted": "dataRedacted",
    },
    "pascal": {
        "value": "Value",
        "totalCount": "TotalCount",
        "message": "Message",
        "statusCode": "StatusCode",
        "nextLink": "NextLink",
        "dataRedacted": "DataRedacted",
    },
}


def envelope(
    value: list[dict[str, Any]],
    *,
    key_case: str,
    message: str = "",
    status_code: int = 200,
    total_count: int | None = None,
    next_link: str | None = None,
    key_spacing: str = "none",
) -> dict[str, Any]:
    keys = _KEYS[key_case]
    if key_spacing == "stray_space":
        value = [with_stray_space(record) for record in value]
    return {
        keys["value"]: value,
        keys["totalCount"]: len(value) if total_count is None else total_count,
        keys["message"]: message,
        keys["statusCode"]: status_code,
        keys["nextLink"]: next_link,
        keys["dataRedacted"]: False,
    }


def with_stray_space(record: dict[str, Any]) -> dict[str, Any]:
    """The record with ``RecurrenceCount`` spelled ``" RecurrenceCount"``, as in a Microsoft sample."""
    return {(f" {key}" if key == STRAY_SPACE_FIELD else key): item for key, item in record.items()}


def error_body(status_code: int, message: str, *, key_case: str) -> dict[str, Any]:
    """The short error shape the service answers with: ``{"statusCode": 404, "message": "..."}``."""
    keys = _KEYS[key_case]
    return {keys["statusCode"]: status_code, keys["message"]: message}
