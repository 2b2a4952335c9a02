"""Answers the real service leaves undocumented, made switchable so clients can be tested against each."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

_CHOICES: dict[str, tuple[str, ...]] = {
    "pause_when_paused": ("ok", "reject"),
    "resume_when_active": ("ok", "reject"),
    "resume_when_inactive": ("reject", "noop", "activate"),
    "action_response": ("record", "empty"),
    "next_link": ("absolute", "relative", "foreign", "repeat"),
    "key_case": ("camel", "pascal"),
    "key_spacing": ("none", "stray_space"),
}
# Where ``next_link = "foreign"`` points: another host, one that never resolves (RFC 6761 ``.invalid``).
FOREIGN_HOST = "https://evil.example.invalid"
# The record field ``key_spacing = "stray_space"`` spells with a leading space, as one Microsoft sample does.
STRAY_SPACE_FIELD = "RecurrenceCount"


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
    key_case: str = "camel"
    key_spacing: str = "none"

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

    def update(self, values: dict[str, Any]) -> None:
        """Apply several settings at once (from the admin endpoint or the command line)."""
        for name, value in values.items():
            setattr(self, name, value)

    def reset(self) -> None:
        self.update({f.name: f.default for f in fields(self)})

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.names()}
