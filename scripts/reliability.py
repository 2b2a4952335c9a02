"""`make reliability`: run the reliability scenarios at full size and write docs/reliability.md.

Each scenario (see ``reliability_scenarios``) runs the provider's real code
against the emulator, or Airflow's real components against it, counts what
happened and judges it; this script runs them in order, prints one line each,
and writes the page from their results, with the machine they ran on. It exits
non-zero when a scenario does not hold (the page then says which and why).

    .venv-af3/bin/python scripts/reliability.py                  # all five, full size, the page
    .venv-af3/bin/python scripts/reliability.py --only 3 4       # some of them
    .venv-af3/bin/python scripts/reliability.py --size fast      # the fast variants, as make test runs them
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_VERSION = version("apache-airflow")
HOME = REPO / ".airflow-reliability" / f"af{AIRFLOW_VERSION}"
PAGE = REPO / "docs" / "reliability.md"

# Before anything imports Airflow, which reads its configuration once.
os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
)
for name in [name for name in os.environ if name.startswith("AIRFLOW_CONN_")]:
    del os.environ[name]

from airflow_components import migrate_database  # noqa: E402
from reliability_scenarios import (  # noqa: E402
    airflow_faults,
    bad_answers,
    hostile_input,
    secrets_scan,
    transient_faults,
)
from reliability_scenarios.outcome import ScenarioResult  # noqa: E402
from reliability_scenarios.page import render  # noqa: E402

SCENARIOS: dict[int, tuple[str, Callable[[str], ScenarioResult]]] = {
    1: ("Transient faults at scale", transient_faults.run),
    2: ("Airflow's own faults, with real components", airflow_faults.run),
    3: ("Hostile and careless input", hostile_input.run),
    4: ("Bad answers", bad_answers.run),
    5: ("Secrets", secrets_scan.run),
}


@contextlib.contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Everything the scenario's code prints (Airflow's task logs, tracebacks of failures it provokes) goes
    to ``log``, at the level of file descriptors: the terminal shows the verdicts."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("a") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run_one(number: int, size: str) -> ScenarioResult:
    title, run = SCENARIOS[number]
    started = time.monotonic()
    try:
        return run(size)
    except Exception:  # the scenario itself broke: that is a result too, and the page says so
        result = ScenarioResult(number=number, title=title, size=size, tried="(the scenario did not finish)")
        result.problem("the scenario broke: " + traceback.format_exc(limit=8))
        result.seconds = time.monotonic() - started
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("full", "fast"), default="full")
    parser.add_argument("--only", type=int, nargs="+", choices=sorted(SCENARIOS), help="scenario numbers")
    parser.add_argument("--output", type=Path, default=PAGE, help=f"the page to write (default: {PAGE})")
    args = parser.parse_args(argv)
    migrate_database(HOME, os.environ)
    log = HOME / "reliability.log"
    log.write_text("")
    where = log.relative_to(REPO)
    print(f"== Reliability scenarios, {args.size} size, Airflow {AIRFLOW_VERSION} (their output: {where})")
    started = time.monotonic()
    results = []
    for number in args.only or sorted(SCENARIOS):
        print(f"-- {number}. {SCENARIOS[number][0]} ...", flush=True)
        with output_to(log):
            result = run_one(number, args.size)
        results.append(result)
        print(f"   {result.summary()}", flush=True)
        for problem in result.all_problems()[:10]:
            print(f"   - {' '.join(problem.split())[:300]}", flush=True)
    seconds = time.monotonic() - started
    command = (
        "make reliability"
        if args.size == "full" and not args.only
        else f"scripts/reliability.py {' '.join(argv or sys.argv[1:])}"
    )
    args.output.write_text(render(results, seconds=seconds, command=command))
    holding = sum(result.holds for result in results)
    print(f"== {holding} of {len(results)} hold, in {seconds / 60:.1f} min; wrote {args.output}")
    return 0 if all(result.holds for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
