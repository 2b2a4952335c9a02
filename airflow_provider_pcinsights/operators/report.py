"""Pause and resume scheduled reports from a DAG, and give back exactly what a pause took.

The operators only decide what to ask and what the answer means (with the
actions of :mod:`._actions`); every HTTP call goes through
:class:`~airflow_provider_pcinsights.hooks.insights.PartnerCenterInsightsHook`,
which is imported when a task runs, not when a DAG file is parsed.

A pause reads every report once, takes a hold on each report it pauses or finds
paused under another hold (:mod:`airflow_provider_pcinsights.holds`), written
before its first call, and pushes the ids it holds to XCom as
``paused_report_ids``; ``ResumeReportOperator(paused_by=...)`` releases those
holds and resumes each report no other live hold keeps paused. A report somebody
had paused before any hold stays paused, a killed and retried pause still knows
what its earlier tries held, and two runs (or DAGs) sharing a report resume it
once, when the last of them is done. A pause that fails on its last try gives its
holds back itself, since its teardown will not run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_pcinsights.exceptions import (
    PartnerCenterInsightsError,
    PauseRolledBackError,
    ReportActionError,
)
from airflow_provider_pcinsights.holds import POOL, Holder, HoldTable, run_is_live
from airflow_provider_pcinsights.operators._actions import Look, Prepare, ReportAction, status_before
from airflow_provider_pcinsights.operators.bulk import DEFAULT_CEILING
from airflow_provider_pcinsights.operators.download import DownloadReportOperator, InsightsOperator
from airflow_provider_pcinsights.report_ids import normalize_report_ids, validate_report_id
from airflow_provider_pcinsights.waiting import same_status, status_of

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


# The XCom key under which PauseReportOperator lists the reports it paused (public interface).
PAUSED_REPORT_IDS = "paused_report_ids"


__all__ = ["DownloadReportOperator", "PauseReportOperator", "ResumeReportOperator"]


class _ReportActionOperator(InsightsOperator):
    """What the pause and resume operators share: their arguments, checks and hook.

    :param report_id: one report id, or a list of ids (templated). One id gives
        one record; a list gives a list of records in the same order.
    :param conn_id: the ``pcinsights`` connection (templated).
    :param max_concurrency: the most reports of a list handled at once (default 12). Within it,
        the operator follows the service: a throttled call (HTTP 429) halves how many go at
        once, and successes grow it back slowly.
    :param hook_params: keyword arguments for the hook, such as ``retries`` or ``backoff_factor``.
    """

    template_fields: Sequence[str] = ("report_id", "conn_id")
    ui_color = "#d9e7f5"

    def __init__(
        self,
        *,
        report_id: str | list[str] | None,
        max_concurrency: int = DEFAULT_CEILING,
        holds: bool = True,
        **kwargs: Any,
    ) -> None:
        if holds:  # it changes the hold table: one such task at a time
            kwargs.setdefault("pool", POOL)
        super().__init__(**kwargs)
        self.report_id = report_id
        self.max_concurrency = max_concurrency

    def _act(
        self, name: str, report_ids: list[str], single: bool = False, prepare: Prepare | None = None
    ) -> dict[str, dict[str, Any]]:
        """Pause or resume (``name``) the reports: one batched read, then one call per report not in
        the wanted status yet; their records after, by id (see ``ReportAction.run``)."""
        limit = self.max_concurrency
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"max_concurrency must be an integer of at least 1, got {limit!r}")
        hook = self.make_hook()
        try:
            # Sign in once, up front: a wrong secret or connection fails the task with its own
            # error, instead of once per report, and the threads then share the cached token.
            hook.get_token()
            return ReportAction(name, self.log).run(hook, report_ids, limit, prepare, single=single)
        finally:
            hook.close()

    def _give_back(
        self, context: Context, table: HoldTable, holder: Holder, report_ids: list[str]
    ) -> GiveBack:
        """Release ``holder``'s holds on ``report_ids``: resume each report no other live hold keeps paused.

        Holds of DAG runs that have ended are treated as released first (said in the log). The
        resumes are sent before the table is written: a kill in between leaves the holds, and the
        next try resumes again (a no-op) and releases them; the other way round, a kill would leave
        a report Paused with no hold, as if a person had paused it.
        """
        table.drop_dead(report_ids, run_is_live(context, self.log), self.log, keep=holder)
        given = GiveBack()
        for rid in report_ids:
            others = [h for h in table.holders(rid) if h != holder]
            if others:
                given.still_held[rid] = others
                self.log.info("Report %s stays Paused: still held by %s", rid, ", ".join(map(str, others)))
        to_resume = [rid for rid in report_ids if rid not in given.still_held]
        if to_resume:
            try:
                given.resumed = self._act(
                    "resume",
                    to_resume,
                    prepare=lambda looks: given.befores.update(
                        {r: status_before(look) for r, look in looks.items()}
                    ),
                )
            except ReportActionError as partial:
                given.failures, given.resumed = partial.failures, partial.records
        for rid in report_ids:
            if rid not in given.failures:
                table.remove(rid, holder)
        table.save()
        return given


@dataclass
class GiveBack:
    """What releasing a task's holds did: resumed (and changed), still held by others, failed."""

    resumed: dict[str, dict[str, Any]] = field(default_factory=dict)  # report id -> its record after
    befores: dict[str, str | None] = field(default_factory=dict)
    still_held: dict[str, list[Holder]] = field(default_factory=dict)
    failures: dict[str, BaseException] = field(default_factory=dict)


class PauseReportOperator(_ReportActionOperator):
    """Pause the schedule of one or more reports, taking a hold on each; pausing a paused report succeeds.

    A pause is a *hold* (:mod:`airflow_provider_pcinsights.holds`): this task holds
    each report it moved from ``Active`` to ``Paused`` and each it found ``Paused``
    under another task's hold (another DAG run, another DAG), and the report stays
    paused until the last hold on it is released. A report ``Paused`` with no hold
    (paused by a person) is not held, and never resumed.

    Pushes XCom ``paused_report_ids``: the ids this task holds, in the order given,
    also when it fails part-way. It is what ``ResumeReportOperator(paused_by=<this
    task id>)`` gives back. A report whose status could not be read first is not
    paused, and the task fails naming it.

    Every report is read once, in one batched read; a report already ``Paused`` is
    not sent anything. Before the first pause is sent, the holds are written to the
    hold table (Airflow Variables, one write per shard changed), so the next try of
    this task, after a failure or a kill, still knows what an earlier try held. When
    the task fails and will not be retried (its last try, or an
    ``AirflowFailException``), it gives its holds back (resuming what no other hold
    keeps paused) before raising
    :class:`~airflow_provider_pcinsights.exceptions.PauseRolledBackError`: a failed
    setup gets no teardown. The task runs in the pool ``pcinsights_holds`` (one slot)
    unless given another ``pool``, so that no two tasks change the hold table at once.

    :param report_id: one report id, or a list of ids (templated).
    :param conn_id: the ``pcinsights`` connection (templated).
    :param max_concurrency: the most reports of a list paused at once (default 12); fewer while
        the service throttles.
    :param hook_params: keyword arguments for the hook, such as ``retries``.
    """

    def execute(self, context: Context) -> dict[str, Any] | list[dict[str, Any]]:
        report_ids, single = normalize_report_ids(self.report_id)
        me = Holder.of(context)
        table = HoldTable().load() if me else None
        earlier = table.held_by(me) if table and me else []
        if earlier:
            self.log.info(
                "An earlier try of this task paused %s; counting them as paused here", ", ".join(earlier)
            )
        # Ids an earlier try held that are not listed now (the list changed) are kept as they are.
        unlisted = {rid for rid in earlier if rid not in report_ids}
        befores: dict[str, str | None] = {}

        def prepare(looks: dict[str, Look]) -> dict[str, BaseException]:
            """After the read, before the first pause: write every hold about to be taken, at once."""
            befores.update({rid: status_before(look) for rid, look in looks.items()})
            unread: dict[str, BaseException] = {
                rid: PartnerCenterInsightsError(
                    f"Did not pause report {rid}: its status could not be read first, so a restore "
                    "could not tell whether to resume it",
                    report_id=rid,
                )
                for rid, look in looks.items()
                if look.error is None and look.value is None
            }
            if table is not None and me is not None:  # a kill right after a pause must not lose it
                # Paused under holds (even of runs that have ended, whose holds this one takes over):
                # paused by a task, not by a person.
                held = {rid for rid in report_ids if table.holders(rid)}
                table.drop_dead(report_ids, run_is_live(context, self.log), self.log, keep=me)
                for rid in report_ids:
                    status = befores[rid]
                    if rid not in unread and (
                        same_status(status, "Active") or (same_status(status, "Paused") and rid in held)
                    ):
                        table.add(rid, me)
                table.save()
            return unread

        def holds(report_id: str, record: Mapping[str, Any]) -> bool:
            """Paused now, and held by this task (outside a DAG run: moved from Active by it)."""
            if not same_status(status_of(record), "Paused"):
                return False
            if table is not None and me is not None:
                return me in table.holders(report_id)
            return same_status(befores.get(report_id), "Active")

        def in_order(ids: set[str]) -> list[str]:
            return [rid for rid in dict.fromkeys([*report_ids, *earlier]) if rid in ids]

        try:
            done = self._act("pause", report_ids, single, prepare)
        except Exception as exc:
            partial = exc.records if isinstance(exc, ReportActionError) else {}
            # What an earlier try held and this one could not confirm stays held: giving back a
            # report that turns out to be Active changes nothing.
            paused = in_order({rid for rid, record in partial.items() if holds(rid, record)} | set(earlier))
            if table is None or will_retry(context, exc):
                # Outside a DAG run (a direct execute() call) there is no try to come and no teardown
                # to skip: the error says which reports were paused, and the caller decides.
                if table is not None:
                    self.log.warning(
                        "Failed; the next try will count these as paused by this task: %s", paused
                    )
                self._push(context, paused)
                raise
            self._roll_back(context, table, paused, exc)
        paused = in_order({rid for rid, record in done.items() if holds(rid, record)} | unlisted)
        if table is not None and me is not None:
            for rid in table.held_by(me):
                if rid not in paused:  # written ahead, but not paused after all
                    table.remove(rid, me)
            table.save()
        self._push(context, paused)
        self.log.info("Paused by this task (to be restored): %s", ", ".join(paused) or "none")
        records = list(done.values())
        return records[0] if single else records

    def _push(self, context: Context, paused: list[str]) -> None:
        ti = (context or {}).get("ti")
        if ti is not None:
            ti.xcom_push(key=PAUSED_REPORT_IDS, value=list(paused))

    def _roll_back(self, context: Context, table: HoldTable, paused: list[str], exc: Exception) -> None:
        """Last try failed: give back this task's holds, then raise saying what was given back."""
        me = Holder.of(context)
        assert me is not None
        # The table also holds reports whose pause may or may not have been applied; resuming
        # one that is still Active changes nothing, so they are all given back.
        held = list(dict.fromkeys([*paused, *table.held_by(me)]))
        if not held:  # nothing was paused: a plain failure, not a roll-back
            raise exc
        self.log.warning("Last try failed: giving back the reports this task paused: %s", ", ".join(held))
        try:
            given = self._give_back(context, table, me, held)
        except Exception as sign_in:
            given = GiveBack(failures=dict.fromkeys(held, sign_in))
        left = [rid for rid in held if rid in given.failures]
        self._push(context, left)
        raise PauseRolledBackError.after(
            exc,
            rolled_back=[rid for rid in given.resumed if not same_status(given.befores.get(rid), "Active")],
            not_rolled_back=given.failures,
            still_held={rid: [str(h) for h in hs] for rid, hs in given.still_held.items()},
        ) from exc


class ResumeReportOperator(_ReportActionOperator):
    """Resume the schedule of one or more reports; resuming an active report succeeds.

    With ``paused_by``, it gives back what a ``PauseReportOperator`` took: it releases
    the holds that task took in this DAG run (its XCom ``paused_report_ids``; if that
    task left none, as a try killed on its last attempt would, the hold table), only
    on the ids also in ``report_id`` when that is given too, and resumes each report
    that no other live hold keeps paused. A report still held by another task (another
    DAG run, another DAG, another chain of this run) stays ``Paused``; the last holder
    to give it back resumes it. It returns one dict per report given back: the
    report's record after the resume, with ``resumed`` true, or ``{"ReportId",
    "ReportStatus": "Paused", "resumed": False, "held_by": [{"dag_id", "run_id",
    "task_id"}, ...]}`` for one still held. When it held nothing, nothing is sent and
    the task succeeds. Use it as the pause's teardown. Like the pause, it runs in the
    pool ``pcinsights_holds`` unless given another ``pool``.

    An ``Inactive`` report (its recurrences used up) cannot be resumed: the task
    fails with :class:`~airflow_provider_pcinsights.exceptions.ReportInactiveError`.

    :param report_id: one report id, or a list of ids (templated); optional with ``paused_by``.
    :param paused_by: the task id of a ``PauseReportOperator`` of this DAG.
    :param conn_id: the ``pcinsights`` connection (templated).
    :param max_concurrency: the most reports of a list resumed at once (default 12); fewer while
        the service throttles.
    :param hook_params: keyword arguments for the hook, such as ``retries``.
    """

    def __init__(
        self, *, report_id: str | list[str] | None = None, paused_by: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(report_id=report_id, holds=paused_by is not None, **kwargs)
        self.paused_by = paused_by

    def execute(self, context: Context) -> dict[str, Any] | list[dict[str, Any]]:
        if self.paused_by is None:
            if self.report_id is None:
                raise ValueError("report_id is required unless paused_by names the pause task to restore")
            report_ids, single = normalize_report_ids(self.report_id)
            records = list(self._act("resume", report_ids, single).values())
            return records[0] if single else records
        return self._restore(context, self.paused_by)

    def _restore(self, context: Context, paused_by: str) -> list[dict[str, Any]]:
        if not isinstance(paused_by, str) or not paused_by.strip():
            raise ValueError(f"paused_by must be the task id of a PauseReportOperator, got {paused_by!r}")
        wanted = None if self.report_id is None else normalize_report_ids(self.report_id)[0]
        if self.has_dag() and not self.dag.has_task(paused_by):
            raise ValueError(f"paused_by {paused_by!r} is not a task of DAG {self.dag.dag_id}")

        ti = (context or {}).get("ti")
        pause = Holder.of(context, paused_by)
        if ti is None or pause is None:
            raise ValueError(
                "paused_by reads what the pause task pushed in this DAG run, and there is no DAG run "
                "here (execute() called directly?): give report_id instead"
            )
        table = HoldTable().load()
        paused = ti.xcom_pull(task_ids=paused_by, key=PAUSED_REPORT_IDS)
        if paused is None:
            paused = table.held_by(pause)
            source = f"the holds of {paused_by} (it pushed no {PAUSED_REPORT_IDS})"
        else:
            source = f"{paused_by}'s {PAUSED_REPORT_IDS}"
        if not isinstance(paused, list):
            raise ValueError(f"{source} is {paused!r}, not a list of report ids")
        paused = [validate_report_id(rid) for rid in paused]
        to_release = [rid for rid in paused if wanted is None or rid in wanted]
        if wanted is not None:
            others = [rid for rid in wanted if rid not in paused]
            if others:
                self.log.info(
                    "Not paused by %s in this run, so left as they are: %s", paused_by, ", ".join(others)
                )
        if not to_release:
            self.log.info(
                "Nothing to restore: %s paused no report%s", paused_by, " of report_id" * bool(wanted)
            )
            return []
        self.log.info("Restoring from %s: %s", source, ", ".join(to_release))
        given = self._give_back(context, table, pause, to_release)
        if given.failures:
            raise ReportAction("resume", self.log).failed(to_release, given.resumed, given.failures)
        resumed = given.resumed
        return [
            {**resumed[rid], "resumed": True, "held_by": []}
            if rid in resumed
            else {
                "ReportId": rid,
                "ReportStatus": "Paused",
                "resumed": False,
                "held_by": [
                    {"dag_id": h.dag_id, "run_id": h.run_id, "task_id": h.task_id}
                    for h in given.still_held[rid]
                ],
            }
            for rid in to_release
        ]


def will_retry(context: Mapping[str, Any] | None, exc: BaseException) -> bool:
    """Whether Airflow will run this task instance again after ``exc``.

    The rule of both Airflow lines (Airflow 3's execution API, Airflow 2's
    ``is_eligible_to_retry``): a try is retried while ``try_number <= max_tries``,
    unless the error is an ``AirflowFailException``.
    """
    if isinstance(exc, AirflowFailException):
        return False
    ti = (context or {}).get("ti")
    max_tries, try_number = getattr(ti, "max_tries", 0), getattr(ti, "try_number", None)
    if not isinstance(max_tries, int) or not isinstance(try_number, int):
        return False
    return max_tries > 0 and try_number <= max_tries
