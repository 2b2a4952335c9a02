"""``python -m emulator_extras``: the emulator's command line, with what only the scripts use.

Adds ``--request-log`` (every call as a JSON line, read by the demo and the e2e scripts),
``--state-file`` (reports, runs, tokens and certificates kept across a restart) and the
admin endpoints under ``/_emulator/`` to ``python -m airflow_provider_pcinsights.emulator``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from airflow_provider_pcinsights.emulator import Emulator, cli
from emulator_extras import admin
from emulator_extras.persistence import PersistentEmulator


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.build_parser()
    parser.prog = "python -m emulator_extras"
    parser.add_argument("--request-log", type=Path, help="append every call as a JSON line to this file")
    parser.add_argument(
        "--state-file",
        type=Path,
        help="keep reports, runs and tokens in this file, so a restart (same --port, --state-dir) resumes",
    )
    args = cli.parse_args(parser, argv)
    options = cli.emulator_options(args)
    emulator = PersistentEmulator(args.state_file, **options) if args.state_file else Emulator(**options)
    emulator.request_log.path = args.request_log
    admin.attach(emulator)
    cli.configure(emulator, args)
    return cli.serve(emulator, args)


if __name__ == "__main__":
    sys.exit(main())
