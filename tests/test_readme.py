"""The README shows what works: its snippets are the example DAGs' own code, and its
fixture example runs as written."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()

README_BLOCK = re.compile(r"<!-- START (\S+) -->\n```python\n(.*?)```\n<!-- END \1 -->", re.S)
DAG_BLOCK = re.compile(r"# \[START (\S+)\]\n(.*?)\n\s*# \[END \1\]", re.S)


def _example_dag_blocks() -> dict[str, str]:
    blocks = {}
    for path in (REPO / "example_dags").glob("*.py"):
        for name, body in DAG_BLOCK.findall(path.read_text()):
            blocks[name] = body
    return blocks


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n")[1].split("\n## ")[0]


def test_readme_opens_with_what_it_does_for_a_user_and_keeps_make_for_its_developers():
    opening, *sections = README.split("\n## ")
    titles = [section.splitlines()[0] for section in sections]
    assert "make " not in opening
    assert titles.index("Installing into your own Airflow") < 3  # right after what it does
    assert "not on the package index" in _section("Installing into your own Airflow")
    first_block = _section("Working on the provider").split("```")[1]
    assert "make demo" in first_block
    assert "make test" in first_block


@pytest.mark.parametrize("name", [name for name, _ in README_BLOCK.findall(README)])
def test_readme_snippet_is_the_example_dag_code(name):
    readme_snippet = dict(README_BLOCK.findall(README))[name]
    dag_snippet = _example_dag_blocks().get(name)
    assert dag_snippet is not None, f"no [START {name}] block in example_dags"
    assert textwrap.dedent(readme_snippet).strip() == textwrap.dedent(dag_snippet).strip()


@pytest.mark.dag_test
def test_readme_fixture_example_runs_as_written(pcinsights_emulator, monkeypatch):
    section = README.split("## Testing your own DAGs against the emulator")[1]
    snippet = section.split("```python\n")[1].split("```")[0]
    monkeypatch.chdir(REPO)  # the snippet names example_dags relative to the repository
    namespace: dict = {}
    exec(snippet, namespace)  # the README's own lines, run against a real emulator
    test_function = next(v for k, v in namespace.items() if k.startswith("test_"))
    test_function(pcinsights_emulator)
    assert any(r.status == 429 for r in pcinsights_emulator.requests)  # its fault really happened


def test_readme_hook_snippet_runs_as_written(pcinsights_emulator):
    snippet = README.split("## The hook, for your own tasks")[1].split("```python\n")[1].split("```")[0]
    report_id = pcinsights_emulator.report_ids("mpn")[0]
    namespace = {"report_id": report_id}
    exec(snippet, namespace)  # the README's own lines, against a real emulator
    assert pcinsights_emulator.report("mpn", report_id)["ReportStatus"] == "Active"  # paused, then resumed
    assert [
        (r.method, r.path.rsplit("/", 2)[-2]) for r in pcinsights_emulator.requests if r.method == "PUT"
    ] == [
        ("PUT", "pause"),
        ("PUT", "resume"),
    ]
