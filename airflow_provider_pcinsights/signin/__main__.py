"""``python -m airflow_provider_pcinsights.signin``: see the package docstring or ``--help``."""

from __future__ import annotations

import sys

from airflow_provider_pcinsights.signin._cli import main

sys.exit(main())
