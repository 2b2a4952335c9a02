"""`make bench`: the provider's speed and memory goals, each a ratio measured side by side in one run.

1. DAG parse cost. Every DAG file that uses the operators imports them at every
   parse. Measured: a fresh interpreter importing the example DAG, against the
   same import plus msal and requests (what eager imports would cost).
2. Token reuse. Hooks share one token per credential and process. Measured:
   N hook instances each reading a report with the shared cache, against the
   same with the cache dropped before each hook (a sign-in per task).
3. Concurrency. A list of reports is handled max_concurrency at a time.
   Measured: pausing the same reports with max_concurrency=1 and =4 while the
   emulator adds latency to every call.

Absolute numbers depend on the machine; the ratios are the claims.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = 5


def _environment() -> dict[str, str]:
    home = Path(tempfile.mkdtemp(prefix="pcinsights-bench-"))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }
    os.environ.update(env)
    return env


def _import_probe(extra_imports: str, env: dict[str, str]) -> tuple[float, int]:
    """Seconds to import the example DAG in a fresh interpreter, and its peak RSS in KiB."""
    code = (
        "import resource, runpy, time\n"
        "start = time.perf_counter()\n"
        f"{extra_imports}\n"
        f"runpy.run_path({str(REPO / 'example_dags' / 'example_pause_reports_for_backfill.py')!r})\n"
        "elapsed = time.perf_counter() - start\n"
        "print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    # Airflow itself is imported first and outside the timed part: it is paid once per parser process.
    code = "import airflow, airflow.providers.common.compat.sdk\n" + code
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[-2]), int(out[-1])


def bench_parse_cost(env: dict[str, str]) -> dict[str, float]:
    lazy, eager = [], []
    for _ in range(RUNS):  # interleaved, so drift on the machine hits both sides alike
        lazy.append(_import_probe("", env))
        eager.append(_import_probe("import msal, requests", env))
    lazy_s = statistics.median(t for t, _ in lazy)
    eager_s = statistics.median(t for t, _ in eager)
    lazy_kib = statistics.median(m for _, m in lazy)
    eager_kib = statistics.median(m for _, m in eager)
    return {
        "parse_seconds_lazy": lazy_s,
        "parse_seconds_eager": eager_s,
        "parse_time_ratio_eager_over_lazy": eager_s / lazy_s,
        "peak_rss_kib_lazy": lazy_kib,
        "peak_rss_kib_eager": eager_kib,
        "peak_rss_ratio_eager_over_lazy": eager_kib / lazy_kib,
    }


def bench_token_reuse() -> dict[str, float]:
    from airflow_provider_pcinsights.emulator import Emulator
    from airflow_provider_pcinsights.hooks import _auth
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

    hooks = 20
    with Emulator(reports=1) as emu:
        # mpn as a real tenant signs in: App+User, a refresh token redeemed with the client secret.
        os.environ.update(emu.connection_env(program="mpn", auth_type="refresh_token"))
        report_id = emu.report_ids("mpn")[0]

        def run(shared: bool) -> tuple[float, int]:
            _auth.forget_all_token_sources()
            before = emu.token_requests()
            start = time.perf_counter()
            for _ in range(hooks):
                if not shared:
                    _auth.forget_all_token_sources()
                hook = PartnerCenterInsightsHook()
                hook.get_report(report_id)
                hook.close()
            return time.perf_counter() - start, emu.token_requests() - before

        shared_runs, fresh_runs = [], []
        for _ in range(3):
            shared_runs.append(run(shared=True))
            fresh_runs.append(run(shared=False))
    shared_s = statistics.median(t for t, _ in shared_runs)
    fresh_s = statistics.median(t for t, _ in fresh_runs)
    return {
        "hooks": hooks,
        "token_requests_shared": shared_runs[0][1],
        "token_requests_fresh": fresh_runs[0][1],
        "seconds_shared": shared_s,
        "seconds_fresh": fresh_s,
        "time_ratio_fresh_over_shared": fresh_s / shared_s,
    }


def bench_concurrency() -> dict[str, float]:
    from airflow_provider_pcinsights.emulator import Emulator
    from airflow_provider_pcinsights.operators.report import PauseReportOperator

    reports, latency = 16, 0.05
    with Emulator(reports=reports) as emu:
        os.environ.update(emu.connection_env(program="mpn", auth_type="refresh_token"))
        ids = emu.report_ids("mpn")
        emu.faults.latency = latency

        def run(max_concurrency: int) -> float:
            for rid in ids:
                emu.set_report_status("mpn", rid, "Active")
            operator = PauseReportOperator(task_id="bench", report_id=ids, max_concurrency=max_concurrency)
            start = time.perf_counter()
            operator.execute(context={})
            return time.perf_counter() - start

        serial, parallel = [], []
        for _ in range(3):
            serial.append(run(1))
            parallel.append(run(4))
    serial_s, parallel_s = statistics.median(serial), statistics.median(parallel)
    return {
        "reports": reports,
        "latency_per_call_s": latency,
        "seconds_max_concurrency_1": serial_s,
        "seconds_max_concurrency_4": parallel_s,
        "speedup_4_over_1": serial_s / parallel_s,
    }


def main() -> int:
    env = _environment()
    results = {
        "dag_parse": bench_parse_cost(env),
        "token_reuse": bench_token_reuse(),
        "concurrency": bench_concurrency(),
    }
    print(json.dumps(results, indent=2))
    parse, tokens, concurrency = results["dag_parse"], results["token_reuse"], results["concurrency"]
    print()
    print(
        f"DAG parse: eager msal+requests imports would cost {parse['parse_time_ratio_eager_over_lazy']:.1f}x "
        f"the time and {parse['peak_rss_ratio_eager_over_lazy']:.2f}x the peak memory of the lazy imports"
    )
    print(
        f"Token reuse: {tokens['hooks']} hooks signed in {tokens['token_requests_shared']} time(s) "
        f"instead of {tokens['token_requests_fresh']}; "
        f"{tokens['time_ratio_fresh_over_shared']:.1f}x faster than a sign-in per hook"
    )
    print(
        f"Concurrency: {concurrency['reports']} reports at {concurrency['latency_per_call_s']}s per call, "
        f"max_concurrency=4 is {concurrency['speedup_4_over_1']:.1f}x faster than 1"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
