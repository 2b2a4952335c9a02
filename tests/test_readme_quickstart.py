"""The README's quick start, run as a newcomer runs it: its commands are read from README.md.

Each block marked ``<!-- quickstart: NAME -->`` is taken verbatim. The emulator's block runs
as its own process (the first terminal); the line it prints is pasted, as printed, in front
of the other blocks, which run in one ``bash`` (the second terminal) with this environment's
``python`` and ``airflow`` first on ``PATH``, a throwaway ``AIRFLOW_HOME`` and no Airflow
setting inherited from the test session. The test plays the person at the browser: it reads
the code the sign-in helper shows and approves it on the emulator's ``/devicelogin`` page,
as the README says. So the quick start cannot go stale: change a command in the README, and
this runs the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from airflow_provider_pcinsights.emulator.state import seeded_report_id

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
QUICKSTART_BLOCK = re.compile(r"<!-- quickstart: (\w+) -->\n```bash\n(.*?)```", re.S)
SIGN_IN_PROMPT = re.compile(r"open the page (\S+) and enter the code (\w+)")
# The emulator, `airflow db migrate` on a fresh home, two Airflow commands, a device-code wait.
SCRIPT_TIMEOUT = 420


def quickstart_blocks() -> dict[str, str]:
    return dict(QUICKSTART_BLOCK.findall(README))


def newcomer_env(home: Path) -> dict[str, str]:
    """A shell as a newcomer has one: this environment's executables, a fresh home, no settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "PCINSIGHTS_", "PYTEST"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["AIRFLOW_HOME"] = str(home)
    return env


class Lines:
    """A stream read line by line in a thread, so the test can wait for a line without blocking."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of stream
            self._changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str] | None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if match := pattern.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.lines and self.lines[-1] == ""):
                    return None
                self._changed.wait(remaining)

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def emulator_terminal(tmp_path: Path) -> Iterator[tuple[str, dict]]:
    """The first terminal: the README's emulator command; yields the line it printed, and the
    connection that line sets (for the test's own look at the emulator)."""
    process = subprocess.Popen(
        ["bash", "-c", quickstart_blocks()["emulator"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=newcomer_env(tmp_path / "home-1"),
        start_new_session=True,  # the whole group stops at the end, as Ctrl-C would stop it
    )
    try:
        out = Lines(process.stdout)
        err = Lines(process.stderr)
        printed = out.wait_for(re.compile(r"^.+$"), timeout=60)
        assert printed, f"the emulator printed nothing: {err.text()}"
        line = printed.group(0)
        words = shlex.split(line)
        assert words[0] == "export", f"not usable as printed: {line[:40]}"
        conn = json.loads(words[1].partition("=")[2])
        yield line, conn
    finally:
        _stop(process)


@pytest.mark.skipif(
    bool(os.environ.get("PCINSIGHTS_FLOOR_RUN")),
    # About a minute a line, mostly `airflow db migrate`: the floors run the README's snippets
    # (tests/test_readme.py) and the helpers' own tests; the newest release of each line runs this.
    reason="the quick start runs on the newest Airflow of each line",
)
@pytest.mark.timeout(SCRIPT_TIMEOUT + 60)
def test_the_readme_quick_start_works_when_pasted(emulator_terminal, tmp_path: Path) -> None:
    blocks = quickstart_blocks()
    assert set(blocks) == {"emulator", "steps", "signin"}, "the README's quick start blocks changed"
    printed_line, conn = emulator_terminal
    ca = conn["extra"]["verify"]
    # `--reports 3` seeds the same three mpn reports in every run.
    report_ids = [seeded_report_id("mpn", index) for index in range(3)]

    # The second terminal: the pasted line, then the README's blocks in order, then the test's own
    # look at what the sign-in left in the shell (a new refresh token that works).
    check = (
        "python -c 'import hashlib, json, os; "
        "from airflow_provider_pcinsights.hooks.insights import PartnerCenterInsightsHook as Hook; "
        'token = json.loads(os.environ["AIRFLOW_CONN_PCINSIGHTS_DEFAULT"])["extra"]["refresh_token"]; '
        'print("after the sign-in:", hashlib.sha256(token.encode()).hexdigest()[:16], '
        "len(Hook().list_reports()))'"
    )
    script = "\n".join(["set -e", printed_line, blocks["steps"], blocks["signin"], check, ""])
    process = subprocess.Popen(
        ["bash", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=newcomer_env(tmp_path / "home-2"),
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        out, err = Lines(process.stdout), Lines(process.stderr)
        # The person at the browser: the page and the code the helper shows, then Approve.
        prompt = err.wait_for(SIGN_IN_PROMPT, timeout=SCRIPT_TIMEOUT)
        assert prompt, f"no sign-in prompt:\n{out.text()[-3000:]}\n{err.text()[-3000:]}"
        page, code = prompt.groups()
        assert page == f"{conn['host']}/devicelogin"
        assert requests.get(page, verify=ca, timeout=30).status_code == 200
        approved = requests.post(page, data={"code": code}, verify=ca, timeout=30)
        assert approved.status_code == 200, approved.text
        process.wait(timeout=SCRIPT_TIMEOUT)
    finally:
        _stop(process)
    stdout, stderr = out.text(), err.text()
    assert process.returncode == 0, f"{stdout[-3000:]}\n{stderr[-3000:]}"

    assert "Connection success" in stdout + stderr  # airflow connections test, on the pasted line
    listed = {words[0] for words in map(str.split, stdout.splitlines()) if words and words[0] in report_ids}
    assert listed == set(report_ids)  # the hook listed every report, one id per line
    minted = re.search(r"after the sign-in: (\w+) (\d+)", stdout)
    assert minted, stdout[-2000:]
    pasted = hashlib.sha256(conn["extra"]["refresh_token"].encode()).hexdigest()[:16]
    assert minted.group(1) != pasted  # eval exported the connection with the newly minted token
    assert minted.group(2) == "3"  # and it works
    assert (tmp_path / "home-2" / "airflow.db").exists()  # airflow db migrate made the database
