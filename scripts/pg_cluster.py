"""A throwaway PostgreSQL 15 cluster for Airflow's metadata database, as production has one.

``PgCluster(root).start()`` runs ``initdb`` and ``pg_ctl`` (Debian's server
binaries, ``/usr/lib/postgresql/<major>/bin``, not on ``PATH``) on a free port,
``-A trust`` on 127.0.0.1 only, the socket directory inside the data directory;
as the ``postgres`` OS user when run as root (the server refuses root).
``stop()`` stops it with ``pg_ctl -m fast`` and removes the directory. It is a
context manager, so nothing outlives the run that started it.

Run as root, the cluster lives in a directory of its own under the system's
temporary folder, owned by ``postgres``: that user cannot enter a checkout whose
parent is private to root (``git clone . "$(mktemp -d)/p"`` makes one, 0700), and
``initdb`` there fails. Its log is copied to ``root`` when it stops.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow_components import free_port


def server_bin() -> Path:
    """The newest PostgreSQL server binaries on this machine (``PCINSIGHTS_PG_BIN`` overrides)."""
    if os.environ.get("PCINSIGHTS_PG_BIN"):
        return Path(os.environ["PCINSIGHTS_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError(
            "PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/initdb): "
            "apt-get install postgresql (Debian/Ubuntu), or set PCINSIGHTS_PG_BIN"
        )
    return Path(found[-1]).parent


class PgCluster:
    def __init__(self, root: Path, database: str = "airflow") -> None:
        self.logs = root  # where pg.log is left for a reader
        self.root = root
        self.data = root / "pgdata"
        self.database = database
        self.port = 0
        self.bin = server_bin()
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *command: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        return subprocess.run(
            [*prefix, *command], check=True, capture_output=True, text=True, timeout=120, **kwargs
        )

    def start(self) -> PgCluster:
        if self.logs.exists():
            shutil.rmtree(self.logs)
        self.logs.mkdir(parents=True)
        if self._as_postgres:
            self.root = Path(tempfile.mkdtemp(prefix="pcinsights-pg-"))
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "pgdata"
        self.port = free_port()
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"
        )
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "pg.log"),
            "-w",
            "start",
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.psql(f"CREATE DATABASE {self.database}", database="postgres")
                return self
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def psql(self, sql: str, database: str | None = None) -> str:
        return self._run(
            str(self.bin / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database or self.database,
            "-At",
            "-c",
            sql,
        ).stdout

    def stop(self) -> None:
        if self.data.exists():
            with contextlib.suppress(subprocess.CalledProcessError):  # not running
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        log = self.root / "pg.log"
        if log.exists() and self.root != self.logs:
            self.logs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, self.logs / "pg.log")
        if self.root != self.logs:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
