"""The emulator's state kept across a restart of its process: ``PersistentEmulator``, ``--state-file``.

A test that restarts the emulator in the middle of a DAG run (the real service
goes away and comes back) needs it back as it was: the reports and their
executions, its clock (tests move it forward), the key that signs its download
links, the tokens it issued (so a client's cached access token and its rotated
refresh token stay valid) and its certificates (the CA the client trusts). The
file is written after every call that may change them and at ``stop()``, and
read at start when it exists. Queued faults, behaviour settings, pending device
codes and the request log are not kept: a restart clears them.

The file is the emulator's own (pickled Python objects): never point
``state_file`` at a file from anywhere else.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_pcinsights.emulator import Emulator
from airflow_provider_pcinsights.emulator.tls import TlsMaterial

FORMAT = 2


@dataclass
class Snapshot:
    programs: Any  # EmulatorState.programs: every program's store
    tokens: dict[str, Any]  # TokenRegistry.snapshot()
    tls: TlsMaterial
    clock_offset: float = 0.0  # Clock: how far tests moved emulated time forward
    link_key: bytes = b""  # FileHost: what signs the download links (a link handed out still works)
    link_generation: int = 0
    format: int = FORMAT


def save(emulator: Emulator, path: Path) -> None:
    """Write the emulator's state, atomically (a reader never sees half a file)."""
    with emulator.state.lock:
        programs = pickle.dumps(emulator.state.programs)
    snapshot = Snapshot(
        programs=programs,
        tokens=emulator.tokens.snapshot(),
        tls=emulator.tls_material,
        clock_offset=emulator.clock._offset,
        link_key=emulator.files._key,
        link_generation=emulator.files._generation,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            pickle.dump(snapshot, out)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(path: Path) -> Snapshot | None:
    """The state a previous process left, or ``None`` when there is none (or it is of another format)."""
    if not path.exists():
        return None
    with path.open("rb") as handle:
        snapshot = pickle.load(handle)  # the emulator's own file: see the module's docstring
    if not isinstance(snapshot, Snapshot) or snapshot.format != FORMAT:
        return None
    return snapshot


def restore(emulator: Emulator, snapshot: Snapshot) -> None:
    """Put the reports, executions, clock, link key and tokens of ``snapshot`` in place of the new ones."""
    with emulator.state.lock:
        emulator.state.programs = pickle.loads(snapshot.programs)
    emulator.tokens.restore(snapshot.tokens)
    emulator.clock.advance(snapshot.clock_offset)
    if snapshot.link_key:
        emulator.files._key, emulator.files._generation = snapshot.link_key, snapshot.link_generation


class PersistentEmulator(Emulator):
    """An ``Emulator`` that starts from ``state_file`` when it exists and writes it after every
    call that may change the state (not a GET) and at ``stop()``."""

    def __init__(self, state_file: str | os.PathLike[str], **options: Any) -> None:
        self.state_file = Path(state_file)
        snapshot = load(self.state_file)
        super().__init__(tls=snapshot.tls if snapshot else None, **options)
        if snapshot is not None:
            restore(self, snapshot)
        self.router.after_change = self.save

    def save(self) -> None:
        save(self, self.state_file)

    def stop(self) -> None:
        started = self._server is not None
        super().stop()
        if started:
            self.save()
