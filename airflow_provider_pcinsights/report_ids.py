"""Checks on report ids, made before anything is sent.

A report id ends up inside the URL path (``ScheduledReport/pause/{id}``), so an
id that could change the path or the query would make the provider act on
something the user never named. The docs show UUIDs; the rule here is wider but
safe: only the characters RFC 3986 lets a path carry unescaped and unchanged
(ASCII letters, digits, ``-``, ``.``, ``_``, ``~``), never ``..``. Anything else,
non-ASCII look-alikes of ``/`` and ``.`` included, is refused with the rule in
the message.
"""

from __future__ import annotations

import ast
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

MAX_REPORT_ID_LENGTH = 128
# The unreserved characters of RFC 3986: a path carries them as they are.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")
_RULE = (
    "ids may hold only ASCII letters, digits, '-', '.', '_' and '~' (never '..'), the characters a URL "
    "path carries unescaped; report ids are UUIDs such as 'a5f7d3b2-1c9e-4c1e-9a43-6d0f4f5d2b10'"
)
_NATIVE_HINT = (
    "If it is a list rendered as text by a template, give the list itself, or render templates as "
    "Python objects: DAG(..., render_template_as_native_obj=True)"
)
# A list rendered as text is read back only up to this length: a DAG lists ids, not megabytes.
_MAX_LIST_TEXT = 64 * 1024


def validate_report_id(report_id: Any, *, name: str = "report_id") -> str:
    """Return the id unchanged if it is safe to put in a URL path, else raise ``ValueError``."""
    if not isinstance(report_id, str):
        raise ValueError(f"{name} must be a string, got {type(report_id).__name__}: {report_id!r}")
    if not report_id:
        raise ValueError(f"{name} must not be empty")
    if len(report_id) > MAX_REPORT_ID_LENGTH:
        raise ValueError(
            f"{name} is {len(report_id)} characters long, more than the {MAX_REPORT_ID_LENGTH} allowed: "
            f"{report_id[:40]!r}..."
        )
    if not _UNRESERVED.fullmatch(report_id):
        bad = next(char for char in report_id if not _UNRESERVED.fullmatch(char))
        hint = f". {_NATIVE_HINT}" if _looks_like_a_list(report_id) else ""
        raise ValueError(
            f"{name} {report_id!r} contains {_describe(bad)}, which could change the request URL: "
            f"{_RULE}{hint}"
        )
    if ".." in report_id or report_id == ".":
        raise ValueError(f"{name} {report_id!r} contains '..', which could change the request URL: {_RULE}")
    return report_id


def normalize_report_ids(report_id: Any) -> tuple[list[str], bool]:
    """Validate one id or a list of ids.

    Returns the ids as a list and whether a single id was given, so callers can
    answer in the shape they were asked in (one record, or a list in order).

    A template such as ``"{{ params.ids }}"`` renders a list as its text
    (``"['a', 'b']"``) unless the DAG renders templates as Python objects. No
    id can start with ``[``, so such a text is read back as the list it is
    (literals only, never code); one that cannot be read is refused with the fix.
    """
    if isinstance(report_id, str) and _looks_like_a_list(report_id):
        ids = _list_from_text(report_id)
        log.info(
            "report_id arrived as the text of a list (%d ids); reading it as that list. "
            "Set render_template_as_native_obj=True on the DAG to pass the list itself.",
            len(ids),
        )
        report_id = ids
    if isinstance(report_id, str):
        return [validate_report_id(report_id)], True
    if isinstance(report_id, Sequence) and not isinstance(report_id, (bytes, bytearray)):
        ids = [validate_report_id(item) for item in report_id]
        if not ids:
            raise ValueError("report_id is an empty list; give at least one report id")
        duplicates = sorted(i for i, times in Counter(ids).items() if times > 1)
        if duplicates:
            raise ValueError(f"report_id lists the same id more than once: {', '.join(duplicates)}")
        return ids, False
    raise ValueError(
        f"report_id must be a string or a list of strings, got {type(report_id).__name__}: {report_id!r}"
    )


def listed(report_ids: Sequence[str], most: int = 5) -> str:
    """The first few ids, for a message about many: ``a, b, c and 497 more``."""
    shown = ", ".join(report_ids[:most])
    return shown + (f" and {len(report_ids) - most} more" if len(report_ids) > most else "")


def _looks_like_a_list(text: str) -> bool:
    stripped = text.strip()
    return len(stripped) >= 2 and stripped[0] + stripped[-1] in ("[]", "()")


def _list_from_text(text: str) -> list[str]:
    """The ids of ``"['a', 'b']"`` (or its JSON or tuple spelling); ``ValueError`` saying how to fix it."""
    problem = None
    if len(text) > _MAX_LIST_TEXT:
        problem = f"it is {len(text)} characters long"
    else:
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            problem = "it is not a list of quoted strings"
        else:
            if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
                problem = "it is not a list of strings"
    if problem:
        raise ValueError(
            f"report_id {text[:80]!r} looks like a list rendered as text, but cannot be read as one "
            f"({problem}). {_NATIVE_HINT}"
        )
    return list(value)


def _describe(char: str) -> str:
    """``'/'``, or for what the eye may not tell apart, its code point and name (U+2215 DIVISION SLASH)."""
    if char.isascii() and char.isprintable() and not char.isspace():
        return repr(char)
    return f"{char!r} (U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')})"
