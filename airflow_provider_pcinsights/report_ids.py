"""Checks on report ids, made before anything is sent.

A report id ends up inside the URL path (``ScheduledReport/pause/{id}``), so an
id that could change the path or the query would make the provider act on
something the user never named. Refusing it early is the only safe answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

MAX_REPORT_ID_LENGTH = 128

# Characters that would end, escape or reshape the path segment.
_FORBIDDEN = re.compile(r"[/?#%\\\s\x00-\x1f\x7f]")


def validate_report_id(report_id: Any) -> str:
    """Return ``report_id`` unchanged if it is safe to put in a URL path, else raise ``ValueError``."""
    if not isinstance(report_id, str):
        raise ValueError(f"report_id must be a string, got {type(report_id).__name__}: {report_id!r}")
    if not report_id:
        raise ValueError("report_id must not be empty")
    if len(report_id) > MAX_REPORT_ID_LENGTH:
        raise ValueError(
            f"report_id is {len(report_id)} characters long, more than the {MAX_REPORT_ID_LENGTH} allowed: "
            f"{report_id[:40]!r}..."
        )
    bad = _FORBIDDEN.search(report_id)
    if bad:
        raise ValueError(
            f"report_id {report_id!r} contains {bad.group()!r}, which could change the request URL; "
            "report ids are UUIDs such as 'a5f7d3b2-1c9e-4c1e-9a43-6d0f4f5d2b10'"
        )
    if report_id in (".", "..") or ".." in report_id:
        raise ValueError(f"report_id {report_id!r} contains '..', which could change the request URL")
    return report_id


def normalize_report_ids(report_id: Any) -> tuple[list[str], bool]:
    """Validate one id or a list of ids.

    Returns the ids as a list and whether a single id was given, so callers can
    answer in the shape they were asked in (one record, or a list in order).
    """
    if isinstance(report_id, str):
        return [validate_report_id(report_id)], True
    if isinstance(report_id, Sequence) and not isinstance(report_id, (bytes, bytearray)):
        ids = [validate_report_id(item) for item in report_id]
        if not ids:
            raise ValueError("report_id is an empty list; give at least one report id")
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"report_id lists the same id more than once: {', '.join(duplicates)}")
        return ids, False
    raise ValueError(
        f"report_id must be a string or a list of strings, got {type(report_id).__name__}: {report_id!r}"
    )
