"""The reliability scenarios of ``make reliability``, each runnable at full size or as a fast variant.

Each scenario module has ``run(size) -> ScenarioResult``; ``size`` is ``"full"``
(what ``scripts/reliability.py`` runs and publishes in ``docs/reliability.md``) or
``"fast"`` (what ``tests/reliability/`` runs in ``make test``: the same code on
fewer reports, actions or cases, asserting outcomes and counts, never timings).
Every figure comes from what the scenario counted: the emulator's request log, its
token registry, the exceptions raised and the text captured.

1. ``transient_faults``: 30% of API calls failing every way a network and service fail.
2. ``airflow_faults``: Airflow's own processes killed and restarted under a real scheduler.
3. ``hostile_input``: careless and hostile input, refused before anything is sent.
4. ``bad_answers``: every answer that is not what the service documents.
5. ``secrets_scan``: no secret in anything a deployment keeps, with DEBUG logging everywhere.
"""

from __future__ import annotations

SIZES = ("fast", "full")
