"""Airflow's real components on a throwaway sqlite database, for scripts that check the provider under them.

``scripts/triggerer_e2e.py`` and scenario 2 of ``scripts/reliability.py`` run the
provider as a deployment does: the emulator in its own process, then Airflow's
own components against a database in a home of their own:

- Airflow 3: ``scheduler`` (LocalExecutor), ``dag-processor``, ``triggerer`` and
  ``api-server`` (the task runner and the triggerer's supervisor talk to it);
- Airflow 2.11: ``scheduler`` (SequentialExecutor, the only one sqlite allows; a
  deferred task gives its slot back, so one slot is enough) and ``triggerer``.

Every process is started in a session of its own, so its whole tree can be
stopped (or one component killed and started again); ``Processes.stop_all()``
always leaves nothing running.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

import requests
from cryptography.fernet import Fernet
from emulator_extras import EmulatorProcess, EmulatorProcessError

AIRFLOW_VERSION = version("apache-airflow")
AIRFLOW_MAJOR = int(AIRFLOW_VERSION.split(".")[0])
STOP_SECONDS = 20  # SIGTERM, then SIGKILL
STARTUP_SECONDS = 60  # components up and a DAG parsed

# Lines that mean a component (or a trigger it hosts) went wrong.
ERROR_PATTERNS = re.compile(
    r"AsyncToSync|async event loop|Sync SDK methods|SynchronousOnlyOperation|Traceback"
    r"|\"level\":\s*\"(error|critical)\"|\[(error|critical)\s*\]| ERROR - | CRITICAL - ",
    re.IGNORECASE,
)


class ComponentFailure(Exception):
    """What went wrong, for the verdict line."""


# Ports these scripts hand to a component by number (the api-server, an emulator restarted on its port).
# A port the OS picks for bind(0) is free only until it is handed back: another run of these scripts (make
# test runs two Airflow lines at once) or any outgoing connection's source port may take it before the
# component binds. So the ports come from below the kernel's ephemeral range, where no outgoing connection
# lands, and each is reserved by an exclusive lock on a file of its own, held until the reserving process
# exits (the kernel drops the lock even on SIGKILL), where every run of these scripts looks first.
PORT_LOCKS = Path(tempfile.gettempdir()) / "pcinsights-reserved-ports"
PORT_SPAN = 8000
_reserved_ports: list[IO[str]] = []


def free_port() -> int:
    """A loopback port free now that no other run of these scripts will pick while this process lives."""
    PORT_LOCKS.mkdir(parents=True, exist_ok=True)
    low = _ephemeral_low() - PORT_SPAN
    start = random.randrange(PORT_SPAN)
    for offset in range(PORT_SPAN):
        port = low + (start + offset) % PORT_SPAN
        lock = (PORT_LOCKS / f"{port}.lock").open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with socket.socket() as sock:  # free now (nothing outside these scripts holds it)
                sock.bind(("127.0.0.1", port))
        except OSError:  # locked by another run, or bound by another program
            lock.close()
            continue
        _reserved_ports.append(lock)
        return port
    raise ComponentFailure(f"no free port in {low}-{low + PORT_SPAN - 1}")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


@dataclass
class Processes:
    """Everything a script started, each in a session of its own, so its whole tree can be stopped."""

    home: Path
    started: dict[str, subprocess.Popen[Any]] = field(default_factory=dict)
    emulator: EmulatorProcess | None = None

    def start(self, name: str, command: list[str], env: Mapping[str, str], **kwargs: Any) -> None:
        """Start ``command`` as component ``name``, its output appended to ``<home>/<name>.log``."""
        with (self.home / f"{name}.log").open("a") as handle:
            self.started[name] = subprocess.Popen(
                command,
                env=dict(env),
                stdout=kwargs.pop("stdout", handle),
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )

    def start_airflow(self, name: str, env: Mapping[str, str]) -> None:
        """``airflow <name>`` with this interpreter: scheduler, triggerer, dag-processor, api-server.

        The scheduler and the triggerer serve no logs (``--skip-serve-logs``): these scripts read the log
        files, and a log server is one more port that a concurrent run could take first."""
        skip = ["--skip-serve-logs"] if name in ("scheduler", "triggerer") else []
        # The triggerer first for the CPU (_RUNNER_FIRST): a deployment gives it CPUs of its
        # own, here it shares 2 cores with the other components, their task workers and other test runs. Its
        # watchdog ("async thread was blocked", which the checks fail on) should see a trigger that holds the
        # loop, not a loop that waited for a core. Needs root (the suite runs as root).
        if name == "triggerer":
            command = [sys.executable, "-c", _RUNNER_FIRST, name, *skip]
            self.start(name, command, env)
        else:
            self.start(name, [sys.executable, "-m", "airflow", name, *skip], env)

    def check_alive(self) -> None:
        running = dict(self.started)
        if self.emulator is not None and self.emulator.process is not None:
            running = {"emulator": self.emulator.process, **running}
        for name, process in running.items():
            if process.poll() is not None:
                raise ComponentFailure(
                    f"{name} exited early with code {process.returncode} (see {self.home / name}.log)"
                )

    def stop(self, name: str, sig: signal.Signals = signal.SIGTERM, leader_only: bool = False) -> int | None:
        """Stop one component (its whole process group): ``sig``, up to STOP_SECONDS, then SIGKILL.

        ``leader_only`` sends ``sig`` to the component's own process alone, as an operator's ``kill`` does,
        and leaves stopping its children (the triggerer's runner, the scheduler's workers) to it."""
        process = self.started.pop(name)
        if leader_only:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
        else:
            _signal(process, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
        _signal(process, signal.SIGKILL)  # the group too: a leader that has exited may leave workers behind
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        return process.returncode

    def stop_all(self) -> None:
        """SIGTERM each process group, give them STOP_SECONDS together, then SIGKILL what is left."""
        for process in self.started.values():
            _signal(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        try:
            if self.emulator is not None:
                self.emulator.stop()  # SIGTERM, up to its stop_timeout (it takes well under one), SIGKILL
        finally:
            for process in self.started.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
            for process in self.started.values():
                _signal(process, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
            self.started.clear()


# ``python -c`` for the triggerer: ``airflow triggerer`` with round-robin real-time scheduling, priority 1,
# as if it had CPUs of its own (else nice -10; else nothing, not root), and the runner it forks (Airflow 3)
# at priority 2, above its supervisor. Airflow's watchdog measures the loop in wall time: with nice -10
# alone, a 3.2.2 runner beside a make test line and make bench (load 4-5) logged "blocked for 0.23 seconds"
# with no slow callback and no collection in it, the process waiting for a core; at equal real-time
# priority, a supervisor's garbage collections (0.2-0.4 s on 3.2 and 3.3 as it builds its in-process
# execution API) and another run's triggerer took both cores while the runner's loop waited ("blocked for
# 0.20" and "0.26" on 3.3.2, two e2e runs side by side under load). What the checks are for, a trigger or a
# collection holding the loop or the GIL, stops the loop whatever the scheduling, so it still fails them.
# Linux keeps 5% of each second for other processes (sched_rt_runtime_us). On 2.11 the triggers run in a
# thread of the triggerer itself, which nothing forks.
_RUNNER_FIRST = """
import os, runpy, sys

def first(priority):
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(priority))
    except (AttributeError, OSError):
        try:
            os.setpriority(os.PRIO_PROCESS, 0, -10)
        except OSError:
            pass

first(1)
os.register_at_fork(after_in_child=lambda: first(2))
sys.argv[0] = "airflow"
runpy.run_module("airflow", run_name="__main__", alter_sys=True)
"""


def _signal(process: subprocess.Popen[Any], sig: signal.Signals) -> None:
    # Each was started with start_new_session, so its pid is its process group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def start_emulator(processes: Processes, *args: str, name: str = "emulator") -> EmulatorProcess:
    """Start the emulator (its output in ``<name>.log``, its request log in ``<name>-requests.jsonl``);
    ``processes`` stops it with the rest."""
    home = processes.home
    files = ("--state-dir", str(home / name), "--request-log", str(home / f"{name}-requests.jsonl"))
    return _run_emulator(processes, [*args, *files], home / f"{name}.log")


def restart_emulator(processes: Processes, down: float = 0.0) -> EmulatorProcess:
    """Stop the emulator (SIGTERM: it writes its ``--state-file``), leave it down ``down`` seconds, and start
    it again with the same command line, on the same port: clients reach the same address with the same
    connection."""
    old = processes.emulator
    assert old is not None
    assert old.process is not None
    port = old.url.rsplit(":", 1)[1]
    command = old.command[3:]  # after `<python> -m <module>`
    if "--port" in command:
        command[command.index("--port") + 1] = port
    else:
        command += ["--port", port]
    old.stop()
    time.sleep(down)
    log = old.log_file.with_name(f"{old.log_file.stem}-restarted.log") if old.log_file else None
    return _run_emulator(processes, command, log)


def _run_emulator(processes: Processes, args: list[str], log: Path | None) -> EmulatorProcess:
    processes.emulator = EmulatorProcess(
        *args, log_file=log, start_timeout=30, stop_timeout=STOP_SECONDS, start_new_session=True
    )
    try:
        return processes.emulator.start()
    except EmulatorProcessError as error:
        raise ComponentFailure(str(error)) from None


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean Airflow configuration in ``home``: nothing inherited from the caller's AIRFLOW_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            # Each connection waits up to 30 s for sqlite's write lock (sqlite3's default: 5 s). On a loaded
            # machine the 2.11 triggerer, stopped mid-wait, failed its last commit with "database is locked"
            # while the scheduler held the lock: Airflow's own traceback, which the checks rightly refuse.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout=30",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # One key for every component, as a deployment has: without it each process that finds no
            # airflow.cfg writes one with a key of its own, and a triggerer started later cannot read the
            # trigger kwargs the scheduler encrypted.
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "PYTHONUNBUFFERED": "1",
            # Airflow 2's executors run tasks as a bare `airflow tasks run ...`: it must be this one.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
    )
    if AIRFLOW_MAJOR >= 3:
        api_port = free_port()
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "2",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(api_port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                # Every component signs or checks the execution API's tokens: one secret for all.
                "AIRFLOW__API_AUTH__JWT_SECRET": "pcinsights-e2e-jwt-secret-for-a-throwaway-airflow",
                # 3.0 with the newest PyJWT: without an issuer its token endpoint answers 500.
                "AIRFLOW__API_AUTH__JWT_ISSUER": "pcinsights-e2e",
                "AIRFLOW__API__SECRET_KEY": "pcinsights-e2e-secret-key",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                # Strict: without it the triggerer serves a synchronous SDK call (get_connection,
                # mask_secret's comms) made on its event loop through a greenback portal, so a
                # trigger that blocked the loop that way would still pass. With it, such a call
                # raises "Sync SDK methods ... cannot be called from a trigger's async def run()";
                # calls from worker threads (asyncio.to_thread) work either way.
                "AIRFLOW_DISABLE_GREENBACK_PORTAL": "true",
            }
        )
    else:
        env["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"
        env["AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL"] = "5"
    env.update(extra)
    return env


def airflow(env: Mapping[str, str], *args: str, shown: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run an Airflow command; its output goes to ``<home>/airflow-cli.log``; ``shown`` stands for the
    arguments in that log and in messages (a connection's JSON carries secrets)."""
    log = Path(env["AIRFLOW_HOME"]) / "airflow-cli.log"
    shown = shown or " ".join(args)
    with log.open("a") as out:
        out.write(f"\n$ airflow {shown}\n")
        out.flush()
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
    if result.returncode != 0:
        raise ComponentFailure(f"airflow {shown} exited {result.returncode} (see {log})")
    return result


def migrate_database(home: Path, env: Mapping[str, str]) -> None:
    """Create the schema once per home and Airflow version; later runs reuse it."""
    marker = home / f".migrated-{AIRFLOW_VERSION}"
    if marker.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        timeout=300,
    )
    marker.touch()


def query(home: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read Airflow's sqlite database (read-only; the components keep writing)."""
    database = home / "airflow.db"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
            return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # locked for a moment, or the table is not there yet
        return []


def wait_until(what: str, seconds: float, processes: Processes, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        processes.check_alive()
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise ComponentFailure(f"timed out after {seconds:.0f}s waiting for {what}")


def api_server_ready(env: Mapping[str, str]) -> bool:
    url = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}/api/v2/monitor/health"
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def components() -> list[str]:
    """The components this Airflow line needs to run DAGs with deferrable tasks."""
    return ["scheduler", "triggerer", *(["dag-processor", "api-server"] if AIRFLOW_MAJOR >= 3 else [])]


def triggerer_running(home: Path, since: float = 0.0) -> bool:
    """A triggerer job is running (and, with ``since``, has beaten since then: a new one after a restart)."""
    rows = query(
        home, "SELECT latest_heartbeat FROM job WHERE job_type = 'TriggererJob' AND state = 'running'"
    )
    return any(_timestamp(row[0]) >= since for row in rows) if since else bool(rows)


def _timestamp(value: Any) -> float:
    from datetime import datetime, timezone

    if value is None:
        return 0.0
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def start_components(processes: Processes, env: dict[str, str], dag_ids: list[str]) -> list[str]:
    """Start the components and wait until the DAGs are parsed, a triggerer runs and the API answers."""
    names = components()
    if AIRFLOW_MAJOR >= 3:
        _start_api_server(processes, env)
    for name in names:
        if name not in processes.started:
            processes.start_airflow(name, env)
    home = processes.home
    for dag_id in dag_ids:
        wait_until(
            f"DAG {dag_id} to be parsed",
            STARTUP_SECONDS,
            processes,
            lambda dag_id=dag_id: query(home, "SELECT 1 FROM dag WHERE dag_id = ?", dag_id),
        )
    wait_until("a running triggerer", STARTUP_SECONDS, processes, lambda: triggerer_running(home))
    if AIRFLOW_MAJOR >= 3:
        wait_until("the api-server", STARTUP_SECONDS, processes, lambda: api_server_ready(env))
    return names


def _start_api_server(processes: Processes, env: dict[str, str], attempts: int = 3) -> None:
    """Start the api-server first, on a port of its own: if something outside these scripts bound that
    port first, another port is taken (``env`` changed in place, before any other component reads it)."""
    log = processes.home / "api-server.log"
    for attempt in range(1, attempts + 1):
        offset = log.stat().st_size if log.exists() else 0
        processes.start_airflow("api-server", env)
        try:
            wait_until("the api-server", STARTUP_SECONDS, processes, lambda: api_server_ready(env))
            return
        except ComponentFailure:
            with log.open(errors="replace") as handle:
                handle.seek(offset)
                bind_failed = "address already in use" in handle.read().lower()
            if not bind_failed or attempt == attempts:
                raise
            processes.stop("api-server")
            port = free_port()
            env["AIRFLOW__API__PORT"] = str(port)
            env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"


def error_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [
        line.strip()[:300]
        for line in path.read_text(errors="replace").splitlines()
        if ERROR_PATTERNS.search(line)
    ]


class Interrupted(BaseException):
    """SIGTERM: unwind through the ``finally`` blocks that stop everything."""


def say(text: str = "") -> None:
    print(text, flush=True)


def run_check(
    home: Path,
    title: str,
    check: Callable[[Processes], list[str]],
    *,
    ok: str,
    figures: dict[str, Any],
    logs: tuple[str, ...] = (),
    show_failure: Callable[[], None] | None = None,
    cleanup: Callable[[], None] | None = None,
) -> int:
    """The ``main()`` of a script that checks the provider under Airflow's real components.

    Starts from an empty ``home``, runs ``check`` (the problems it found; none is a pass) and
    prints one verdict: ``OK: <ok>``, ``FAILED`` with the problems (or, when a component failed,
    the error lines of the named ``logs``, or what ``show_failure`` prints), or ``INTERRUPTED``.
    Whatever happens, SIGTERM and Ctrl-C included, every process is stopped (then ``cleanup``),
    and ``figures`` (what ``check`` measured, with the time it all took) is printed.
    Returns the exit status: 0, 1, or 130 when interrupted.
    """

    def interrupted(signum: int, frame: Any) -> None:
        raise Interrupted(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    say(f"== {title}")
    processes = Processes(home)
    started = time.monotonic()
    verdict = 1
    try:
        problems = check(processes)
        if problems:
            say("\nFAILED:\n - " + "\n - ".join(problems))
        else:
            say(f"\nOK: {ok}")
            verdict = 0
    except ComponentFailure as failure:
        say(f"\nFAILED: {failure}")
        if show_failure is not None:
            show_failure()
        for name in logs:
            found = error_lines(home / f"{name}.log")
            if found:
                say(f"   {name}.log errors:\n      " + "\n      ".join(found[-10:]))
    except Exception:
        say("\nFAILED: the check itself broke:\n" + traceback.format_exc())
    except (KeyboardInterrupt, Interrupted) as stop:
        say(f"\nINTERRUPTED ({str(stop) or 'Ctrl-C'})")
        verdict = 130
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short (it is bounded anyway).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stopping = time.monotonic()
        processes.stop_all()
        if cleanup is not None:
            cleanup()
        figures["stop s"] = round(time.monotonic() - stopping)
        figures["total s"] = round(time.monotonic() - started)
        say(
            "   figures: "
            + json.dumps({k: round(v) if isinstance(v, float) else v for k, v in figures.items()})
        )
        say(f"   logs: {home}/")
    return verdict
