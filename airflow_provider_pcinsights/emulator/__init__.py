"""A local HTTPS stand-in for Microsoft Entra ID and the Partner Center Insights API.

The test double of the service for users' own DAG tests (through the
``pcinsights_emulator`` pytest fixture) and for DAGs run by hand
(``python -m airflow_provider_pcinsights.emulator``). It never imports Airflow.
What only the project's own scripts and tests use around it (admin endpoints for
another process, running it as a process, keeping its state across a restart, a
refusing proxy) lives in ``scripts/emulator_extras`` and ``tests/emulator_support``.
"""

from __future__ import annotations

from .behaviour import Behaviour
from .core import Emulator
from .faults import Faults
from .requestlog import RequestRecord

__all__ = [
    "Behaviour",
    "Emulator",
    "Faults",
    "RequestRecord",
]
