"""Scenario 5: no secret in anything captured, with DEBUG logging on for every logger.

The emulator runs here; the Airflow side runs in a child process
(``secrets_child``) started with ``AIRFLOW__LOGGING__LOGGING_LEVEL=DEBUG`` and
every logger set to DEBUG, so Airflow, MSAL, urllib3 and the provider all say
everything they would. It runs a DAG holding, for each auth type (client secret,
certificate, federated assertion, refresh token), the pause, resume and download
operators and both sensors (status and export) in poke, reschedule and deferrable
mode, with ``dag.test()``; and calls the hook, the sensors' deferrals, both
triggers and the download directly. It does so on success and on
each failure path (a wrong credential, no Partner Center role, no multi-factor
sign-in, a 401 and a fresh sign-in, the API and the token endpoint quoting the
request back, 5xx, 429 and dropped connections for ever, unknown and Inactive
reports). The sign-in helper runs as its own process, approved, declined,
expired, with a wrong secret, printing or updating the stored connection.

Everything captured is then searched for every secret: the client secrets
(wrong ones too), every refresh and access token the emulator ever issued, the
certificate's private key, the federated assertion. Captured are the child's
stdout and stderr, every log record (raw, before any masking), Airflow's log
files, the exceptions (message, ``repr``, traceback), the database rows of every
run (XCom, rendered template fields, task instances with trigger events,
reschedules, triggers), the ``repr`` of every provider object, the serialized
trigger kwargs and events, and the sign-in helper's output. By design the helper
prints the new connection (secrets included) to standard output when asked to:
that output is the canary: the search must find the new refresh token there,
or it proves nothing.
"""

from __future__ import annotations

import json
import os
import re
import secrets as random_secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reliability_scenarios.harness import Stopwatch, connection_variable, dag_bundles, forget_sign_ins
from reliability_scenarios.outcome import Counts, ScenarioResult
from reliability_scenarios.secrets_dag import write_dag

SCRIPTS = Path(__file__).resolve().parents[1]
AUTH_TYPES = ("secret", "certificate", "assertion", "refresh_token")
HOOK_PARAMS = {"retries": 1, "backoff_factor": 0.05, "backoff_max": 0.1, "max_retry_after": 0.5}
TOKEN_PATH = "/oauth2/v2.0/token"
FOREVER = 100_000

# Every failure path: (name, what the child is told). Success comes first, then these.
FAILURES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("a wrong credential of each kind", {"conn_suffix": "_wrong"}),
    ("no Partner Center role (403)", {"conn_suffix": "_norole", "auth_types": ["secret"]}),
    (
        "a user without multi-factor sign-in (401 MFA)",
        {"conn_suffix": "_nomfa", "auth_types": ["refresh_token"]},
    ),
    ("a 401, then a fresh sign-in", {"faults": {"fail": {"count": 1, "status": 401}}, "expect": "success"}),
    ("the API quoting the request back", {"faults": {"echo": {"count": FOREVER, "status": 502}}}),
    (
        "the token endpoint quoting the form back",
        {"faults": {"echo": {"count": FOREVER, "status": 400, "path": TOKEN_PATH}}},
    ),
    ("the API failing (503) for ever", {"faults": {"fail": {"count": FOREVER, "status": 503}}}),
    ("throttled (429) for ever", {"faults": {"throttle": {"count": FOREVER, "retry_after": 0}}}),
    ("dropped connections for ever", {"faults": {"drop": {"count": FOREVER}}}),
    ("unknown reports (404)", {"unknown_reports": True}),
    ("Inactive reports", {"status": "Inactive"}),
)
# Where a secret is most at risk: the service, or the sign-in, quoting the request back.
FAST_FAILURES = ("the API quoting the request back", "the token endpoint quoting the form back")


@dataclass
class Secret:
    what: str
    value: str


@dataclass
class Found:
    where: str
    what: str
    upstream: str | None = None  # not the provider's: whose line it is, and why


# Lines that carry a secret through no doing of the provider, and which are known and explained.
UPSTREAM = (
    (
        re.compile(r"Sending request\s.*msg=MaskSecret\(value="),
        "Airflow 3's dag.test() runs tasks with an in-process supervisor whose comms log every message at "
        "DEBUG (InProcessSupervisorComms.send, airflow/sdk/execution_time/supervisor.py), mask_secret's "
        "MaskSecret(value=...) included, unmasked: the provider registers each secret for masking, and "
        "that very call is logged. The real supervisor of a deployment logs that message's type only "
        '("Received message from task runner (body omitted)")',
    ),
)


@dataclass
class Searched:
    files: int = 0
    lines: int = 0
    bytes: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def _stranger_pem(folder: Path) -> Path:
    """A key and self-signed certificate no app in the emulator's tenant registered: a wrong certificate."""
    from airflow_provider_pcinsights.emulator.tls import stranger_pem

    path = folder / "stranger.pem"
    path.write_bytes(stranger_pem())
    return path


def _key_lines(pem_path: Path) -> list[str]:
    """The base64 lines of the private key in a PEM: any of them in captured text is the key leaking."""
    lines, inside = [], False
    for line in pem_path.read_text().splitlines():
        if "PRIVATE KEY-----" in line:
            inside = "BEGIN" in line
            continue
        if inside and len(line.strip()) >= 40:
            lines.append(line.strip())
    return lines


@dataclass
class Bench:
    emu: Any
    workdir: Path
    wrong: dict[str, str] = field(default_factory=dict)  # wrong credentials: secrets all the same
    key_pems: list[Path] = field(default_factory=list)

    def connections(self) -> dict[str, dict[str, Any]]:
        emu = self.emu
        stranger = _stranger_pem(self.workdir)
        forged = self.workdir / "forged-assertion.jwt"
        forged.write_text(
            f"eyJhbGciOiJSUzI1NiJ9.{random_secrets.token_urlsafe(60)}.{random_secrets.token_urlsafe(40)}"
        )
        self.wrong = {
            "a wrong client secret": f"wrong-secret-{random_secrets.token_urlsafe(24)}",
            "an unknown refresh token": f"0.emu.not-one-entra-issued-{random_secrets.token_urlsafe(40)}",
            "a forged federated assertion": forged.read_text(),
        }
        self.key_pems = [Path(emu.certificate_path), stranger]
        good = {
            "secret": emu.connection(program="cmp", auth_type="client_credentials"),
            "certificate": emu.connection(program="cmp", certificate_path=emu.certificate_path),
            "assertion": emu.connection(program="cmp", client_assertion_file=emu.client_assertion_file),
            "refresh_token": emu.connection(program="mpn"),
        }
        wrong = {
            "secret": emu.connection(program="cmp", password=self.wrong["a wrong client secret"]),
            "certificate": emu.connection(program="cmp", certificate_path=str(stranger)),
            "assertion": emu.connection(program="cmp", client_assertion_file=str(forged)),
            "refresh_token": emu.connection(
                program="mpn", refresh_token=self.wrong["an unknown refresh token"]
            ),
        }
        connections = {f"pcinsights_{auth}": conn for auth, conn in good.items()}
        connections.update({f"pcinsights_{auth}_wrong": conn for auth, conn in wrong.items()})
        connections["pcinsights_secret_norole"] = emu.connection(
            program="cmp", login=emu.unauthorized_client_id, password=emu.unauthorized_client_secret
        )
        connections["pcinsights_refresh_token_nomfa"] = emu.connection(
            program="mpn", refresh_token=emu.new_refresh_token(mfa=False)
        )
        return connections

    def secrets(self) -> list[Secret]:
        emu = self.emu
        found = [
            Secret("the client secret", emu.client_secret),
            Secret("the no-role client secret", emu.unauthorized_client_secret),
            Secret("the federated assertion", Path(emu.client_assertion_file).read_text().strip()),
        ]
        found += [Secret(what, value) for what, value in self.wrong.items()]
        for token in emu.tokens.known_tokens():
            kind = "a refresh token" if token.startswith("0.emu.") else "an access token"
            found.append(Secret(kind, token))
        for pem in self.key_pems:
            found += [Secret("a certificate's private key", line) for line in _key_lines(pem)]
        unique: dict[str, Secret] = {}
        for secret in found:
            unique.setdefault(secret.value, secret)
        return list(unique.values())


def _reports(emu: Any) -> dict[str, dict[str, Any]]:
    """Five reports of its own per auth type (a list to pause, and one per sensor mode to wait for)."""
    cmp_ids, mpn_ids = emu.report_ids("cmp"), emu.report_ids("mpn")
    plan = {}
    for index, auth in enumerate(AUTH_TYPES):
        program, pool = ("mpn", mpn_ids) if auth == "refresh_token" else ("cmp", cmp_ids[5 * index :])
        plan[auth] = {"program": program, "ids": pool[:2], "waited": pool[2:5]}
    return plan


def _cases(size: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = [
        {"name": "success, every auth type (DAG run)", "how": "dag", "expect": "success"},
        {"name": "success, every auth type (direct calls)", "how": "direct"},
    ]
    for name, spec in FAILURES:
        if size == "fast" and name not in FAST_FAILURES:
            continue
        cases.append({"name": f"{name} (DAG run)", "how": "dag", "expect": "failed", **spec})
        cases.append({"name": f"{name} (direct calls)", "how": "direct", **spec})
    return cases


def _child_environment(bench: Bench, connections: dict[str, dict[str, Any]]) -> dict[str, str]:
    dags = bench.workdir / "dags"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update({connection_variable(conn_id): json.dumps(conn) for conn_id, conn in connections.items()})
    env.update(
        {
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
            "AIRFLOW__LOGGING__FAB_LOGGING_LEVEL": "DEBUG",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            **dag_bundles(dags, "pcinsights-reliability-secrets"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONPATH": os.pathsep.join([str(SCRIPTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _database(env: dict[str, str]) -> str:
    url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if not url.startswith("sqlite:///"):
        raise RuntimeError(f"the secrets scan reads Airflow's sqlite database; got {url or 'no database'}")
    return url.removeprefix("sqlite:///")


# ---------------------------------------------------------------------------------- the sign-in helper


@dataclass
class HelperRun:
    name: str
    code: int | None
    stdout: Path
    stderr: Path
    canary: bool  # asked to print the connection: its stdout holds the new refresh token by design


def _sign_in_runs(bench: Bench, env: dict[str, str], size: str) -> list[HelperRun]:
    emu = bench.emu
    base = [
        *("--authority-host", emu.url, "--verify", emu.ca_path, "--host", emu.url, "--timeout", "30"),
    ]
    by_args = [*("--tenant-id", emu.tenant_id, "--client-id", emu.client_id)]
    plans: list[tuple[str, list[str], dict[str, str], str, bool]] = [
        ("approved, printing the connection", [*by_args, *base], {}, "approve", True),
    ]
    if size == "full":
        plans += [
            ("declined", [*by_args, *base], {}, "decline", False),
            ("expired", [*by_args, *base], {}, "expire", False),
            (
                "a wrong client secret",
                [*by_args, *base],
                {"PCINSIGHTS_CLIENT_SECRET": bench.wrong["a wrong client secret"]},
                "none",
                False,
            ),
            (
                "with the certificate",
                [*by_args, *base, "--certificate-path", emu.certificate_path],
                {},
                "approve",
                True,
            ),
            (
                "with the federated assertion",
                [*by_args, *base, "--client-assertion-file", emu.client_assertion_file],
                {},
                "approve",
                True,
            ),
            (
                "updating the stored connection",
                ["--conn-id", "pcinsights_signin_stored", "--update", *base],
                {},
                "approve",
                False,
            ),
        ]
        _store_connection(env, emu)
    runs = []
    for index, (name, args, extra_env, person, canary) in enumerate(plans):
        run_env = {"PCINSIGHTS_CLIENT_SECRET": emu.client_secret, **env, **extra_env}
        stdout, stderr = bench.workdir / f"signin-{index}.out", bench.workdir / f"signin-{index}.err"
        runs.append(_sign_in(name, args, run_env, stdout, stderr, emu, person, canary))
    return runs


def _run(
    args: list[str], env: dict[str, str], stdout: Path, stderr: Path, *, timeout: float
) -> subprocess.CompletedProcess[bytes]:
    """This Python with ``args``, its output into the two files (all of it is searched)."""
    with stdout.open("w") as out, stderr.open("w") as err:
        return subprocess.run(
            [sys.executable, *args],
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )


def _store_connection(env: dict[str, str], emu: Any) -> None:
    """The connection --update rewrites, in Airflow's database, as `airflow connections add` stores it."""
    conn = emu.connection(program="mpn", auth_type="client_credentials")
    for args in (
        ["connections", "delete", "pcinsights_signin_stored"],
        ["connections", "add", "pcinsights_signin_stored", "--conn-json", json.dumps(conn)],
    ):
        subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )


def _sign_in(
    name: str,
    args: list[str],
    env: dict[str, str],
    stdout: Path,
    stderr: Path,
    emu: Any,
    person: str,
    canary: bool,
) -> HelperRun:
    """Run the helper as its own process; this thread plays the person at the browser."""

    earlier = set(emu.device_codes.pending())  # codes of earlier runs nobody answered: not this one's

    def browser() -> None:
        if person == "none":
            return
        deadline = time.monotonic() + 60
        while not (fresh := [c for c in emu.device_codes.pending() if c not in earlier]):
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)
        code = fresh[-1]
        {
            "approve": emu.approve_device_code,
            "decline": emu.decline_device_code,
            "expire": emu.expire_device_code,
        }[person](code)

    person_thread = threading.Thread(target=browser, daemon=True)
    person_thread.start()
    process = _run(["-m", "airflow_provider_pcinsights.signin", *args], env, stdout, stderr, timeout=180)
    person_thread.join(timeout=5)
    return HelperRun(name, process.returncode, stdout, stderr, canary)


# ---------------------------------------------------------------------------------- the search


def _captured_files(bench: Bench, airflow_logs: Path | None, since: float) -> list[tuple[str, Path]]:
    files = [(f"captured {path.stem}", path) for path in sorted((bench.workdir / "captured").glob("*.txt"))]
    files += [
        ("the child's stdout", bench.workdir / "child.out"),
        ("the child's stderr", bench.workdir / "child.err"),
    ]
    if airflow_logs and airflow_logs.is_dir():
        files += [
            ("Airflow's log files", path)
            for path in sorted(airflow_logs.rglob("*"))
            if path.is_file() and path.stat().st_mtime >= since
        ]
    return files


def _search(files: list[tuple[str, Path]], secrets: list[Secret], searched: Searched) -> list[Found]:
    """Every (file, secret) found; a line that only a known upstream pattern explains is marked so."""
    found = []
    for kind, path in files:
        text = path.read_text(errors="replace")
        searched.files += 1
        searched.lines += text.count("\n")
        searched.bytes += len(text)
        searched.by_kind[kind] = searched.by_kind.get(kind, 0) + 1
        present = [secret for secret in secrets if secret.value and secret.value in text]
        if not present:
            continue
        lines = [line for line in text.splitlines() if any(s.value in line for s in present)]
        for secret in present:
            whose = {_upstream(line) for line in lines if secret.value in line}
            if None in whose:
                found.append(Found(f"{kind} ({path.name})", secret.what))
            for reason in sorted(w for w in whose if w):
                found.append(Found(f"{kind} ({path.name})", secret.what, upstream=reason))
    return found


def _upstream(line: str) -> str | None:
    return next((reason for pattern, reason in UPSTREAM if pattern.search(line)), None)


@dataclass
class Runs:
    correct: int = 0  # tasks that ended as their case expects (all succeed, or all fail)
    total: int = 0
    reschedules: int = 0
    deferrals: int = 0


def _judge_runs(cases: list[dict[str, Any]], workdir: Path, result: ScenarioResult) -> Runs:
    """Each DAG run ended as its case expects, and its sensors really rescheduled and deferred: a scan of
    runs that failed for another reason, or never waited, would prove little."""
    runs = Runs()
    states_file = workdir / "states.jsonl"
    recorded = (
        [json.loads(line) for line in states_file.read_text().splitlines()] if states_file.exists() else []
    )
    by_case = {entry["case"]: entry for entry in recorded}
    sections = (workdir / "child.out").read_text(errors="replace").split("== case ")
    deferrals = {section.split("\n", 1)[0]: section.count("running trigger in line") for section in sections}
    for case in cases:
        if case["how"] != "dag":
            continue
        entry = by_case.get(case["name"])
        if entry is None:
            result.problem(f"{case['name']}: the DAG run left no task states")
            continue
        # A task that never ran because the one before it failed is as good as failed.
        ended = {t: "failed" if s == "upstream_failed" else s for t, s in entry["states"].items()}
        wrong = {task: state for task, state in ended.items() if state != case["expect"]}
        runs.total += len(entry["states"])
        runs.correct += len(entry["states"]) - len(wrong)
        if wrong:
            result.problem(f"{case['name']}: tasks did not end {case['expect']}: {wrong}")
        if case["expect"] == "success":
            runs.reschedules += entry["reschedules"]
            runs.deferrals += deferrals.get(case["name"], 0)
            # The status sensor reschedules and defers for each auth type; the execution sensor defers at
            # least once (the emulator's one clock runs every report's export: the first wait completes
            # the others').
            if entry["reschedules"] < len(AUTH_TYPES) or deferrals.get(case["name"], 0) < len(AUTH_TYPES) + 1:
                result.problem(
                    f"{case['name']}: the sensors rescheduled {entry['reschedules']} and deferred "
                    f"{deferrals.get(case['name'], 0)} times, too few to have waited in every mode"
                )
    return runs


def run(size: str = "full") -> ScenarioResult:
    clock = Stopwatch()
    result = ScenarioResult(number=5, title="Secrets", size=size)
    started = time.time()
    from emulator_extras import admin

    from airflow_provider_pcinsights.emulator import Emulator

    # PCINSIGHTS_RELIABILITY_KEEP=1 keeps the captured files, to read what a search found.
    keep = os.environ.get("PCINSIGHTS_RELIABILITY_KEEP") == "1"
    workdir = Path(tempfile.mkdtemp(prefix="pcinsights-secrets-"))
    try:
        requests_log = workdir / "requests.jsonl"
        forget_sign_ins()
        # The child process (secrets_child) steers it through the admin endpoints.
        with admin.attach(Emulator(reports=15, device_code_interval=1)) as emu:
            emu.request_log.path = requests_log
            bench = Bench(emu=emu, workdir=workdir)
            connections = bench.connections()
            env = _child_environment(bench, connections)
            reports = _reports(emu)
            write_dag(
                workdir / "dags",
                list(AUTH_TYPES),
                HOOK_PARAMS,
                {
                    "conns": {auth: f"pcinsights_{auth}" for auth in AUTH_TYPES},
                    "reports": reports,
                    "downloads": str(workdir / "downloads"),
                },
            )
            cases = _cases(size)
            plan = {
                "url": emu.url,
                "ca_path": emu.ca_path,
                "reports": reports,
                "cases": cases,
                "hook_params": HOOK_PARAMS,
                "dags_folder": str(workdir / "dags"),
                "database": _database(env),
                "states": str(workdir / "states.jsonl"),
                "downloads": str(workdir / "downloads"),
            }
            (workdir / "plan.json").write_text(json.dumps(plan))
            child = _run(
                ["-m", "reliability_scenarios.secrets_child", str(workdir)],
                env,
                workdir / "child.out",
                workdir / "child.err",
                timeout=900,
            )
            if child.returncode != 0:
                tail = (workdir / "child.err").read_text(errors="replace")[-2000:]
                result.problem(f"the Airflow side exited {child.returncode}: {tail}")
            helper_runs = _sign_in_runs(bench, env, size)
            secrets = bench.secrets()
        faulted = sum(1 for line in requests_log.read_text().splitlines() if json.loads(line).get("fault"))
        runs = _judge_runs(cases, workdir, result)
        searched = Searched()
        home = os.environ.get("AIRFLOW_HOME")
        files = _captured_files(bench, Path(home) / "logs" if home else None, started)
        files += [(f"the sign-in helper's stderr ({run.name})", run.stderr) for run in helper_runs]
        files += [
            (f"the sign-in helper's stdout ({run.name})", run.stdout) for run in helper_runs if not run.canary
        ]
        found = _search(files, secrets, searched)
        canaries = [
            run
            for run in helper_runs
            if run.canary
            and any(s.what == "a refresh token" and s.value in run.stdout.read_text() for s in secrets)
        ]
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    asked_to_print = [run for run in helper_runs if run.canary]
    for run in helper_runs:
        expected_code = 0 if run.name.startswith(("approved", "with the", "updating")) else 1
        if run.code != expected_code:
            result.problem(f"the sign-in helper ({run.name}) exited {run.code}, not {expected_code}")
    if len(canaries) != len(asked_to_print):
        result.problem(
            "the canary failed: the helper's printed connection should hold the new refresh token and the "
            f"search found it in {len(canaries)} of {len(asked_to_print)} such outputs"
        )
    own = [hit for hit in found if hit.upstream is None]
    upstream = [hit for hit in found if hit.upstream is not None]
    for hit in own:
        result.problem(f"{hit.what} found in {hit.where}")
    if keep:
        result.notes.append(f"captured files kept in {workdir}")
    kinds = sorted({s.what for s in secrets})
    dag_runs = sum(case["how"] == "dag" for case in cases)
    result.tried = (
        f"{len(cases)} cases in an Airflow process with every logger at DEBUG ({dag_runs} "
        "DAG runs, each with the pause, resume and download operators and both sensors in poke, reschedule "
        "and deferrable mode for each of "
        f"{len(AUTH_TYPES)} auth types; the rest direct calls of hook, sensors, triggers and download), "
        "success and "
        f"{dag_runs - 1} failure paths, and {len(helper_runs)} runs of the "
        f"sign-in helper; {len(secrets)} secret values ({', '.join(kinds)}) searched for in {searched.files} "
        f"files, {searched.lines:,} lines ({searched.bytes / 1e6:.1f} MB) of log records, exceptions and "
        "tracebacks, database rows (XCom, rendered fields, trigger events), reprs and trigger kwargs"
    )
    result.counts = Counts(
        actions=len(cases) + len(helper_runs),
        faults_injected=faulted,
        final_states_correct=runs.correct,
        final_states_total=runs.total,
        secrets_found=len(own),
    )
    if upstream:
        reasons = sorted({hit.upstream for hit in upstream if hit.upstream})
        kinds_found = sorted({hit.what for hit in upstream})
        result.notes.append(
            f"Not counted as the provider's: {len(upstream)} finding(s) ({', '.join(kinds_found)}) on lines "
            "no provider code writes. " + " ".join(reasons)
        )
    result.details = [
        "| captured | files |",
        "|---|---|",
        *(f"| {kind} | {count} |" for kind, count in sorted(searched.by_kind.items())),
        "",
        "Cases: " + "; ".join(case["name"] for case in cases) + ".",
        "",
        "Sign-in helper runs: " + "; ".join(f"{run.name} (exit {run.code})" for run in helper_runs) + ".",
        "",
        f"Canary: the helper's printed connection held the new refresh token in {len(canaries)} of "
        f"{len(asked_to_print)} runs asked to print it (the search finds what is there).",
        "",
        f"Final states correct: tasks of the DAG runs that ended as their case expects (every task "
        f"succeeds on the success paths, every task fails on the failure paths); in the runs that succeed "
        f"the sensors rescheduled {runs.reschedules} times and deferred {runs.deferrals} times.",
    ]
    result.extra = {
        "found": own,
        "upstream": upstream,
        "searched": searched,
        "secrets": len(secrets),
        "canaries": len(canaries),
    }
    result.seconds = clock.seconds
    return result
