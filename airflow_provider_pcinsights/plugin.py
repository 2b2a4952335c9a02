"""The provider's Airflow plugin: only a listener, so that the hold store exists before a task needs it.

When a scheduler, triggerer or dag-processor starts, the listener creates the pool
``pcinsights_holds`` (one slot) and the hold Variables if they are missing
(:func:`airflow_provider_pcinsights.holds.ensure_store`). Airflow loads it through
the ``airflow.plugins`` entry point (providers' own ``plugins`` are loaded only with
``[core] lazy_load_providers`` off).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_pcinsights.holds import listener


class PcinsightsHoldsPlugin(AirflowPlugin):
    name = "pcinsights_holds"
    listeners = [listener]
