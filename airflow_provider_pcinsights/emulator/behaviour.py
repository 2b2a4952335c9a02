"""How the emulated service answers where the docs are silent or its samples disagree: one place.

The defaults play the most awkward answer Microsoft's samples and public
clients show the real service giving (a byte-order mark, mixed key casing,
lower-case ``csv``, ``null`` times, two error shapes, 429s without
``Retry-After``, app-only tokens refused on ``mpn``, report files that start
with a byte-order mark inside their gzip), so every test runs
against them; each has a setting that plays the tidy answer instead.
``docs/design.md`` lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

_CHOICES: dict[str, tuple[str, ...]] = {
    "pause_when_paused": ("ok", "reject"),
    "resume_when_active": ("ok", "reject"),
    "resume_when_inactive": ("reject", "noop", "activate"),
    "action_response": ("record", "empty"),
    "next_link": ("absolute", "relative", "foreign", "repeat", "respell", "back", "overlap"),
    "key_case": ("mixed", "camel", "pascal"),
    "key_spacing": ("none", "stray_space"),
    "bom": ("on", "off"),
    "format_case": ("lower", "upper"),
    "null_times": ("on", "off"),
    "cmp_envelope": ("sparse", "full"),
    "error_shape": ("mixed", "insights", "general"),
    "executions_not_found": ("own_text", "no_item"),
    "retry_after_header": ("sometimes", "always", "never"),
    "app_only_on_mpn": ("401", "403", "allow"),
    "file_bom": ("on", "off"),
    "file_compression": ("gzip", "none"),
    "multi_report_id": ("accept", "reject", "as_one_id"),
}
# Where ``next_link = "foreign"`` points: another host, one that never resolves (RFC 6761 ``.invalid``).
FOREIGN_HOST = "https://evil.example.invalid"
# The record field ``key_spacing = "stray_space"`` spells with a leading space, as one Microsoft sample does.
STRAY_SPACE_FIELD = "RecurrenceCount"
# The one PascalCase key among camelCase mpn records (``key_case = "mixed"``), as in Microsoft's sample.
MIXED_PASCAL_FIELD = "CallbackMethod"


@dataclass
class Behaviour:
    """How the emulator answers where the documentation is silent.

    Every assignment is checked, so a typo in a test fails loudly instead of
    silently testing the default.
    """

    pause_when_paused: str = "ok"
    resume_when_active: str = "ok"
    resume_when_inactive: str = "reject"
    action_response: str = "record"
    page_size: int = 100
    next_link: str = "absolute"
    key_case: str = "mixed"
    key_spacing: str = "none"
    bom: str = "on"
    format_case: str = "lower"
    null_times: str = "on"
    cmp_envelope: str = "sparse"
    error_shape: str = "mixed"
    executions_not_found: str = "own_text"
    retry_after_header: str = "sometimes"
    app_only_on_mpn: str = "401"
    file_bom: str = "on"
    file_compression: str = "gzip"
    # cmp v1.1's reportId with several ids joined by ';': documented, so taken by default.
    multi_report_id: str = "accept"

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in {f.name for f in fields(self)}:
            raise AttributeError(f"unknown emulator behaviour {name!r}; known: {', '.join(self.names())}")
        if name == "page_size":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"page_size must be a positive integer, got {value!r}")
        elif value not in _CHOICES[name]:
            raise ValueError(f"{name} must be one of {', '.join(_CHOICES[name])}; got {value!r}")
        object.__setattr__(self, name, value)

    @classmethod
    def choices(cls) -> dict[str, tuple[str, ...]]:
        """The allowed values of every setting that is a choice (all but ``page_size``)."""
        return dict(_CHOICES)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def tidy(cls) -> dict[str, str]:
        """The settings that play the tidy service of the docs instead of the awkward default."""
        return {
            "key_case": "pascal",
            "bom": "off",
            "format_case": "upper",
            "null_times": "off",
            "cmp_envelope": "full",
            "error_shape": "insights",
            "executions_not_found": "no_item",
            "retry_after_header": "always",
            "app_only_on_mpn": "allow",
            "file_bom": "off",
        }

    def update(self, values: dict[str, Any]) -> None:
        """Apply several settings at once (from the admin endpoint or the command line)."""
        for name, value in values.items():
            setattr(self, name, value)

    def reset(self) -> None:
        self.update({f.name: f.default for f in fields(self)})

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.names()}
