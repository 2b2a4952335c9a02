"""Entry point of ``python -m airflow_provider_pcinsights.emulator``."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
