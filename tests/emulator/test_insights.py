"""The Insights API answers like the documented service: envelopes, records, filters, paging, actions."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from emulator_support.clients import BOM, Api, documented, values

from airflow_provider_pcinsights.emulator import Behaviour, Emulator
from airflow_provider_pcinsights.emulator.insights import EXECUTIONS_NOT_FOUND_MESSAGE

RECORD_FIELDS = {
    "ReportId",
    "ReportName",
    "Description",
    "QueryId",
    "Query",
    "User",
    "CreatedTime",
    "ModifiedTime",
    "ExecuteNow",
    "StartTime",
    "ReportStatus",
    "RecurrenceInterval",
    "RecurrenceCount",
    "CallbackUrl",
    "CallbackMethod",
    "Format",
}


def _in_hours(hours: float) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_mpn_answers_a_bom_then_a_camel_envelope_around_camel_records_with_one_pascal_key(
    emu: Emulator, api: Api
) -> None:
    answer = api.get("ScheduledReport")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert answer.raw_body.startswith(BOM + b"{")  # type: ignore[attr-defined]
    body = answer.json()
    assert set(body) == {"value", "totalCount", "message", "statusCode", "nextLink", "dataRedacted"}
    assert body["statusCode"] == 200
    assert body["totalCount"] == 3
    assert body["nextLink"] is None
    record = body["value"][0]
    assert {documented(k) for k in record} >= RECORD_FIELDS
    assert "CallbackMethod" in record  # the one PascalCase key, as in Microsoft's mpn sample
    assert {k for k in record if k[0].isupper()} == {"CallbackMethod"}
    assert record["format"] == "csv"  # lower case, as the samples show
    assert record["modifiedTime"] is None  # never modified since created
    assert [r["reportId"] for r in body["value"]] == emu.report_ids("mpn")
    assert {r["reportStatus"] for r in body["value"]} == {"Active"}


def test_cmp_answers_a_pascal_envelope_around_camel_records_without_next_link_or_data_redacted(
    emu: Emulator, api: Api
) -> None:
    body = api.get("ScheduledReport", program="cmp").json()
    assert set(body) == {"Value", "TotalCount", "Message", "StatusCode"}
    record = body["Value"][0]
    assert all(k[0].islower() for k in record)
    assert record["callbackMethod"] == "POST"
    emu.behaviour.cmp_envelope = "full"
    assert set(api.get("ScheduledReport", program="cmp").json()) >= {"NextLink", "DataRedacted"}


def test_tidy_settings_answer_the_documented_shapes(emu: Emulator, api: Api) -> None:
    emu.behaviour.update(Behaviour.tidy())
    answer = api.get("ScheduledReport")
    assert not answer.raw_body.startswith(BOM)  # type: ignore[attr-defined]
    record = answer.json()["Value"][0]
    assert record["Format"] == "CSV"
    assert record["ModifiedTime"] == record["CreatedTime"]
    assert set(record) >= RECORD_FIELDS
    assert api.get("ScheduledReport", headers={"Authorization": "Bearer nope"}).json() == {
        "StatusCode": 401,
        "Message": "Authentication failed. The bearer token is missing, invalid or expired.",
    }


@pytest.mark.parametrize(("program", "key"), [("mpn", "statusCode"), ("cmp", "StatusCode")])
def test_errors_take_the_insights_shape_and_front_door_refusals_the_general_one(
    emu: Emulator, api: Api, program: str, key: str
) -> None:
    not_found = api.get("ScheduledReport", program=program, params={"reportId": "unknown"}).json()
    assert not_found == {
        key: 404,
        key.replace("statusCode", "message").replace("StatusCode", "Message"): (
            "No item found with given filters."
        ),
    }
    refused = api.get("ScheduledReport", program=program, headers={"Authorization": "Bearer nope"}).json()
    assert refused == {
        "code": 401,
        "description": "Authentication failed. The bearer token is missing, invalid or expired.",
        "data": [],
        "source": "PartnerFD",
    }
    emu.behaviour.error_shape = "general"
    general = api.get("ScheduledReport", program=program, params={"reportId": "unknown"}).json()
    assert general["description"] == "No item found with given filters."
    emu.behaviour.error_shape = "insights"
    assert key in api.get("ScheduledReport", program=program, headers={"Authorization": "Bearer x"}).json()


def test_seeded_reports_are_deterministic(emu: Emulator) -> None:
    with Emulator(reports=5) as other:
        assert other.report_ids("mpn")[:3] == emu.report_ids("mpn")
        assert other.report_ids("cmp")[:3] == emu.report_ids("cmp")
    assert set(emu.report_ids("mpn")).isdisjoint(emu.report_ids("cmp"))
    assert emu.report("mpn", emu.report_ids("mpn")[0])["ReportName"] == "Daily usage 1"


def test_get_by_report_id(emu: Emulator, api: Api) -> None:
    wanted = emu.report_ids("mpn")[1]
    records = values(api.get("ScheduledReport", params={"reportId": wanted}))
    assert [r["ReportId"] for r in records] == [wanted]


def test_unknown_report_id_is_404_with_the_service_message(api: Api) -> None:
    answer = api.get("ScheduledReport", params={"reportId": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"})
    assert answer.status_code == 404
    assert answer.json() == {"statusCode": 404, "message": "No item found with given filters."}


def test_cmp_v1_1_takes_several_ids_joined_by_semicolons(emu: Emulator, api: Api) -> None:
    first, _, third = emu.report_ids("cmp")
    records = values(api.get("ScheduledReport", program="cmp", params={"reportId": f"{third};{first}"}))
    assert [r["ReportId"] for r in records] == [third, first]


@pytest.mark.parametrize(("program", "version"), [("cmp", "v1"), ("mpn", "v1")])
def test_other_versions_read_a_semicolon_list_as_one_unknown_id(
    emu: Emulator, api: Api, program: str, version: str
) -> None:
    first, second, _ = emu.report_ids(program)
    answer = api.get(
        "ScheduledReport", program=program, version=version, params={"reportId": f"{first};{second}"}
    )
    assert answer.status_code == 404


def test_filters_by_report_name_and_query_id(emu: Emulator, api: Api) -> None:
    target = emu.report("mpn", emu.report_ids("mpn")[2])
    by_name = values(api.get("ScheduledReport", params={"reportName": target["ReportName"]}))
    assert [r["ReportId"] for r in by_name] == [target["ReportId"]]
    by_query = values(api.get("ScheduledReport", params={"queryId": target["QueryId"]}))
    assert target["ReportId"] in [r["ReportId"] for r in by_query]
    assert {r["QueryId"] for r in by_query} == {target["QueryId"]}
    assert api.get("ScheduledReport", params={"reportName": "no such report"}).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/insights/v2/mpn/ScheduledReport",
        "/insights/v1.1/mpn/ScheduledReport",
        "/insights/v1/xyz/ScheduledReport",
    ],
)
def test_unknown_program_or_version_is_404(emu: Emulator, api: Api, path: str) -> None:
    answer = api.session.get(f"{emu.url}{path}", headers={"Authorization": f"Bearer {api.token}"})
    assert answer.status_code == 404


def test_programs_have_separate_stores_and_versions_share_one(emu: Emulator, api: Api) -> None:
    cmp_id = emu.report_ids("cmp")[0]
    assert api.put(f"ScheduledReport/pause/{cmp_id}", program="cmp", version="v1").status_code == 200
    seen_by_v1_1 = values(
        api.get("ScheduledReport", program="cmp", version="v1.1", params={"reportId": cmp_id})
    )
    assert seen_by_v1_1[0]["ReportStatus"] == "Paused"
    assert api.get("ScheduledReport", params={"reportId": cmp_id}).status_code == 404  # not an mpn report
    assert {r["ReportStatus"] for r in emu.reports("mpn")} == {"Active"}


def _follow(api: Api, emu: Emulator, **params: str) -> tuple[list[dict[str, Any]], list[str | None]]:
    answer = api.get("ScheduledReport", params=params)
    records, links = [], []
    while True:
        records += values(answer)
        link = answer.json()["nextLink"]
        links.append(link)
        if not link:
            return records, links
        url = link if link.startswith("https://") else f"{emu.url}{link}"
        answer = api.session.get(url, headers={"Authorization": f"Bearer {api.token}"})


@pytest.mark.parametrize("style", ["absolute", "relative"])
def test_paging_follows_next_link_to_every_report(style: str) -> None:
    from emulator_support.clients import VerifyingSession, app_plus_user_token

    with Emulator(reports=5, page_size=2) as emu, VerifyingSession(emu.ca_path) as session:
        emu.behaviour.next_link = style
        api = Api(emu, session, app_plus_user_token(emu, session).json()["access_token"])
        records, links = _follow(api, emu)
        assert [r["ReportId"] for r in records] == emu.report_ids("mpn")
        assert len(links) == 3
        assert links[-1] is None
        assert links[0].startswith("https://" if style == "absolute" else "/insights/v1/mpn/ScheduledReport?")
        first_page = api.get("ScheduledReport").json()
        assert first_page["totalCount"] == 5
        assert len(first_page["value"]) == 2


def test_next_link_keeps_the_filters(emu: Emulator, api: Api) -> None:
    query_id = emu.report("mpn", emu.report_ids("mpn")[0])["QueryId"]
    for _ in range(3):
        emu.add_report("mpn", QueryId=query_id)
    emu.behaviour.page_size = 1
    records, links = _follow(api, emu, queryId=query_id)
    assert len(records) == len(links) == 4
    assert {r["QueryId"] for r in records} == {query_id}
    assert all(f"queryId={query_id}" in link for link in links[:-1])


def test_foreign_next_link_names_another_host_with_the_real_continuation(emu: Emulator, api: Api) -> None:
    emu.behaviour.page_size = 2
    emu.behaviour.next_link = "absolute"
    genuine = api.get("ScheduledReport").json()["nextLink"]
    emu.behaviour.next_link = "foreign"

    first = api.get("ScheduledReport").json()

    assert first["nextLink"] == genuine.replace(emu.url, "https://evil.example.invalid")
    assert len(first["value"]) == 2
    last = api.get("ScheduledReport", params={"skipToken": genuine.split("skipToken=")[1]}).json()
    assert last["nextLink"] is None  # no next page, no link, foreign or not


def test_repeat_next_link_points_back_at_the_same_page_every_time(emu: Emulator, api: Api) -> None:
    emu.behaviour.next_link = "repeat"
    body = api.get("ScheduledReport").json()
    assert body["nextLink"] == f"{emu.api_url()}/ScheduledReport"
    assert len(body["value"]) == 3  # one page holds them all, and still the link comes back

    again = api.session.get(body["nextLink"], headers={"Authorization": f"Bearer {api.token}"}).json()
    assert again == body

    emu.behaviour.page_size = 1
    report_id = emu.report_ids("mpn")[1]
    filtered = api.get("ScheduledReport", params={"reportId": report_id}).json()
    assert filtered["nextLink"] == f"{emu.api_url()}/ScheduledReport?reportId={report_id}"


def _links(api: Api, emu: Emulator, pages: int) -> tuple[list[str], list[list[str]]]:
    """The first ``pages`` nextLinks and each page's ids, following the links as given."""
    answer = api.get("ScheduledReport")
    links, ids = [], []
    for _ in range(pages):
        ids.append([r["ReportId"] for r in values(answer)])
        link = answer.json().get("nextLink")
        links.append(link)
        if not link:
            break
        answer = api.session.get(link, headers={"Authorization": f"Bearer {api.token}"})
    return links, ids


def test_respell_links_the_last_page_to_itself_spelled_otherwise(emu: Emulator, api: Api) -> None:
    emu.behaviour.page_size = 2
    emu.behaviour.next_link = "respell"
    links, ids = _links(api, emu, pages=3)
    assert ids[:2] == [emu.report_ids("mpn")[:2], emu.report_ids("mpn")[2:]]
    assert links[0].startswith(f"{emu.api_url()}/ScheduledReport?skipToken=")
    token = links[0].split("skipToken=")[1]
    assert links[1] == f"{emu.api_url()}/scheduledreport/?SKIPtOKEN={token}"  # the last page, again
    assert ids[2] == ids[1]  # which the service indeed answers


def test_back_links_the_last_page_to_the_first(emu: Emulator, api: Api) -> None:
    emu.behaviour.page_size = 2
    emu.behaviour.next_link = "back"
    links, ids = _links(api, emu, pages=3)
    assert links[1] == f"{emu.api_url()}/ScheduledReport"
    assert ids[2] == ids[0]


def test_overlap_starts_each_page_with_the_last_record_of_the_one_before(emu: Emulator, api: Api) -> None:
    for index in range(2):
        emu.add_report("mpn", ReportName=f"extra {index}")
    emu.behaviour.page_size = 2
    emu.behaviour.next_link = "overlap"
    links, ids = _links(api, emu, pages=5)
    every = emu.report_ids("mpn")
    assert ids == [every[0:2], every[1:3], every[2:4], every[3:5]]
    assert links[-1] is None


@pytest.mark.parametrize("key_case", ["camel", "pascal"])
def test_stray_space_spells_recurrence_count_with_a_leading_space(
    emu: Emulator, api: Api, key_case: str
) -> None:
    emu.behaviour.key_case = key_case
    emu.behaviour.key_spacing = "stray_space"
    report_id = emu.report_ids("mpn")[0]

    listed = values(api.get("ScheduledReport"))
    paused = values(api.put(f"ScheduledReport/pause/{report_id}"))

    for record in [*listed, *paused]:
        assert " RecurrenceCount" in record
        assert "RecurrenceCount" not in record
        assert {k for k in record if k != k.strip()} == {" RecurrenceCount"}  # that field only
    assert listed[0][" RecurrenceCount"] == emu.report("mpn", report_id)["RecurrenceCount"]
    assert "RecurrenceCount" in emu.report("mpn", report_id)  # the store keeps the documented name

    emu.behaviour.key_spacing = "none"
    assert all("RecurrenceCount" in r for r in values(api.get("ScheduledReport")))


def test_a_spoiled_continuation_token_is_400(api: Api) -> None:
    assert api.get("ScheduledReport", params={"skipToken": "%%%"}).status_code == 400


# -- pause and resume -------------------------------------------------------------


def test_pause_then_resume_changes_the_status_and_answers_the_record(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids("mpn")[0]
    paused = api.put(f"ScheduledReport/pause/{report_id}")
    assert paused.status_code == 200
    assert values(paused)[0]["ReportId"] == report_id
    assert values(paused)[0]["ReportStatus"] == "Paused"
    assert emu.report("mpn", report_id)["ReportStatus"] == "Paused"
    resumed = api.put(f"ScheduledReport/resume/{report_id}")
    assert values(resumed)[0]["ReportStatus"] == "Active"
    assert emu.report("mpn", report_id)["ReportStatus"] == "Active"


def test_action_response_empty_answers_an_empty_value_list(emu: Emulator, api: Api) -> None:
    emu.behaviour.action_response = "empty"
    report_id = emu.report_ids("mpn")[0]
    answer = api.put(f"ScheduledReport/pause/{report_id}")
    assert answer.status_code == 200
    assert values(answer) == []
    assert emu.report("mpn", report_id)["ReportStatus"] == "Paused"


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_actions_on_an_unknown_report_are_404(api: Api, action: str) -> None:
    assert api.put(f"ScheduledReport/{action}/3f2504e0-4f89-11d3-9a0c-0305e82c3301").status_code == 404


@pytest.mark.parametrize(("setting", "expected"), [("ok", 200), ("reject", 400)])
def test_pausing_a_paused_report(emu: Emulator, api: Api, setting: str, expected: int) -> None:
    emu.behaviour.pause_when_paused = setting
    report_id = emu.report_ids("mpn")[0]
    emu.set_report_status("mpn", report_id, "Paused")
    answer = api.put(f"ScheduledReport/pause/{report_id}")
    assert answer.status_code == expected
    assert emu.report("mpn", report_id)["ReportStatus"] == "Paused"


@pytest.mark.parametrize(("setting", "expected"), [("ok", 200), ("reject", 400)])
def test_resuming_an_active_report(emu: Emulator, api: Api, setting: str, expected: int) -> None:
    emu.behaviour.resume_when_active = setting
    report_id = emu.report_ids("mpn")[0]
    assert api.put(f"ScheduledReport/resume/{report_id}").status_code == expected
    assert emu.report("mpn", report_id)["ReportStatus"] == "Active"


@pytest.mark.parametrize(
    ("setting", "expected_status", "expected_report_status"),
    [("reject", 400, "Inactive"), ("noop", 200, "Inactive"), ("activate", 200, "Active")],
)
def test_resuming_an_inactive_report(
    emu: Emulator, api: Api, setting: str, expected_status: int, expected_report_status: str
) -> None:
    if setting != "reject":
        emu.behaviour.resume_when_inactive = setting
    report_id = emu.report_ids("mpn")[0]
    emu.set_report_status("mpn", report_id, "Inactive")
    answer = api.put(f"ScheduledReport/resume/{report_id}")
    assert answer.status_code == expected_status
    assert emu.report("mpn", report_id)["ReportStatus"] == expected_report_status
    if setting == "reject":
        assert "inactive" in answer.json()["message"]
        assert "recurrence is complete" in answer.json()["message"]


def test_behaviour_refuses_unknown_values(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="resume_when_inactive must be one of reject, noop, activate"):
        emu.behaviour.resume_when_inactive = "maybe"
    with pytest.raises(AttributeError, match="unknown emulator behaviour"):
        emu.behaviour.pause_when_active = "ok"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="page_size"):
        emu.behaviour.page_size = 0


# -- create, modify, delete ---------------------------------------------------------


def _create_body(emu: Emulator, program: str = "mpn", **changes: Any) -> dict[str, Any]:
    body = {
        "ReportName": "Nightly licenses",
        "Description": "for the finance team",
        "QueryId": emu.report(program, emu.report_ids(program)[0])["QueryId"],
        "StartTime": _in_hours(5),
        "ExecuteNow": False,
        "RecurrenceInterval": 24,
        "RecurrenceCount": 10,
        "Format": "csv",
        "CallbackUrl": "https://contoso.example/callback",
        "CallbackMethod": "POST",
    }
    body.update(changes)
    return body


def test_create_report_stores_an_active_report(emu: Emulator, api: Api) -> None:
    answer = api.post("ScheduledReport", json=_create_body(emu))
    assert answer.status_code == 200, answer.text
    created = values(answer)[0]
    assert created["ReportStatus"] == "Active"
    assert created["Format"] == "csv"  # stored as CSV, answered in lower case as the service does
    assert emu.report("mpn", created["ReportId"])["Format"] == "CSV"
    assert emu.report("mpn", created["ReportId"])["ReportName"] == "Nightly licenses"
    assert len(emu.report_ids("mpn")) == 4


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"StartTime": "soon"}, "StartTime"),
        ({"RecurrenceInterval": 3}, "RecurrenceInterval should be between 4 and 2160"),
        ({"RecurrenceInterval": 2161}, "RecurrenceInterval should be between 4 and 2160"),
        ({"Format": "XLSX"}, "Supported formats are CSV and TSV"),
        ({"CallbackMethod": "PATCH"}, "Supported methods are GET and POST"),
        ({"QueryId": "no-such-query"}, "Invalid QueryId"),
        ({"ReportName": ""}, "ReportName is required"),
    ],
)
def test_create_report_refuses_bad_fields(
    emu: Emulator, api: Api, changes: dict[str, Any], message: str
) -> None:
    answer = api.post("ScheduledReport", json=_create_body(emu, **changes))
    assert answer.status_code == 400
    assert message in answer.json()["message"]
    assert len(emu.report_ids("mpn")) == 3


def test_create_report_needs_a_start_time_four_hours_ahead(emu: Emulator, api: Api) -> None:
    answer = api.post("ScheduledReport", json=_create_body(emu, StartTime=_in_hours(3.5)))
    assert answer.status_code == 400
    assert "at least 4 hours" in answer.json()["message"]


def test_modify_and_delete_report(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids("mpn")[1]
    modified = api.put(f"ScheduledReport/{report_id}", json={"ReportName": "Renamed", "Format": "TSV"})
    assert modified.status_code == 200, modified.text
    assert emu.report("mpn", report_id)["ReportName"] == "Renamed"
    assert emu.report("mpn", report_id)["Format"] == "TSV"
    assert api.put(f"ScheduledReport/{report_id}", json={"ReportStatus": "Paused"}).status_code == 400
    assert api.delete(f"ScheduledReport/{report_id}").status_code == 200
    assert report_id not in emu.report_ids("mpn")
    assert api.delete(f"ScheduledReport/{report_id}").status_code == 404


# -- executions, queries, datasets ------------------------------------------------------


def test_latest_completed_execution_by_default(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids("mpn")[0]
    latest = values(api.get(f"ScheduledReport/execution/{report_id}"))
    assert len(latest) == 1
    assert latest[0]["ExecutionStatus"] == "Completed"
    assert latest[0]["ReportAccessSecureLink"].startswith("https://")
    every = values(api.get(f"ScheduledReport/execution/{report_id}", params={"getLatestExecution": "false"}))
    assert len(every) == 2
    assert latest[0]["ExecutionId"] == every[0]["ExecutionId"]
    older = every[1]["ExecutionId"]
    by_id = values(
        api.get(
            f"ScheduledReport/execution/{report_id}",
            params={"executionId": older, "getLatestExecution": "false"},
        )
    )
    assert [e["ExecutionId"] for e in by_id] == [older]


def test_executions_answer_404_before_the_first_completed_run(emu: Emulator, api: Api) -> None:
    never_ran = emu.report_ids("mpn")[1]
    assert api.get(f"ScheduledReport/execution/{never_ran}").status_code == 404
    emu.add_execution("mpn", never_ran, ExecutionStatus="Pending")
    assert api.get(f"ScheduledReport/execution/{never_ran}").status_code == 404
    pending = api.get(f"ScheduledReport/execution/{never_ran}", params={"executionStatus": "Pending"})
    assert values(pending)[0]["ExecutionStatus"] == "Pending"


def test_execution_filters_take_several_values_joined_by_semicolons_and_a_comma_is_part_of_one(
    emu: Emulator, api: Api
) -> None:
    report_id = emu.report_ids("mpn")[0]
    path = f"ScheduledReport/execution/{report_id}"
    every = values(
        api.get(path, params={"executionStatus": "Completed;Pending", "getLatestExecution": "false"})
    )
    assert sorted(e["ExecutionStatus"] for e in every) == ["Completed", "Completed", "Pending"]
    two = ";".join(e["ExecutionId"] for e in every[:2])
    chosen = values(
        api.get(
            path,
            params={
                "executionId": two,
                "executionStatus": "Completed;Pending",
                "getLatestExecution": "false",
            },
        )
    )
    assert len(chosen) == 2

    comma = api.get(path, params={"executionStatus": "Completed,Pending"})
    assert comma.status_code == 404  # one status named "Completed,Pending": nothing has it
    assert comma.json()["message"] == EXECUTIONS_NOT_FOUND_MESSAGE
    assert api.get(path, params={"executionId": two.replace(";", ",")}).status_code == 404


def test_executions_answer_their_own_404_text_for_a_report_with_none_and_for_an_unknown_one(
    emu: Emulator, api: Api
) -> None:
    never_ran = emu.report_ids("mpn")[1]
    for report_id in (never_ran, "3f2504e0-4f89-11d3-9a0c-0305e82c3301"):
        answer = api.get(f"ScheduledReport/execution/{report_id}")
        assert (answer.status_code, answer.json()["message"]) == (404, EXECUTIONS_NOT_FOUND_MESSAGE)
    emu.behaviour.executions_not_found = "no_item"
    assert api.get(f"ScheduledReport/execution/{never_ran}").json()["message"] == (
        "No item found with given filters."
    )


def test_pending_runs_have_null_links_and_times_and_a_finished_run_may_lack_its_expiry(
    emu: Emulator, api: Api
) -> None:
    report_id = emu.report_ids("mpn")[0]
    runs = values(
        api.get(
            f"ScheduledReport/execution/{report_id}",
            params={"executionStatus": "Completed;Pending", "getLatestExecution": "false"},
        )
    )
    (pending,) = [r for r in runs if r["ExecutionStatus"] == "Pending"]
    for field in ("ReportLocation", "ReportAccessSecureLink", "ReportExpiryTime", "ReportGeneratedTime"):
        assert pending[field] is None
    latest = values(api.get(f"ScheduledReport/execution/{report_id}"))[0]
    assert latest["ReportExpiryTime"] is None
    emu.behaviour.null_times = "off"
    assert values(api.get(f"ScheduledReport/execution/{report_id}"))[0]["ReportExpiryTime"]


def test_queries_and_datasets_list(emu: Emulator, api: Api) -> None:
    queries = values(api.get("ScheduledQueries", program="cmp"))
    assert {q["Name"] for q in queries} >= {"ISVUsage", "ISVOrder"}
    datasets = values(api.get("ScheduledDataset", program="cmp", params={"datasetName": "ISVUsage"}))
    assert [d["DatasetName"] for d in datasets] == ["ISVUsage"]
    assert api.get("ScheduledDataset", params={"datasetName": "Nope"}).status_code == 404


def test_unsupported_method_is_405(emu: Emulator, api: Api) -> None:
    report_id = emu.report_ids("mpn")[0]
    assert api.call("GET", f"ScheduledReport/pause/{report_id}").status_code == 405
