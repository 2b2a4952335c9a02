"""The provider's Airflow plugin: only a listener, so that the hold store exists before a task needs it.

When a scheduler, triggerer or dag-processor starts, the listener creates the pool
``pcinsights_holds`` (one slot) and the hold Variables if they are missing
(:func:`airflow_provider_pcinsights.holds.ensure_store`). Airflow loads it through
the ``airflow.plugins`` entry point (providers' own ``plugins`` are loaded only with
``[core] lazy_load_providers`` off).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from airflow_provider_pcinsights.holds import ensure_store

log = logging.getLogger(__name__)


class _Listener:
    """When a scheduler, triggerer or dag-processor starts, make sure the hold store exists."""

    @hookimpl
    def on_starting(self, component: Any) -> None:
        if not any(c.__name__ == "Job" for c in type(component).__mro__):
            return  # a task runner or a CLI task: no database here
        try:
            created = ensure_store()
        except Exception as exc:  # another component created them at the same moment, or no database
            log.info("pcinsights holds: the pool and hold Variables were not created here: %s", exc)
        else:
            if created:
                log.info("pcinsights holds: created %s", ", ".join(created))


listener = _Listener()


class PcinsightsHoldsPlugin(AirflowPlugin):
    name = "pcinsights_holds"
    listeners = [listener]
