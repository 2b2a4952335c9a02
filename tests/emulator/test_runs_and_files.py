"""Executions on the emulator's clock, and the file host that serves their files behind expiring links."""

from __future__ import annotations

import datetime
import gzip
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from emulator_support.clients import BOM, values

from airflow_provider_pcinsights.emulator import Emulator


class _FileClient(requests.Session):
    """A plain client for the file host: no token, no hooks; the emulator's CA with every request
    (``REQUESTS_CA_BUNDLE`` would override a session-wide ``verify``)."""

    def __init__(self, ca_path: str) -> None:
        super().__init__()
        self.ca_path = ca_path

    def request(self, method, url, *args, **kwargs):
        kwargs["verify"] = self.ca_path
        kwargs.setdefault("timeout", 10)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def files(emu):
    with _FileClient(emu.ca_path) as client:
        yield client


def _runs(api, report_id: str) -> list[dict]:
    answer = api.get(
        f"ScheduledReport/execution/{report_id}",
        params={"executionStatus": "Pending;Running;Paused;Completed", "getLatestExecution": "false"},
    )
    assert answer.status_code == 200, answer.text
    return values(answer)


def _latest_completed(api, report_id: str) -> dict:
    answer = api.get(f"ScheduledReport/execution/{report_id}")  # the documented defaults
    assert answer.status_code == 200, answer.text
    (record,) = values(answer)
    return record


def _started(emu, api) -> tuple[str, str]:
    """A paused report resumed through the API: the id and its new run's execution id."""
    report_id = emu.report_ids()[1]  # never ran: only its next run is waiting
    emu.set_report_status("mpn", report_id, "Paused")
    assert api.put(f"ScheduledReport/resume/{report_id}").status_code == 200
    (run,) = [r for r in _runs(api, report_id) if r["ExecutionStatus"] != "Completed"]
    return report_id, run["ExecutionId"]


# -- runs -------------------------------------------------------------------------------------------


def test_a_resumed_report_runs_pending_then_running_then_completed_on_the_clock(emu, api):
    emu.runs.pending_seconds, emu.runs.running_seconds = 60, 120
    report_id, execution_id = _started(emu, api)

    def run() -> dict:
        return next(r for r in _runs(api, report_id) if r["ExecutionId"] == execution_id)

    pending = run()
    assert pending["ExecutionStatus"] == "Pending"
    for field in ("ReportLocation", "ReportAccessSecureLink", "ReportGeneratedTime", "ReportExpiryTime"):
        assert pending[field] is None  # documented: null while pending
    assert api.get(f"ScheduledReport/execution/{report_id}").status_code == 404  # nothing completed yet

    emu.clock.advance(60)
    assert run()["ExecutionStatus"] == "Running"
    emu.clock.advance(120)
    done = run()
    assert done["ExecutionStatus"] == "Completed"
    generated = datetime.datetime.fromisoformat(done["ReportGeneratedTime"].replace("Z", "+00:00"))
    assert abs((emu.clock.now() - generated).total_seconds()) < 5  # when the run completed, emulated
    assert urlsplit(done["ReportLocation"]).hostname == "localhost"  # a second host name
    assert urlsplit(emu.url).hostname == "127.0.0.1"
    link = urlsplit(done["ReportAccessSecureLink"])
    assert link.path == urlsplit(done["ReportLocation"]).path
    assert set(parse_qs(link.query)) == {"sv", "st", "se", "sr", "sp", "sig"}
    assert _latest_completed(api, report_id)["ExecutionId"] == execution_id
    # The next run waits for its schedule.
    assert [r["ExecutionStatus"] for r in _runs(api, report_id)] == ["Completed", "Pending"]


def test_a_paused_report_runs_nothing_and_a_resume_starts_again(emu, api):
    report_id, execution_id = _started(emu, api)
    emu.clock.advance(70)
    assert api.put(f"ScheduledReport/pause/{report_id}").status_code == 200
    emu.clock.advance(10_000)
    assert [r["ExecutionStatus"] for r in _runs(api, report_id)] == ["Paused"]

    assert api.put(f"ScheduledReport/resume/{report_id}").status_code == 200
    assert [r["ExecutionStatus"] for r in _runs(api, report_id)] == ["Pending"]  # from the start
    emu.clock.advance(emu.runs.pending_seconds + emu.runs.running_seconds)
    assert _latest_completed(api, report_id)["ExecutionId"] == execution_id


def test_each_read_can_move_the_clock_so_a_waiting_client_sees_the_run_progress(emu, api):
    emu.runs.pending_seconds = emu.runs.running_seconds = 30
    emu.clock.step_per_read = 30
    report_id, _ = _started(emu, api)  # its listing was one read: the clock moved 30 s

    seen = [api.get(f"ScheduledReport/execution/{report_id}").status_code for _ in range(2)]

    assert seen == [404, 200]  # Running at the first of these reads, Completed at the second


def test_execute_now_starts_a_run_and_an_active_report_resumed_again_does_not(emu, api):
    query_id = next(iter(emu.state.queries("mpn")))["QueryId"]
    created = api.post(
        "ScheduledReport",
        json={
            "ReportName": "now",
            "QueryId": query_id,
            "StartTime": "2030-01-01T00:00:00Z",
            "ExecuteNow": True,
            "RecurrenceInterval": 24,
            "RecurrenceCount": 3,
            "Format": "TSV",
        },
    )
    (report,) = values(created)
    assert [r["ExecutionStatus"] for r in _runs(api, report["ReportId"])] == ["Pending"]

    other = emu.report_ids()[0]  # Active
    before = _runs(api, other)
    assert api.put(f"ScheduledReport/resume/{other}").status_code == 200
    assert _runs(api, other) == before


def test_run_report_and_executions_from_python(emu):
    report_id = emu.report_ids()[1]
    run = emu.run_report("mpn", report_id)
    assert run["ExecutionStatus"] == "Pending"
    emu.clock.advance(emu.runs.pending_seconds + emu.runs.running_seconds)
    (done,) = [e for e in emu.executions("mpn", report_id) if e["ExecutionId"] == run["ExecutionId"]]
    assert done["ExecutionStatus"] == "Completed"
    assert done["ReportAccessSecureLink"].startswith(f"{emu.file_url}/")
    with pytest.raises(KeyError):
        emu.run_report("mpn", "00000000-0000-4000-8000-000000000404")


@pytest.mark.parametrize(("name", "value"), [("pending_seconds", -1), ("link_seconds", "soon")])
def test_run_times_are_checked(emu, name, value):
    with pytest.raises(ValueError, match=name):
        setattr(emu.runs, name, value)
    with pytest.raises(ValueError, match="seconds"):
        emu.clock.advance(-5)


# -- the file host ------------------------------------------------------------------------------------


def _completed(emu, api) -> dict:
    report_id, execution_id = _started(emu, api)
    emu.clock.advance(emu.runs.pending_seconds + emu.runs.running_seconds)
    record = _latest_completed(api, report_id)
    assert record["ExecutionId"] == execution_id
    return record


def test_the_file_is_gzip_with_a_bom_inside_and_matches_report_file(emu, api, files):
    record = _completed(emu, api)

    answer = files.get(record["ReportAccessSecureLink"])

    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.content[:2] == b"\x1f\x8b"
    plain = gzip.decompress(answer.content)
    assert plain.startswith(BOM)
    expected = emu.report_file("mpn", record["ReportId"], record["ExecutionId"])
    assert plain[len(BOM) :] == expected.content
    assert expected.rows >= 3
    assert b'"Fabrikam ""Premium""\nadd-on"' in expected.content or expected.file_format == "TSV"
    (call,) = emu.file_requests()
    assert (call.kind, call.status, call.authorization) == ("file", 200, False)
    assert call.report_id == record["ReportId"]
    assert call.execution_id == record["ExecutionId"]
    assert call.query["sig"] == "***"  # the link's secret is not logged
    assert call not in emu.api_requests()


def test_tidy_files_have_no_bom_and_can_be_plain(emu, api, files):
    emu.behaviour.file_bom = "off"
    emu.behaviour.file_compression = "none"
    record = _completed(emu, api)
    body = files.get(record["ReportAccessSecureLink"]).content
    assert body == emu.report_file("mpn", record["ReportId"], record["ExecutionId"]).content


def test_a_link_expires_like_an_azure_sas_and_a_new_read_gives_a_working_one(emu, api, files):
    emu.runs.link_seconds = 600
    record = _completed(emu, api)
    emu.clock.advance(601)

    expired = files.get(record["ReportAccessSecureLink"])

    assert expired.status_code == 403
    assert expired.headers["x-ms-error-code"] == "AuthenticationFailed"
    assert expired.headers["Content-Type"] == "application/xml"
    assert "<Code>AuthenticationFailed</Code>" in expired.text
    assert "Signature not valid in the specified time frame: Start [" in expired.text
    fresh = _latest_completed(api, record["ReportId"])["ReportAccessSecureLink"]
    assert fresh != record["ReportAccessSecureLink"]
    assert files.get(fresh).status_code == 200


def test_expire_links_expires_every_link_handed_out_so_far(emu, api, files):
    record = _completed(emu, api)
    emu.expire_links()
    assert "time frame" in files.get(record["ReportAccessSecureLink"]).text
    assert files.get(_latest_completed(api, record["ReportId"])["ReportAccessSecureLink"]).status_code == 200


def test_the_next_links_can_be_handed_out_already_expired(with_admin, emu, api, files, session):
    record = _completed(emu, api)
    emu.expire_next_links(1)
    stale = _latest_completed(api, record["ReportId"])["ReportAccessSecureLink"]
    fresh = _latest_completed(api, record["ReportId"])["ReportAccessSecureLink"]
    assert "time frame" in files.get(stale).text
    assert files.get(fresh).status_code == 200
    assert session.post(f"{emu.url}/_emulator/expire-links", json={"next": 1}).status_code == 200
    assert files.get(_latest_completed(api, record["ReportId"])["ReportAccessSecureLink"]).status_code == 403
    with pytest.raises(ValueError, match="count"):
        emu.expire_next_links(0)


def test_the_file_host_refuses_what_blob_storage_refuses(emu, api, files):
    record = _completed(emu, api)
    link = record["ReportAccessSecureLink"]
    forged = link.replace("sig=", "sig=A")
    assert "Signature did not match" in files.get(forged).text
    assert files.get(record["ReportLocation"]).status_code == 409  # no signature: no public access
    assert (
        files.get(link.replace(record["ExecutionId"], "0" * 8 + record["ExecutionId"][8:])).status_code == 404
    )
    api_host = link.replace(emu.file_url, emu.url)
    assert files.get(api_host).status_code == 404  # the API's host has no files

    with_token = files.get(link, headers={"Authorization": "Bearer not-for-you"})

    assert with_token.status_code == 400
    assert with_token.headers["x-ms-error-code"] == "InvalidAuthenticationInfo"
    assert [c.authorization for c in emu.file_requests()] == [False, False, False, True]


def test_a_file_download_is_faulted_only_by_a_rule_naming_its_path(emu, api, files):
    record = _completed(emu, api)
    emu.faults.fail(count=1, status=503)  # an API rule: not for the file host
    assert files.get(record["ReportAccessSecureLink"]).status_code == 200
    emu.faults.clear()
    emu.faults.fail(count=1, status=503, path=f"/{record['ExecutionId']}.")
    faulted = files.get(record["ReportAccessSecureLink"])
    assert faulted.status_code == 503
    assert emu.file_requests()[-1].query["sig"] == "***"  # logged as a file call even when faulted


def test_admin_endpoints_steer_runs_clock_and_links(with_admin, emu, session, api, files):
    admin = f"{emu.url}/_emulator"
    report_id = emu.report_ids()[1]
    assert session.post(f"{admin}/runs", json={"pending_seconds": 1, "running_seconds": 2}).json() == {
        "pending_seconds": 1.0,
        "running_seconds": 2.0,
        "link_seconds": 3600.0,
    }
    run = session.post(f"{admin}/run-report", json={"program": "mpn", "report_id": report_id}).json()
    assert run["ExecutionStatus"] == "Pending"
    clock = session.post(f"{admin}/clock", json={"advance": 3, "step_per_read": 0}).json()
    assert clock["offset_seconds"] == 3
    (done,) = [
        e
        for e in session.get(f"{admin}/executions", params={"program": "mpn", "report_id": report_id}).json()
        if e["ExecutionId"] == run["ExecutionId"]
    ]
    assert done["ExecutionStatus"] == "Completed"
    assert session.post(f"{admin}/expire-links").json() == {"expired": True}
    assert files.get(done["ReportAccessSecureLink"]).status_code == 403
    state = session.get(f"{admin}/state").json()
    assert state["runs"]["running_seconds"] == 2.0
    assert state["clock"]["offset_seconds"] == 3
    assert session.post(f"{admin}/clock", json={"advance": -1}).status_code == 400


def test_a_tsv_report_gives_a_tsv_file():
    with Emulator(reports=1) as emu:
        report_id = emu.add_report("mpn", Format="TSV")
        execution = emu.add_execution("mpn", report_id)
        file = emu.report_file("mpn", report_id, execution["ExecutionId"])
        assert file.file_format == "TSV"
        header, *rows = file.content.decode().split("\r\n")[:-1]
        assert "\t" in header
        assert len(rows) == file.rows
