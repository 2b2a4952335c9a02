"""The two-chain DAG of issue 14: two pauses share a report, each restore is the teardown of its pause.

``pause_a >> pause_b >> backfill_a >> restore_a >> backfill_b >> restore_b``: the
report both pauses hold must stay ``Paused`` until ``restore_b``, the last holder,
gives it back. Each backfill records the statuses it sees while it runs (through
the hook, from the emulator); a last task records what each restore returned.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, get_current_context, task

from airflow_provider_pcinsights.operators.report import PauseReportOperator, ResumeReportOperator

SEEN: dict[str, dict[str, str]] = {}
RETURNED: dict[str, list] = {}
NO_RETRIES = {"retries": 0}


def _statuses(ids: list[str]) -> dict[str, str]:
    from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook

    hook = PartnerCenterInsightsHook(retries=0)
    return {rid: hook.get_report(rid)["ReportStatus"] for rid in ids}


with DAG(
    dag_id="pcinsights_test_two_chains",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    render_template_as_native_obj=True,
    params={"a": [], "b": []},
) as two_chains:
    pauses = {
        chain: PauseReportOperator(
            task_id=f"pause_{chain}",
            report_id=f"{{{{ params.{chain} }}}}",
            max_concurrency=1,
            hook_params=NO_RETRIES,
        )
        for chain in "ab"
    }
    restores = {
        chain: ResumeReportOperator(
            task_id=f"restore_{chain}", paused_by=f"pause_{chain}", max_concurrency=1, hook_params=NO_RETRIES
        )
        for chain in "ab"
    }

    @task
    def backfill_a(params: dict | None = None) -> None:
        SEEN["backfill_a"] = _statuses(sorted({*params["a"], *params["b"]}))

    @task
    def backfill_b(params: dict | None = None) -> None:
        SEEN["backfill_b"] = _statuses(sorted({*params["a"], *params["b"]}))

    @task(trigger_rule="all_done")
    def collect() -> None:
        ti = get_current_context()["ti"]
        for chain in "ab":
            RETURNED[chain] = ti.xcom_pull(task_ids=f"restore_{chain}")

    (
        pauses["a"]
        >> pauses["b"]
        >> backfill_a()
        >> restores["a"].as_teardown(setups=pauses["a"])
        >> backfill_b()
        >> restores["b"].as_teardown(setups=pauses["b"])
        >> collect()
    )
