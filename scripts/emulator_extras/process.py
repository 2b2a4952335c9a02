"""Run the emulator (``python -m emulator_extras``) as a process of its own, from Python.

For scripts and tests that need the emulator in another process (the demo, the
triggerer end-to-end check, a test of a hook in a subprocess)::

    with EmulatorProcess("--reports", "2", log_file="emulator.log") as emu:
        emu.env            # {"AIRFLOW_CONN_PCINSIGHTS_DEFAULT": "<json>"}, as printed
        emu.connection     # that JSON, decoded
        emu.admin_get("reports", program="mpn")
        emu.admin_post("report-status", {"report_id": ..., "status": "Paused"})

It waits (bounded) for the connection line, reads it as a shell would, and
keeps reading the process's output afterwards (into ``log_file`` if given), so
a full pipe never stalls the emulator. Standard library only: no Airflow, no
``requests``.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shlex
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

MODULE = "emulator_extras"  # the package's command line, with the admin endpoints and --state-file
SCRIPTS = Path(__file__).resolve().parents[1]
_CONNECTION_WORD = re.compile(r"(AIRFLOW_CONN_[A-Za-z0-9_]+)=(.*)", re.DOTALL)
_TAIL_LINES = 20


class EmulatorProcessError(RuntimeError):
    """The emulator process did not come up, or an admin call failed (``status``: its HTTP status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def parse_connection_line(line: str) -> tuple[str, str] | None:
    """``(NAME, VALUE)`` of an ``[export ]AIRFLOW_CONN_NAME='...'`` line, split as a shell would."""
    try:
        words = shlex.split(line.strip().removeprefix("export "))
    except ValueError:  # unbalanced quotes: not the line
        return None
    match = _CONNECTION_WORD.fullmatch(words[0]) if len(words) == 1 else None
    return (match.group(1), match.group(2)) if match else None


class EmulatorProcess:
    """``python -m emulator_extras *args`` (``scripts/`` on its path) until ``stop()``.

    ``start()`` (or ``with``) returns once the process printed its connection
    line, else raises :class:`EmulatorProcessError` with its last output lines
    (and stops it). Output (stdout and stderr together) goes to ``log_file``
    (truncated first) if given; the last lines are kept for error messages.
    ``stop()`` sends SIGTERM, waits ``stop_timeout`` seconds, then kills; it
    may be called any number of times.
    """

    def __init__(
        self,
        *args: str,
        python: str | None = None,
        log_file: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        admin_timeout: float = 10.0,
        start_new_session: bool = False,
    ) -> None:
        self.command = [python or sys.executable, "-m", MODULE, *args]
        self.log_file = Path(log_file) if log_file is not None else None
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.admin_timeout = admin_timeout
        self._popen_env = dict(os.environ if env is None else env)
        self._popen_env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(SCRIPTS), self._popen_env.get("PYTHONPATH")])
        )
        self._start_new_session = start_new_session
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._found: tuple[str, str] | None = None
        self._ready = threading.Event()
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._lock = threading.Lock()
        self._connection: dict[str, Any] | None = None
        self._opener: urllib.request.OpenerDirector | None = None

    def __repr__(self) -> str:
        if self._process is None:
            return "<EmulatorProcess not started>"
        where = self.url if self._connection is not None else "starting"
        state = "running" if self.running else f"exited {self._process.returncode}"
        return f"<EmulatorProcess pid={self._process.pid} {where} {state}>"

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> EmulatorProcess:
        if self._process is not None:
            raise EmulatorProcessError("this EmulatorProcess was already started; make a new one")
        log: IO[str] | None = self.log_file.open("w", encoding="utf-8") if self.log_file else None
        try:
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=self._popen_env,
                start_new_session=self._start_new_session,
            )
        except BaseException:
            if log:
                log.close()
            raise
        assert self._process.stdout is not None
        self._reader = threading.Thread(
            target=self._drain,
            args=(self._process.stdout, log),
            name="pcinsights-emulator-output",
            daemon=True,
        )
        self._reader.start()
        try:
            self._wait_until_ready()
        except BaseException:  # also Ctrl-C or a signal handler's exception: never leave it running
            self.stop()
            raise
        return self

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, up to ``timeout`` (default ``stop_timeout``) seconds, then SIGKILL.

        Returns the exit code (None if it was never started). Idempotent.
        """
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return process.returncode

    def __enter__(self) -> EmulatorProcess:
        return self.start() if self._process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def process(self) -> subprocess.Popen[str] | None:
        """The ``Popen`` (None before ``start()``)."""
        return self._process

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def output_tail(self) -> list[str]:
        """The last lines it printed (stdout and stderr), oldest first."""
        with self._lock:
            return list(self._tail)

    # -- what it printed --------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """``{"AIRFLOW_CONN_...": "<json>"}``: the printed variable, as a shell would set it."""
        name, value = self._printed()
        return {name: value}

    @property
    def connection(self) -> dict[str, Any]:
        """The printed connection, decoded (``host``, ``login``, ``password``, ``extra``...)."""
        self._printed()
        assert self._connection is not None
        return self._connection

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return str(self.connection["host"]).rstrip("/")

    @property
    def verify(self) -> str | bool:
        """The CA file to verify it with (``verify`` of the connection's extra)."""
        return self.connection.get("extra", {}).get("verify", True)

    # -- admin endpoints --------------------------------------------------------
    def admin_get(self, path: str, **params: Any) -> Any:
        """``GET /_emulator/<path>?<params>`` (None values left out), its JSON answer decoded."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return self._admin("GET", path, query, None)

    def admin_post(self, path: str, body: Any = None) -> Any:
        """``POST /_emulator/<path>`` with ``body`` (default ``{}``) as JSON, its JSON answer decoded."""
        return self._admin("POST", path, "", json.dumps({} if body is None else body).encode())

    def _admin(self, method: str, path: str, query: str, data: bytes | None) -> Any:
        target = f"/_emulator/{path.strip('/')}"
        request = urllib.request.Request(
            f"{self.url}{target}" + (f"?{query}" if query else ""),
            data=data,
            method=method,
            headers={"Accept": "application/json", **({"Content-Type": "application/json"} if data else {})},
        )
        try:
            with self._admin_opener().open(request, timeout=self.admin_timeout) as answer:
                body = answer.read()
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            try:
                detail = json.loads(text).get("error", text)
            except (ValueError, AttributeError):
                detail = text
            raise EmulatorProcessError(
                f"{method} {target} answered HTTP {error.code}: {detail}", status=error.code
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise EmulatorProcessError(f"{method} {target} at {self.url} failed: {reason}") from None
        return json.loads(body) if body else None

    def _admin_opener(self) -> urllib.request.OpenerDirector:
        if self._opener is None:
            verify = self.verify
            context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
            if verify is False:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            # Loopback only: never through a proxy from the environment.
            self._opener = urllib.request.build_opener(
                urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
            )
        return self._opener

    # -- internals ----------------------------------------------------------------
    def _printed(self) -> tuple[str, str]:
        if self._found is None or self._connection is None:
            raise EmulatorProcessError("the emulator process is not started; call start() or use `with`")
        return self._found

    def _drain(self, stream: IO[str], log: IO[str] | None) -> None:
        """Read every line until the process closes its output: the line we wait for, then the rest."""
        try:
            for line in stream:
                if log:
                    log.write(line)
                    log.flush()
                with self._lock:
                    self._tail.append(line.rstrip("\n"))
                if self._found is None:
                    found = parse_connection_line(line)
                    if found:
                        self._found = found
                        self._ready.set()
        except (OSError, ValueError):  # the stream closed under us
            pass
        finally:
            stream.close()
            if log:
                log.close()

    def _wait_until_ready(self) -> None:
        process, reader = self._process, self._reader
        assert process is not None
        assert reader is not None
        deadline = time.monotonic() + self.start_timeout
        while not self._ready.wait(0.05):
            if process.poll() is not None or not reader.is_alive():
                # A process that dies closes its output first: on a busy machine the reader can
                # see the end before the exit code is there. Wait a little for it, so that the
                # message says how it ended whichever came first.
                try:
                    code = process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    raise self._failure("closed its output without printing its connection line") from None
                reader.join(timeout=5)  # everything it printed before it died
                raise self._failure(f"exited with code {code} before printing its connection line")
            if time.monotonic() > deadline:
                raise self._failure(f"printed no connection line within {self.start_timeout:g}s")
        assert self._found is not None
        name, value = self._found
        try:
            connection = json.loads(value)
        except ValueError as error:
            raise self._failure(f"printed {name} with a value that is not JSON ({error})") from None
        if not isinstance(connection, dict) or "host" not in connection:
            raise self._failure(f"printed {name} without a connection host")
        self._connection = connection

    def _failure(self, what: str) -> EmulatorProcessError:
        tail = self.output_tail()
        shown = "\n".join(f"    {line}" for line in tail) if tail else "    (no output)"
        where = f" (full output: {self.log_file})" if self.log_file else ""
        return EmulatorProcessError(
            f"the emulator ({shlex.join(self.command)}) {what}; its last output{where}:\n{shown}"
        )
