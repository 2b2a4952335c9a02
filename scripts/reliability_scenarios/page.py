"""``docs/reliability.md``, from the results of one run: the table, the machine, and a section per scenario.

Nothing here is a figure of its own: every number comes from a ``ScenarioResult``
or from the machine the run is on.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib.metadata import version
from pathlib import Path

from reliability_scenarios.outcome import COUNT_COLUMNS, ScenarioResult

REPO = Path(__file__).resolve().parents[2]


def machine() -> list[tuple[str, str]]:
    """What the figures were measured on, as label and value."""
    return [
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} cores"),
        ("Memory", _memory()),
        ("System", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Python", platform.python_version()),
        ("Apache Airflow", version("apache-airflow")),
        ("requests / MSAL", f"{version('requests')} / {version('msal')}"),
        ("Provider", f"{version('airflow-provider-pcinsights')} at {code_version()}"),
    ]


def code_version() -> str:
    """The commit the code is at, and whether the work tree differs from it."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "an unknown commit"
    changed = git(
        "status", "--porcelain", "--untracked-files=no", "--", "airflow_provider_pcinsights", "scripts"
    )
    return f"commit {commit}" + (" with local changes" if changed else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def render(results: list[ScenarioResult], *, seconds: float, command: str) -> str:
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    holding = sum(result.holds for result in results)
    lines = [
        "# Reliability, measured",
        "",
        f"Written by `{command}` (`scripts/reliability.py`) on {when}, in {seconds / 60:.1f} minutes: every "
        "figure on this page comes from that run, none is written by hand. Run it again to check them. "
        "Fast variants of the same scenarios run in `make test` (`tests/reliability/`), asserting the same "
        "outcomes and counts on fewer cases.",
        "",
        f"**{holding} of {len(results)} scenarios hold.**",
        "",
        "| # | Scenario | What was tried | "
        + " | ".join(heading for _, heading in COUNT_COLUMNS)
        + " | Verdict |",
        "|---|---|---|" + "---:|" * len(COUNT_COLUMNS) + "---|",
    ]
    for result in results:
        counts = " | ".join(result.counts.shown(name) for name, _ in COUNT_COLUMNS)
        lines.append(
            f"| {result.number} | [{result.title}](#{_anchor(result)}) | {_cell(result.tried)} | {counts} | "
            f"{result.verdict} |"
        )
    lines += ["", "A dash: the count does not apply to that scenario.", "", "## The machine", ""]
    lines += [f"- {label}: {value}" for label, value in machine()]
    for result in results:
        lines += ["", f"## {result.number}. {result.title}", ""]
        said = f"Verdict: **{result.verdict}** ({result.size} size, {result.seconds:.0f} s)."
        lines.append(said if result.holds else f"{said} What does not hold:")
        problems = result.all_problems()
        if problems:
            lines.append("")
            lines += [f"- {_line(problem)}" for problem in problems[:40]]
            if len(problems) > 40:
                lines.append(f"- ... and {len(problems) - 40} more of the same run")
        for note in result.notes:
            lines += ["", _line(note)]
        if result.details:
            lines += ["", *result.details]
    return "\n".join(lines) + "\n"


def _anchor(result: ScenarioResult) -> str:
    text = f"{result.number}. {result.title}".lower()
    return "".join(ch for ch in text if ch.isalnum() or ch in " -").replace(" ", "-")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _line(text: str) -> str:
    return " ".join(text.split())
