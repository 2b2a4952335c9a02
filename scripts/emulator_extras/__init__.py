"""What only the project's own scripts and tests use around the emulator.

The emulator in the package is the user's test double: the ``Emulator`` handle (and
the ``pcinsights_emulator`` fixture) for tests in the same process, and
``python -m airflow_provider_pcinsights.emulator`` for DAGs run by hand. The demo, the
end-to-end scripts, the benchmarks and the reliability scenarios run it as a process of
their own and steer it from outside; that is here, beside them:

- ``admin``: endpoints under ``/_emulator/`` through which another process steers it;
- ``persistence``: ``PersistentEmulator``, whose state outlives a restart of its process;
- ``process``: ``EmulatorProcess``, which runs ``python -m emulator_extras`` (the package's
  command line plus ``--request-log``, ``--state-file`` and the admin endpoints) and
  waits for its connection line.
"""

from __future__ import annotations

from emulator_extras.process import EmulatorProcess, EmulatorProcessError

__all__ = ["EmulatorProcess", "EmulatorProcessError"]
