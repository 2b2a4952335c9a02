"""``python -m airflow_provider_pcinsights.emulator`` prints a working connection and stops cleanly."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msal
import pytest
import requests
from emulator_support.clients import VerifyingSession, strip_bom, values

from airflow_provider_pcinsights.emulator import Behaviour, Emulator, cli
from airflow_provider_pcinsights.emulator.cli import build_parser

MODULE = "airflow_provider_pcinsights.emulator"


@pytest.fixture
def start_cli() -> Iterator[Any]:
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
        process = subprocess.Popen(
            [sys.executable, "-m", MODULE, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line, process.stderr.read()  # type: ignore[union-attr]
        # What pasting the line into a shell does: `export`, then NAME=VALUE split as the shell splits it.
        words = shlex.split(line)
        assert words[0] == "export", line
        assert len(words) == 2, line
        name, _, value = words[1].partition("=")
        return process, {name: value}

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def _sign_in(conn: dict[str, Any]) -> str:
    """Sign in as the printed connection says: App+User with its refresh token, or app-only."""
    extra = conn["extra"]
    app = msal.ConfidentialClientApplication(
        conn["login"],
        client_credential=conn["password"],
        authority=f"{extra['authority_host']}/{extra['tenant_id']}",
        instance_discovery=False,
        http_client=VerifyingSession(extra["verify"]),  # Entra's JSON starts with a BOM too
    )
    scopes = ["https://api.partnercenter.microsoft.com/.default"]
    if extra["auth_type"] == "refresh_token":
        return app.acquire_token_by_refresh_token(extra["refresh_token"], scopes)["access_token"]
    return app.acquire_token_for_client(scopes)["access_token"]


def _list(conn: dict[str, Any], token: str, timeout: float = 10) -> requests.Response:
    """One API call on a connection of its own (plain ``requests``), verifying the printed CA."""
    return requests.get(
        f"{conn['host']}/insights/v1/{conn['extra']['program']}/ScheduledReport",
        headers={"Authorization": f"Bearer {token}"},
        verify=conn["extra"]["verify"],
        timeout=timeout,
        hooks={"response": [strip_bom]},
    )


def _sign_in_and_list(conn: dict[str, Any]) -> list[dict[str, Any]]:
    answer = _list(conn, _sign_in(conn))
    answer.raise_for_status()
    return values(answer)


def test_prints_a_connection_that_works_from_another_process(start_cli: Any) -> None:
    process, env = start_cli("--reports", "4", "--program", "cmp")
    assert list(env) == ["AIRFLOW_CONN_PCINSIGHTS_DEFAULT"]
    conn = json.loads(env["AIRFLOW_CONN_PCINSIGHTS_DEFAULT"])
    assert conn["conn_type"] == "pcinsights"
    assert conn["extra"]["program"] == "cmp"
    records = _sign_in_and_list(conn)
    assert len(records) == 4

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert not Path(conn["extra"]["verify"]).exists()  # its temporary certificates are gone


def test_options_shape_the_service(start_cli: Any, tmp_path: Path) -> None:
    process, env = start_cli(
        "--reports",
        "3",
        "--page-size",
        "2",
        "--key-case",
        "pascal",
        "--key-spacing",
        "stray_space",
        "--state-dir",
        str(tmp_path / "state"),
    )
    conn = json.loads(env["AIRFLOW_CONN_PCINSIGHTS_DEFAULT"])
    token = _sign_in(conn)
    page = _list(conn, token).json()
    assert len(page["Value"]) == 2  # --page-size; PascalCase keys (--key-case pascal)
    assert " RecurrenceCount" in page["Value"][0]  # --key-spacing stray_space
    assert json.loads((tmp_path / "state" / "connection.json").read_text()) == conn
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    assert (tmp_path / "state" / "ca.pem").exists()  # a state directory the user chose is kept


def test_throttle_every_from_the_command_line(start_cli: Any) -> None:
    process, env = start_cli("--throttle-every", "1", "--retry-after", "4", "--retry-after-header", "always")
    conn = json.loads(env["AIRFLOW_CONN_PCINSIGHTS_DEFAULT"])
    with pytest.raises(requests.HTTPError) as raised:
        _sign_in_and_list(conn)
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "4"
    process.terminate()
    assert process.wait(timeout=20) == 0


def test_drop_every_from_the_command_line(start_cli: Any) -> None:
    process, env = start_cli("--drop-every", "2")
    conn = json.loads(env["AIRFLOW_CONN_PCINSIGHTS_DEFAULT"])
    token = _sign_in(conn)  # token calls are never dropped, nor counted
    outcomes: list[int | str] = []
    for _ in range(4):
        try:
            outcomes.append(_list(conn, token).status_code)
        except requests.exceptions.ConnectionError:
            outcomes.append("dropped")
    assert outcomes == [200, "dropped", 200, "dropped"]
    process.terminate()
    assert process.wait(timeout=20) == 0


def test_hang_every_from_the_command_line(start_cli: Any) -> None:
    process, env = start_cli("--hang-every", "2", "--hang-seconds", "3")
    conn = json.loads(env["AIRFLOW_CONN_PCINSIGHTS_DEFAULT"])
    token = _sign_in(conn)
    assert _list(conn, token).status_code == 200
    # The 2nd call is held far longer than this client waits; the 3rd is answered meanwhile.
    with pytest.raises(requests.exceptions.ReadTimeout):
        _list(conn, token, timeout=0.2)
    assert _list(conn, token).status_code == 200
    process.terminate()
    assert process.wait(timeout=20) == 0


def test_help_documents_every_fault_option_and_every_behaviour() -> None:
    text = build_parser().format_help()
    for option in ("--throttle-every", "--retry-after", "--drop-every", "--hang-every", "--hang-seconds"):
        assert option in text
    for name in Behaviour.choices():
        assert f"--{name.replace('_', '-')}" in text


def test_help_explains_every_option_in_one_line() -> None:
    unexplained = [
        action.option_strings[0]
        for action in build_parser()._actions
        if action.option_strings and (not action.help or "\n" in action.help or len(action.help) > 110)
    ]
    assert unexplained == []


def test_behaviours_from_the_command_line(start_cli: Any) -> None:
    argv = ("--bom", "off", "--error-shape", "general", "--app-only-on-mpn", "allow")
    behaviour = _configured(*argv).behaviour.to_dict()
    process, env = start_cli(*argv)
    conn = json.loads(env["AIRFLOW_CONN_PCINSIGHTS_DEFAULT"])
    assert {k: behaviour[k] for k in ("bom", "error_shape", "app_only_on_mpn", "key_case")} == {
        "bom": "off",
        "error_shape": "general",
        "app_only_on_mpn": "allow",
        "key_case": "mixed",  # the awkward default, as every other setting not given
    }
    assert conn["extra"]["auth_type"] == "refresh_token"  # mpn's line signs in as App+User
    assert not _list(conn, _sign_in(conn)).raw_body.startswith(b"\xef\xbb\xbf")  # type: ignore[attr-defined]
    process.terminate()
    assert process.wait(timeout=20) == 0


def test_run_times_and_the_clock_from_the_command_line() -> None:
    emulator = _configured(
        "--pending-seconds", "1", "--running-seconds", "2", "--link-seconds", "30", "--step-per-read", "5"
    )
    assert emulator.runs.to_dict() == {"pending_seconds": 1.0, "running_seconds": 2.0, "link_seconds": 30.0}
    assert emulator.clock.step_per_read == 5.0


def _configured(*argv: str) -> Emulator:
    """The emulator the command line would serve with these options (in this process, not started)."""
    args = cli.parse_args(cli.build_parser(), argv)
    emulator = Emulator(**cli.emulator_options(args))
    emulator.stop()  # never started: this only removes its temporary files
    cli.configure(emulator, args)
    return emulator


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--link-seconds", "-1"], "argument --link-seconds: must be a number of seconds >= 0"),
        (["--drop-every", "0"], "argument --drop-every: must be a positive integer, got '0'"),
        (["--drop-every", "two"], "argument --drop-every: must be a positive integer, got 'two'"),
        (["--hang-every", "-1"], "argument --hang-every: must be a positive integer, got '-1'"),
        (
            ["--hang-every", "1", "--hang-seconds", "-2"],
            "argument --hang-seconds: must be a number of seconds",
        ),
        (
            ["--hang-every", "1", "--hang-seconds", "nan"],
            "argument --hang-seconds: must be a number of seconds",
        ),
        (["--hang-seconds", "2"], "--hang-seconds needs --hang-every"),
        (["--throttle-every", "-1"], "argument --throttle-every: must be an integer >= 0, got '-1'"),
        (["--rate-limit", "0"], "argument --rate-limit: must be a number > 0, got '0'"),
        (["--rate-limit", "-3"], "argument --rate-limit: must be a number > 0, got '-3'"),
        (["--rate-limit", "5", "--rate-burst", "0"], "argument --rate-burst: must be a positive integer"),
        (["--rate-burst", "4"], "--rate-burst needs --rate-limit"),
    ],
)
def test_bad_fault_options_are_refused_with_a_message(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", MODULE, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert not done.stdout  # refused before anything started


def test_bad_options_are_refused_with_a_message() -> None:
    done = subprocess.run(
        [sys.executable, "-m", MODULE, "--resume-when-inactive", "sometimes"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--resume-when-inactive" in done.stderr
    assert "invalid choice" in done.stderr
