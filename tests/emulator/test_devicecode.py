"""The emulator's device-code flow on the wire, as Entra answers it; the person at the browser over HTTP."""

from __future__ import annotations

import pytest
from emulator_support.clients import VerifyingSession, client_credentials_token

from airflow_provider_pcinsights.emulator import Emulator

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation offline_access openid profile"


def start(emu: Emulator, session: VerifyingSession, **form: str) -> dict:
    data = {"client_id": emu.client_id, "scope": SCOPE, **form}
    answer = session.post(f"{emu.authority}/oauth2/v2.0/devicecode", data=data)
    return {"status": answer.status_code, **answer.json()}


def poll(emu: Emulator, session: VerifyingSession, device_code: str, **form: str) -> dict:
    answer = client_credentials_token(
        emu, session, grant_type=GRANT, device_code=device_code, scope="", **form
    )
    return {"status": answer.status_code, **answer.json()}


def person(emu: Emulator, session: VerifyingSession, user_code: str, action: str) -> int:
    body = {"user_code": user_code, "action": action}
    return session.post(f"{emu.url}/_emulator/device-codes", json=body).status_code


def test_pending_until_approved_then_tokens_once(with_admin, emu, session):
    flow = start(emu, session)
    assert flow["status"] == 200
    assert flow["user_code"] in flow["message"]
    assert flow["interval"] == 5
    assert flow["expires_in"] == 900

    pending = poll(emu, session, flow["device_code"])
    assert (pending["status"], pending["error"], pending["error_codes"]) == (
        400,
        "authorization_pending",
        [70016],
    )
    assert session.get(f"{emu.url}/_emulator/device-codes").json() == {"pending": [flow["user_code"]]}

    assert person(emu, session, flow["user_code"], "approve") == 200
    tokens = poll(emu, session, flow["device_code"])
    assert tokens["status"] == 200
    assert tokens["refresh_token"]
    assert tokens["scope"] == "https://api.partnercenter.microsoft.com/user_impersonation"
    again = poll(emu, session, flow["device_code"])
    assert (again["status"], again["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("action", "error", "code"),
    [("decline", "authorization_declined", 65004), ("expire", "expired_token", 70020)],
)
def test_declined_or_expired(with_admin, emu, session, action, error, code):
    flow = start(emu, session)
    assert person(emu, session, flow["user_code"], action) == 200
    answer = poll(emu, session, flow["device_code"])
    assert (answer["error"], answer["error_codes"]) == (error, [code])


def test_slow_down_is_answered_when_asked(emu, session):
    flow = start(emu, session)
    emu.device_codes.slow_down(count=1)
    assert poll(emu, session, flow["device_code"])["error"] == "slow_down"
    assert poll(emu, session, flow["device_code"])["error"] == "authorization_pending"


def test_the_polls_need_the_client_credential(emu, session):
    flow = start(emu, session)
    emu.approve_device_code(flow["user_code"])
    answer = poll(emu, session, flow["device_code"], client_secret="wrong-secret")
    assert (answer["error"], answer["error_codes"]) == ("invalid_client", [7000215])


def test_an_unknown_client_or_tenant_gets_no_code(emu, session):
    assert start(emu, session, client_id="00000000-0000-4000-8000-0000000000aa")["error_codes"] == [700016]
    answer = session.post(
        f"{emu.url}/11111111-0000-4000-8000-000000000000/oauth2/v2.0/devicecode",
        data={"client_id": emu.client_id, "scope": SCOPE},
    ).json()
    assert answer["error_codes"] == [90002]
    assert emu.device_codes.pending() == []


def test_the_person_acts_on_known_codes_only(with_admin, emu, session):
    assert person(emu, session, "NOSUCHCOD", "approve") == 400
    flow = start(emu, session)
    assert person(emu, session, flow["user_code"], "dance") == 400
    emu.approve_device_code(flow["user_code"])
    with pytest.raises(ValueError, match="already approved"):
        emu.decline_device_code(flow["user_code"])


def test_the_printed_sign_in_page_lets_the_person_approve(emu, session):
    """The URL the device-code answer names opens a form, and its buttons do what the person means."""
    flow = start(emu, session)
    page = session.get(flow["verification_uri"])
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'name="code"' in page.text
    assert f"{flow['verification_uri']} and enter the code {flow['user_code']}" in flow["message"]

    # The code as a person types it: lower case, with a stray space.
    answer = session.post(flow["verification_uri"], data={"code": f" {flow['user_code'].lower()}"})
    assert answer.status_code == 200
    assert "signed in" in answer.text
    assert poll(emu, session, flow["device_code"])["status"] == 200
    # A used code is refused with a page that says so, and no second token comes of it.
    used = session.post(flow["verification_uri"], data={"code": flow["user_code"]})
    assert used.status_code == 409
    assert "already redeemed" in used.text


def test_the_sign_in_page_declines_and_refuses_unknown_codes(emu, session):
    flow = start(emu, session)
    unknown = session.post(f"{emu.url}/devicelogin", data={"code": "NOSUCHCOD"})
    assert (unknown.status_code, "didn't work" in unknown.text) == (400, True)
    assert emu.device_codes.pending() == [flow["user_code"]]

    declined = session.post(f"{emu.url}/devicelogin", data={"code": flow["user_code"], "action": "decline"})
    assert declined.status_code == 200
    assert poll(emu, session, flow["device_code"])["error"] == "authorization_declined"
