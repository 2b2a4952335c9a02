"""The declared minimum versions are true: the code runs on them.

``make test`` runs the whole suite a second time in environments resolved with
``uv pip install --resolution lowest-direct`` (one with Airflow 2.11.0, one with
3.0.0), with ``PCINSIGHTS_FLOOR_RUN=1``. There, the tests below check that each
direct dependency really is at its declared minimum (or lifted above it by
another package's own requirement, which is then named), and in every run that
each name the code imports from ``airflow.providers.common.compat.sdk`` exists
in the installed release: in a floor run, the floor. Importing a name that a
later common-compat first exports fails here until the floor is raised.
"""

from __future__ import annotations

import ast
import importlib
import os
from importlib.metadata import distribution, distributions, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
COMPAT_SDK = "airflow.providers.common.compat.sdk"
FLOOR_RUN = os.environ.get("PCINSIGHTS_FLOOR_RUN") == "1"


def compat_sdk_imports() -> dict[str, set[str]]:
    """Every name imported from the compat SDK by the package and the example DAGs, with where."""
    names: dict[str, set[str]] = {}
    for path in [
        *(REPO / "airflow_provider_pcinsights").rglob("*.py"),
        *(REPO / "example_dags").glob("*.py"),
    ]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == COMPAT_SDK:
                for alias in node.names:
                    names.setdefault(alias.name, set()).add(str(path.relative_to(REPO)))
    return names


def declared_minimums() -> dict[str, Version]:
    minimums = {}
    for text in distribution("airflow-provider-pcinsights").requires or []:
        requirement = Requirement(text)
        if requirement.marker is not None:  # extras (dev tools) are not runtime floors
            continue
        lower = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==", "~=")]
        assert lower, f"{requirement} declares no minimum"
        minimums[requirement.name] = max(lower)
    return minimums


def lifted_by(name: str, minimum: Version) -> list[str]:
    """Installed distributions whose own requirements ask for more than our ``minimum``."""
    culprits = []
    for dist in distributions():
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.name.lower() != name.lower() or (
                requirement.marker is not None and not requirement.marker.evaluate({"extra": ""})
            ):
                continue
            floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==", "~=")]
            if floors and max(floors) > minimum:
                culprits.append(f"{dist.metadata['Name']} ({requirement})")
    return culprits


def test_the_code_imports_from_the_compat_sdk_what_the_installed_release_exports():
    sdk = importlib.import_module(COMPAT_SDK)
    names = compat_sdk_imports()
    assert {"BaseHook", "mask_secret", "AirflowException"} <= set(names)  # the scan finds them
    missing = {name: sorted(where) for name, where in names.items() if not hasattr(sdk, name)}
    compat = version("apache-airflow-providers-common-compat")
    assert not missing, (
        f"apache-airflow-providers-common-compat {compat} lacks {missing}: raise the declared minimum "
        "to the first release that exports them"
    )


def test_requires_python_matches_the_floors():
    """common-compat 1.21+ (and so our floor) needs Python 3.11; requires-python says the same."""
    ours = distribution("airflow-provider-pcinsights").metadata["Requires-Python"]
    compat = distribution("apache-airflow-providers-common-compat").metadata["Requires-Python"]
    assert ours == ">=3.11"
    if FLOOR_RUN:
        assert compat == ours


@pytest.mark.skipif(not FLOOR_RUN, reason="only where make test resolved the lowest direct versions")
def test_each_dependency_is_installed_at_its_declared_minimum():
    wrong = {}
    for name, minimum in declared_minimums().items():
        installed = Version(version(name))
        if name == "apache-airflow":
            continue  # each floor run pins its own line's first release
        if installed != minimum and not lifted_by(name, minimum):
            wrong[name] = f"{installed} installed, {minimum} declared"
    assert not wrong, f"the floor run did not resolve the declared minimums: {wrong}"


@pytest.mark.skipif(not FLOOR_RUN, reason="only where make test resolved the lowest direct versions")
def test_the_floor_run_uses_the_first_release_of_its_airflow_line():
    installed = Version(version("apache-airflow"))
    assert installed in (Version("2.11.0"), Version("3.0.0")), installed


@pytest.mark.skipif(not FLOOR_RUN, reason="only where make test resolved the lowest direct versions")
def test_the_airflow_2_floor_run_is_on_urllib3_1_26_which_requests_still_allows():
    """requests>=2.31 accepts urllib3 1.26 and 2.x; the Makefile pins 1.26 in the 2.11.0 run so that
    the transport (retries, bounded bodies, pooled connections) is tested on both lines."""
    urllib3 = Version(version("urllib3"))
    if version("apache-airflow") == "2.11.0":
        assert urllib3.release[:2] == (1, 26), urllib3
    else:
        assert urllib3.major >= 2, urllib3
