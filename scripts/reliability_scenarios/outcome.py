"""What a scenario found: the published counts, the problems behind a verdict, and the details.

A scenario holds when it found no problem. Every count is filled in from what the
scenario observed; ``None`` means the count does not apply to that scenario (shown
as a dash), never "not measured".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The published columns, in order: attribute name and heading.
COUNT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("actions", "Actions"),
    ("faults_injected", "Faults injected"),
    ("retries", "Retries"),
    ("final_states_correct", "Final states correct"),
    ("inputs_refused", "Inputs refused"),
    ("requests_sent", "Requests sent"),
    ("secrets_found", "Secrets found"),
)


@dataclass
class Counts:
    """The figures of one scenario's row; ``None`` where a figure does not apply."""

    actions: int | None = None
    faults_injected: int | None = None
    retries: int | None = None
    final_states_correct: int | None = None
    final_states_total: int | None = None  # shown as "correct/total"
    inputs_refused: int | None = None
    inputs_total: int | None = None
    requests_sent: int | None = None
    secrets_found: int | None = None

    def shown(self, name: str) -> str:
        value = getattr(self, name)
        if value is None:
            return "-"
        total = {"final_states_correct": self.final_states_total, "inputs_refused": self.inputs_total}.get(
            name
        )
        return f"{value:,}/{total:,}" if total is not None else f"{value:,}"


@dataclass
class ScenarioResult:
    """One scenario's run: its row of the table and the section below it."""

    number: int
    title: str
    size: str
    tried: str = ""
    counts: Counts = field(default_factory=Counts)
    problems: list[str] = field(default_factory=list)
    # Bounds in time that were not met: part of the verdict, kept apart because the fast variants in
    # make test assert outcomes and counts, never timings (a loaded machine is slow, not wrong).
    late: list[str] = field(default_factory=list)
    # Which code it ran against, and anything a reader must know to read the figures.
    notes: list[str] = field(default_factory=list)
    # Markdown lines for the scenario's own section (per-case tables and the like).
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # figures the tests assert on

    @property
    def holds(self) -> bool:
        return not self.problems and not self.late

    @property
    def verdict(self) -> str:
        if self.holds:
            return "holds"
        found = len(self.problems) + len(self.late)
        return f"does not hold ({found} problem{'s' if found > 1 else ''})"

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def too_late(self, text: str) -> None:
        """A bound in time not met."""
        self.late.append(text)

    def all_problems(self) -> list[str]:
        return [*self.problems, *self.late]

    def summary(self) -> str:
        """One line for a terminal."""
        counts = ", ".join(
            f"{heading.lower()} {self.counts.shown(name)}"
            for name, heading in COUNT_COLUMNS
            if getattr(self.counts, name) is not None
        )
        return f"{self.number}. {self.title}: {self.verdict} in {self.seconds:.0f} s ({counts})"
