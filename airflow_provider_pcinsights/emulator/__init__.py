"""A local HTTPS stand-in for Microsoft Entra ID and the Partner Center Insights API.

Used by the provider's tests, the demo and users' own DAG tests (through the
``pcinsights_emulator`` pytest fixture), and runnable on its own:
``python -m airflow_provider_pcinsights.emulator`` (from Python: ``EmulatorProcess``).
It never imports Airflow.
"""

from __future__ import annotations

from .behaviour import Behaviour
from .core import Emulator
from .faults import Faults
from .process import EmulatorProcess, EmulatorProcessError
from .proxy import RefusingProxy
from .requestlog import RequestRecord

__all__ = [
    "Behaviour",
    "Emulator",
    "EmulatorProcess",
    "EmulatorProcessError",
    "Faults",
    "RefusingProxy",
    "RequestRecord",
]
