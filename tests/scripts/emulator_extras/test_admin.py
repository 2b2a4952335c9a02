"""Another process can steer the emulator through ``/_emulator/`` without a token."""

from __future__ import annotations

from emulator_support.clients import Api, VerifyingSession

from airflow_provider_pcinsights.emulator import Emulator


def _admin(session: VerifyingSession, emu: Emulator, method: str, name: str, **kwargs):  # type: ignore[no-untyped-def]
    return session.request(method, f"{emu.url}/_emulator/{name}", **kwargs)


def test_get_reports_per_program(emu: Emulator, session: VerifyingSession) -> None:
    answer = _admin(session, emu, "GET", "reports", params={"program": "cmp"})
    assert [r["ReportId"] for r in answer.json()] == emu.report_ids("cmp")
    assert _admin(session, emu, "GET", "reports", params={"program": "nope"}).status_code == 400


def test_get_requests_lists_api_calls(emu: Emulator, api: Api, session: VerifyingSession) -> None:
    api.get("ScheduledReport")
    records = _admin(session, emu, "GET", "requests").json()
    assert [(r["kind"], r["status"]) for r in records] == [("token", 200), ("api", 200)]


def test_post_faults_queues_them(emu: Emulator, api: Api, session: VerifyingSession) -> None:
    answer = _admin(
        session,
        emu,
        "POST",
        "faults",
        json={"fail": {"count": 1, "status": 500}, "throttle": [{"retry_after": 3}]},
    )
    assert answer.status_code == 200
    assert [p["fault"] for p in answer.json()["pending"]] == ["fail:500", "throttle:3"]
    assert [api.get("ScheduledReport").status_code for _ in range(3)] == [500, 429, 200]
    assert _admin(session, emu, "POST", "faults", json={"fail": {"count": 0}}).status_code == 400
    newer = {
        "echo": {},
        "trickle": {"seconds": 0},
        "truncate": {"keep": 0.5},
        "throttle": {"retry_after": None},
        "lose_answer": {},
        "raw_body": {"body": "[1", "status": 200},
        "redirect": {"location": "https://localhost:1/"},
    }
    pending = _admin(session, emu, "POST", "faults", json=newer).json()["pending"]
    assert [p["fault"] for p in pending] == [
        "throttle:none",
        "trickle:0",
        "truncate:0.5:cut",
        "echo:500",
        "redirect:307",
        "raw_body:200",
        "lose_answer",
    ]
    _admin(session, emu, "POST", "faults", json={"mix": {"rate": 0.25, "kinds": ["drop", "fail:503"]}})
    assert _admin(session, emu, "GET", "state").json()["faults"]["mix"] == {
        "rate": 0.25,
        "kinds": ["drop", "fail:503"],
    }


def test_post_faults_json_body_and_html(emu: Emulator, api: Api, session: VerifyingSession) -> None:
    answer = _admin(
        session,
        emu,
        "POST",
        "faults",
        json={"json_body": {"status": 200, "body": {"reports": []}}, "html": {"status": 200}},
    )
    # Queued in the order of the fault kinds, whatever the order of the keys.
    assert [p["fault"] for p in answer.json()["pending"]] == ["html:200", "json_body:200"]
    assert api.get("ScheduledReport").headers["Content-Type"].startswith("text/html")
    assert api.get("ScheduledReport").json() == {"reports": []}


def test_post_behaviour_next_link_and_key_spacing(emu: Emulator, api: Api, session: VerifyingSession) -> None:
    answer = _admin(
        session,
        emu,
        "POST",
        "behaviour",
        json={"next_link": "foreign", "key_spacing": "stray_space", "page_size": 1},
    )
    assert (answer.json()["next_link"], answer.json()["key_spacing"]) == ("foreign", "stray_space")
    body = api.get("ScheduledReport").json()
    assert body["nextLink"].startswith("https://evil.example.invalid/")
    assert " RecurrenceCount" in body["value"][0]


def test_post_behaviour(emu: Emulator, api: Api, session: VerifyingSession) -> None:
    answer = _admin(session, emu, "POST", "behaviour", json={"key_case": "pascal", "page_size": 1})
    assert answer.json()["key_case"] == "pascal"
    body = api.get("ScheduledReport").json()
    assert len(body["Value"]) == 1
    assert body["NextLink"]
    refused = _admin(session, emu, "POST", "behaviour", json={"key_case": "snake"})
    assert refused.status_code == 400
    assert "key_case must be one of mixed, camel, pascal" in refused.json()["error"]


def test_post_reset_restores_the_seeded_state(emu: Emulator, api: Api, session: VerifyingSession) -> None:
    report_id = emu.report_ids("mpn")[0]
    api.put(f"ScheduledReport/pause/{report_id}")
    emu.behaviour.key_case = "pascal"
    emu.faults.fail(count=3)
    assert _admin(session, emu, "POST", "reset").status_code == 200
    assert emu.report("mpn", report_id)["ReportStatus"] == "Active"
    assert emu.requests == []
    answer = api.get("ScheduledReport")  # the token issued before the reset still works
    assert answer.status_code == 200
    assert "value" in answer.json()


def test_report_status_and_revoke_tokens(emu: Emulator, api: Api, session: VerifyingSession) -> None:
    report_id = emu.report_ids("mpn")[1]
    answer = _admin(
        session,
        emu,
        "POST",
        "report-status",
        json={"program": "mpn", "report_id": report_id, "status": "Inactive"},
    )
    assert answer.json()["ReportStatus"] == "Inactive"
    assert (
        _admin(
            session, emu, "POST", "report-status", json={"report_id": report_id, "status": "Sleeping"}
        ).status_code
        == 400
    )
    _admin(session, emu, "POST", "revoke-tokens")
    assert api.get("ScheduledReport").status_code == 401


def test_admin_calls_are_not_faulted_or_logged(emu: Emulator, session: VerifyingSession) -> None:
    emu.faults.error_rate = 1
    assert _admin(session, emu, "GET", "reports").status_code == 200
    assert emu.requests == []
    assert _admin(session, emu, "GET", "nothing-here").status_code == 404
