"""Ports handed to Airflow's components by number: two runs at once (make test runs two Airflow lines side
by side) must never be given the same one, nor one another program holds."""

from __future__ import annotations

import socket
import subprocess
import sys

import airflow_components
from airflow_components import free_port


def test_a_reserved_port_is_not_handed_out_again_while_its_holder_lives(monkeypatch):
    monkeypatch.setattr(airflow_components.random, "randrange", lambda span: 0)  # every pick starts alike
    first, second = free_port(), free_port()
    assert first != second
    # A second run looks in the same place, from the same start, and skips both.
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import random, airflow_components as c; random.randrange = lambda span: 0; print(c.free_port())",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=airflow_components.__file__.rsplit("/", 1)[0],
    )
    assert int(child.stdout) not in (first, second)


def test_ports_come_from_below_the_range_outgoing_connections_use():
    assert free_port() < airflow_components._ephemeral_low()


def test_a_port_another_program_holds_is_skipped(monkeypatch):
    low = airflow_components._ephemeral_low() - airflow_components.PORT_SPAN
    with socket.socket() as holder:
        for offset in range(airflow_components.PORT_SPAN):
            try:
                holder.bind(("127.0.0.1", low + offset))
                break
            except OSError:
                continue
        holder.listen()
        taken = holder.getsockname()[1]
        monkeypatch.setattr(airflow_components.random, "randrange", lambda span: taken - low)
        assert free_port() != taken
