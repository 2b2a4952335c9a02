"""Time in the emulator, and how long a report's run takes: what tests turn to make exports happen.

A run (an execution) started by a resume, by ``ExecuteNow`` or by
``Emulator.run_report`` is ``Pending`` for ``pending_seconds``, ``Running`` for
``running_seconds``, then ``Completed`` with a file, all on the emulator's
clock: the real clock plus whatever the tests moved it forward. Nothing runs in
the background; an execution's status is worked out whenever it is read, so a
test moves time (``clock.advance``, or ``clock.step_per_read`` to let each read
of executions move it) and never sleeps.
"""

from __future__ import annotations

import datetime
import math
import threading
from dataclasses import dataclass, fields
from typing import Any


def _seconds(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


class Clock:
    """Emulated UTC time: the real clock plus an offset that only ever grows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._step_per_read = 0.0

    def now(self) -> datetime.datetime:
        with self._lock:
            offset = self._offset
        return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset)

    def advance(self, seconds: float) -> datetime.datetime:
        """Move time forward by ``seconds`` (>= 0); the new emulated now."""
        seconds = _seconds(seconds, "seconds")
        with self._lock:
            self._offset += seconds
        return self.now()

    @property
    def step_per_read(self) -> float:
        """Seconds the clock moves right after each answered read of executions (0: it does not)."""
        return self._step_per_read

    @step_per_read.setter
    def step_per_read(self, seconds: float) -> None:
        self._step_per_read = _seconds(seconds, "step_per_read")

    def after_read(self) -> None:
        if self._step_per_read:
            self.advance(self._step_per_read)

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now().isoformat(),
            "offset_seconds": self._offset,
            "step_per_read": self.step_per_read,
        }


@dataclass
class RunTimes:
    """How long each stage of a run lasts, and how long a download link works (emulated seconds)."""

    pending_seconds: float = 60.0
    running_seconds: float = 120.0
    link_seconds: float = 3600.0

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in {f.name for f in fields(self)}:
            raise AttributeError(
                f"unknown run setting {name!r}; known: {', '.join(f.name for f in fields(self))}"
            )
        object.__setattr__(self, name, _seconds(value, name))

    def update(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            setattr(self, name, value)

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, f.default)

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
