"""``python -m airflow_provider_pcinsights.signin``: see the package docstring or ``--help``.

Standard output carries the connection and nothing else, so that
``eval "$(python -m airflow_provider_pcinsights.signin --format env)"`` works. Airflow
writes its own log lines to standard output (Airflow 3.3 warns there, when it reads a
connection, that an extra as short as ``mpn`` is too short to mask; with an apostrophe
that broke ``eval``). So before anything else runs, file descriptor 1 is pointed at
standard error, and the helper prints the connection to a copy of the original
(after the arguments are read: ``--help`` still goes to standard output).
"""

from __future__ import annotations

import os
import sys


def _run() -> int:
    from airflow_provider_pcinsights.signin._cli import build_parser

    build_parser().parse_args()  # --help and usage errors, as any command prints them
    sys.stdout.flush()
    connection_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # every other write to stdout: stderr
    try:
        from airflow_provider_pcinsights.signin._cli import main

        return main(stdout=connection_out)
    finally:
        connection_out.close()


sys.exit(_run())
