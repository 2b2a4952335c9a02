"""Figures about the package's shape that the closing notes quote, so anyone can rerun them.

``python scripts/code_figures.py chain``: the longest chain of package imports from an operator
module to a module that sends HTTP (one that imports ``requests`` and calls ``.request(`` or
``.send(``), ``TYPE_CHECKING`` imports left out.

``python scripts/code_figures.py tests BEFORE AFTER``: two ``pytest --collect-only -q`` outputs
compared by test name (the part after the file), so tests that only moved file count as kept;
prints the names gone and the names new.
"""

from __future__ import annotations

import argparse
import ast
import collections
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_pcinsights"


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text())
    type_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for sub in node.body
        for n in ast.walk(sub)
    }
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            target = ".".join(p for p in (base, node.module or "") if p)
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def longest_chain() -> list[str]:
    """The longest simple import path from an operator module to a module that sends HTTP."""
    paths = {
        _module(p): p
        for p in (REPO / PACKAGE).rglob("*.py")
        if not {"emulator", "testing"} & set(p.relative_to(REPO / PACKAGE).parts)
    }
    graph = {m: {t for t in _imports(p, m) if t in paths and t != m} for m, p in paths.items()}
    senders = {
        m
        for m, p in paths.items()
        if "import requests" in (text := p.read_text()) and (".request(" in text or ".send(" in text)
    }
    best: list[str] = []

    def walk(path: list[str]) -> None:
        nonlocal best
        if path[-1] in senders and len(path) > len(best):
            best = list(path)
        for nxt in graph[path[-1]] - set(path):
            walk([*path, nxt])

    for start in sorted(m for m in paths if ".operators." in m):
        walk([start])
    return best


def test_names(listing: Path) -> collections.Counter[str]:
    return collections.Counter(
        line.strip().split("::", 1)[1] for line in listing.read_text().splitlines() if "::" in line
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("chain", help="the longest import chain from an operator to the HTTP call")
    tests = sub.add_parser("tests", help="two pytest --collect-only -q outputs compared by test name")
    tests.add_argument("before", type=Path)
    tests.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.what == "chain":
        chain = longest_chain()
        print(f"{len(chain) - 1} imports: " + " -> ".join(m.removeprefix(f"{PACKAGE}.") for m in chain))
        return 0
    before, after = test_names(args.before), test_names(args.after)
    print(f"before {sum(before.values())} tests, after {sum(after.values())}")
    for sign, names in (("-", before - after), ("+", after - before)):
        for name in sorted(names):
            print(f"  {sign} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
