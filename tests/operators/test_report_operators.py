"""PauseReportOperator and ResumeReportOperator against the emulator, over HTTPS with real MSAL."""

from __future__ import annotations

import pytest

from airflow_provider_pcinsights.exceptions import (
    ReportActionError,
    ReportInactiveError,
    ReportNotFoundError,
    ServiceUnavailableError,
)
from airflow_provider_pcinsights.operators.report import PauseReportOperator, ResumeReportOperator

# One retry with no backoff: the fault tests stay fast and still go through the hook's retry path.
FAST = {"retries": 1, "backoff_factor": 0.0}


def _status(emu, report_id: str) -> str:
    return emu.report("mpn", report_id)["ReportStatus"]


def _puts(emu, action: str) -> list[str]:
    """Report ids the emulator received a pause or resume call for, in order."""
    return [r.path.rsplit("/", 1)[-1] for r in emu.api_requests(method="PUT", path_contains=f"/{action}/")]


@pytest.fixture
def emu(pcinsights_emulator):
    return pcinsights_emulator


def test_pause_one_report_returns_its_record_and_pauses_it(emu, logs):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Active")
    name = emu.report("mpn", report_id)["ReportName"]

    record = PauseReportOperator(task_id="pause", report_id=report_id).execute({})

    assert isinstance(record, dict)
    assert record["ReportId"] == report_id
    assert record["ReportStatus"] == "Paused"
    assert _status(emu, report_id) == "Paused"
    assert f"Paused report {report_id} ({name}): Active -> Paused" in logs()
    assert emu.client_secret not in logs()


def test_resume_a_list_returns_records_in_the_order_given(emu):
    ids = [emu.add_report("mpn", ReportStatus="Paused") for _ in range(4)]
    given = list(reversed(ids))

    records = ResumeReportOperator(task_id="resume", report_id=given, max_concurrency=3).execute({})

    assert [r["ReportId"] for r in records] == given
    assert [r["ReportStatus"] for r in records] == ["Active"] * 4
    assert [_status(emu, rid) for rid in given] == ["Active"] * 4
    assert sorted(_puts(emu, "resume")) == sorted(given)


def test_a_report_already_in_the_wanted_status_is_read_and_sent_nothing(emu, logs):
    paused, active = emu.report_ids()[:2]
    emu.set_report_status("mpn", paused, "Paused")
    emu.set_report_status("mpn", active, "Active")

    record = PauseReportOperator(task_id="pause", report_id=paused).execute({})
    again = ResumeReportOperator(task_id="resume", report_id=active).execute({})

    assert (record["ReportStatus"], again["ReportStatus"]) == ("Paused", "Active")
    assert [_status(emu, rid) for rid in (paused, active)] == ["Paused", "Active"]
    assert emu.api_requests(method="PUT") == []  # the read said so: nothing to ask
    text = logs()
    assert f"Paused report {paused}" in text
    assert "already Paused; nothing changed" in text
    assert "already Active; nothing changed" in text


@pytest.mark.parametrize("answer", ["ok", "reject"])
def test_pausing_a_report_paused_meanwhile_succeeds_whatever_the_service_answers(emu, logs, answer):
    emu.behaviour.pause_when_paused = answer
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Active")
    emu.change_status_after_reads("mpn", report_id, "Paused", reads=1)  # paused by someone after the read

    record = PauseReportOperator(task_id="pause", report_id=report_id).execute({})

    assert record["ReportStatus"] == "Paused"
    assert _status(emu, report_id) == "Paused"
    assert _puts(emu, "pause") == [report_id]
    if answer == "reject":  # the refusal is judged by the status read after it
        assert "already Paused; nothing changed" in logs()


@pytest.mark.parametrize("answer", ["ok", "reject"])
def test_resuming_a_report_resumed_meanwhile_succeeds_whatever_the_service_answers(emu, logs, answer):
    emu.behaviour.resume_when_active = answer
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Paused")
    emu.change_status_after_reads("mpn", report_id, "Active", reads=1)

    record = ResumeReportOperator(task_id="resume", report_id=report_id).execute({})

    assert record["ReportStatus"] == "Active"
    assert _puts(emu, "resume") == [report_id]
    if answer == "reject":
        assert "already Active; nothing changed" in logs()


@pytest.mark.parametrize("answer", ["reject", "noop"])
def test_resuming_an_inactive_report_fails_saying_it_is_inactive(emu, answer):
    emu.behaviour.resume_when_inactive = answer
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Inactive")

    with pytest.raises(ReportInactiveError) as caught:
        ResumeReportOperator(task_id="resume", report_id=report_id).execute({})

    message = str(caught.value)
    assert report_id in message
    assert "Inactive" in message
    assert "recurrences are used up" in message
    assert "create it again" in message
    assert caught.value.report_id == report_id
    assert _status(emu, report_id) == "Inactive"


def test_resuming_an_inactive_report_succeeds_if_the_service_reactivates_it(emu, logs):
    emu.behaviour.resume_when_inactive = "activate"
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Inactive")

    record = ResumeReportOperator(task_id="resume", report_id=report_id).execute({})

    assert record["ReportStatus"] == "Active"
    assert _status(emu, report_id) == "Active"
    assert "Inactive -> Active" in logs()


def test_an_inactive_report_in_a_list_fails_the_task_but_not_the_others(emu):
    emu.behaviour.resume_when_inactive = "reject"
    inactive = emu.add_report("mpn", ReportStatus="Inactive")
    paused = emu.add_report("mpn", ReportStatus="Paused")

    with pytest.raises(ReportActionError) as caught:
        ResumeReportOperator(task_id="resume", report_id=[inactive, paused]).execute({})

    assert isinstance(caught.value.failures[inactive], ReportInactiveError)
    assert f"{inactive}: Report {inactive}" in str(caught.value)
    assert _status(emu, paused) == "Active"


@pytest.mark.parametrize(
    ("report_id", "named"),
    [
        ("", "empty"),
        ("abc/def", "'abc/def'"),
        ("..", "'..'"),
        ("abc?reportId=x", "'abc?reportId=x'"),
        ("abc def", "'abc def'"),
        (42, "42"),
        (["a5f7d3b2-1c9e-4c1e-9a43-6d0f4f5d2b10", "bad#id"], "'bad#id'"),
        ([], "empty list"),
    ],
)
def test_a_bad_report_id_is_refused_before_anything_is_sent(emu, report_id, named):
    for operator_class in (PauseReportOperator, ResumeReportOperator):
        with pytest.raises(ValueError, match="report_id") as caught:
            operator_class(task_id="op", report_id=report_id).execute({})
        assert named in str(caught.value)
    assert emu.requests == []  # not even a token request


@pytest.mark.parametrize("limit", [0, -1, True, "2", 1.5])
def test_max_concurrency_must_be_a_positive_integer(emu, limit):
    with pytest.raises(ValueError, match="max_concurrency"):
        PauseReportOperator(task_id="op", report_id=emu.report_ids(), max_concurrency=limit).execute({})
    assert emu.requests == []


def test_one_unknown_id_fails_the_task_after_the_others_are_paused(emu, logs):
    good = emu.report_ids()[:2]
    for rid in good:
        emu.set_report_status("mpn", rid, "Active")
    unknown = "00000000-0000-0000-0000-00000000dead"

    with pytest.raises(ReportActionError) as caught:
        PauseReportOperator(task_id="pause", report_id=[good[0], unknown, good[1]]).execute({})

    error = caught.value
    assert [_status(emu, rid) for rid in good] == ["Paused", "Paused"]
    assert set(error.failures) == {unknown}
    assert isinstance(error.failures[unknown], ReportNotFoundError)
    assert set(error.records) == set(good)
    message = str(error)
    assert "Could not pause 1 of 3 reports" in message
    unknown_line = next(line for line in message.splitlines() if line.startswith(f"- {unknown}: "))
    assert "unknown to this account" in unknown_line
    assert f"Paused (or already Paused): {good[0]}, {good[1]}" in message
    assert unknown not in _puts(emu, "pause")  # an unknown report is not acted upon
    assert emu.client_secret not in message
    assert emu.client_secret not in logs()


def test_a_failure_that_may_have_applied_says_the_status_it_left(emu):
    report_id = emu.report_ids()[0]
    emu.set_report_status("mpn", report_id, "Active")
    emu.faults.fail(count=10, status=503, path=f"/pause/{report_id}")

    with pytest.raises(ServiceUnavailableError) as caught:
        PauseReportOperator(task_id="pause", report_id=report_id, hook_params=FAST).execute({})

    message = str(caught.value)
    assert "may or may not have been applied" in message
    assert "(status now: Active)" in message
    assert caught.value.report_id == report_id


def test_a_failure_that_may_have_applied_says_when_the_status_is_unknown(emu):
    ids = emu.report_ids()[:2]
    emu.faults.fail(count=1000, status=503)  # the service is down for every call

    with pytest.raises(ReportActionError) as caught:
        ResumeReportOperator(task_id="resume", report_id=ids, hook_params=FAST).execute({})

    message = str(caught.value)
    assert "Could not resume 2 of 2 reports" in message
    for rid in ids:
        assert isinstance(caught.value.failures[rid], ServiceUnavailableError)
        line = next(line for line in message.splitlines() if line.startswith(f"- {rid}: "))
        assert "may or may not have been applied" in line
        assert "status unknown" in line
    assert "Resumed (or already Active): none" in message


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that share a moment (touching ends do not count)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    current = peak = 0
    for _, step in events:  # at equal times the -1 sorts first: touching is not overlapping
        current += step
        peak = max(peak, current)
    return peak


@pytest.mark.parametrize("limit", [1, 3])
def test_a_list_is_handled_with_at_most_max_concurrency_calls_at_once(emu, limit):
    ids = [emu.add_report("mpn", ReportStatus="Active") for _ in range(6)]
    latency = 0.15
    emu.faults.latency = latency

    PauseReportOperator(task_id="pause", report_id=ids, max_concurrency=limit).execute({})

    calls = [r for r in emu.api_requests() if any(rid in r.path or rid in str(r.query) for rid in ids)]
    # The log stamps a call when it is answered; every call spent ``latency`` in the emulator before that.
    # Shrink each interval a little so calls that merely follow each other never count as overlapping.
    margin = latency / 5
    intervals = [(r.monotonic - latency + margin, r.monotonic - margin) for r in calls]
    assert _max_overlap(intervals) == limit  # never above the limit, and the limit is really used
    assert [_status(emu, rid) for rid in ids] == ["Paused"] * 6


# -- in a real DAG run ------------------------------------------------------------------


def test_templated_ids_and_connection_and_records_in_xcom_in_a_dag_run(emu, monkeypatch, dag_module):
    module = dag_module("operator_dag")
    # Only the templated connection exists: the run can succeed only if conn_id was rendered and used.
    monkeypatch.setenv(*next(iter(emu.connection_env(conn_id="pcinsights_backfill").items())))
    monkeypatch.delenv("AIRFLOW_CONN_PCINSIGHTS_DEFAULT")
    ids = emu.report_ids()[:2]
    for rid in ids:
        emu.set_report_status("mpn", rid, "Active")

    dag_run = module.dag.test(run_conf={"ids": ids, "conn": "pcinsights_backfill"})

    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
    assert states == {"pause": "success", "resume_one": "success", "collect": "success"}
    ((paused, resumed),) = module.COLLECTED
    assert [r["ReportId"] for r in paused] == ids
    assert [r["ReportStatus"] for r in paused] == ["Paused", "Paused"]
    assert resumed["ReportId"] == ids[0]
    assert resumed["ReportStatus"] == "Active"
    assert [_status(emu, rid) for rid in ids] == ["Active", "Paused"]


def test_a_wrong_secret_fails_the_task_once_with_the_sign_in_error(emu, monkeypatch, logs):
    from airflow_provider_pcinsights.exceptions import AuthenticationError

    wrong_secret = "not-the-secret-0123456789"
    for name, value in emu.connection_env(password=wrong_secret).items():
        monkeypatch.setenv(name, value)

    with pytest.raises(AuthenticationError) as caught:
        PauseReportOperator(task_id="pause", report_id=emu.report_ids(), hook_params=FAST).execute({})

    assert emu.api_requests() == []  # no report was touched
    assert wrong_secret not in str(caught.value)
    assert wrong_secret not in logs()


def test_a_list_templated_without_native_rendering_is_read_as_that_list_in_a_dag_run(emu, dag_module):
    module = dag_module("text_list_dag")
    ids = emu.report_ids()[:2]

    dag_run = module.dag.test(run_conf={"ids": ids})

    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
    assert states == {"pause": "success", "wait": "success", "collect": "success"}
    ((paused, statuses),) = module.COLLECTED
    assert [r["ReportId"] for r in paused] == ids  # a list of records, as for a list of ids
    assert statuses == dict.fromkeys(ids, "Paused")
    assert sorted(_puts(emu, "pause")) == sorted(ids)  # each id sent on its own, never the list's text


@pytest.mark.parametrize("text", ["['a5f7d3b2', b]", "[1, 2]", "['a', ['b']]"])
def test_a_list_text_that_cannot_be_read_says_how_to_fix_the_dag(emu, text):
    with pytest.raises(ValueError, match="render_template_as_native_obj=True") as caught:
        PauseReportOperator(task_id="pause", report_id=text).execute({})
    assert "looks like a list rendered as text" in str(caught.value)
    assert emu.requests == []


def test_the_tasks_that_change_holds_run_in_the_holds_pool_unless_given_another():
    assert PauseReportOperator(task_id="pause", report_id="r1").pool == "pcinsights_holds"
    assert ResumeReportOperator(task_id="restore", paused_by="pause").pool == "pcinsights_holds"
    assert ResumeReportOperator(task_id="resume", report_id="r1").pool != "pcinsights_holds"
    assert PauseReportOperator(task_id="p", report_id="r1", pool="mine").pool == "mine"
