# Everything a fresh machine needs: Python 3.11 with pip. uv comes from PyPI into .venv,
# and each Airflow line gets an environment of its own.
PYTHON   ?= python3
UV       := .venv/bin/uv
AF2_SPEC ?= apache-airflow==2.11.*
AF3_SPEC ?= apache-airflow>=3.0,<4
PYTEST_ARGS ?=

.PHONY: help install demo test test-af2 test-af3 lint format bench clean

help:
	@echo "make demo   run the example DAG against the local emulator and show what happened"
	@echo "make test   ruff, then the whole suite on Airflow 2.11 and on the newest 3.x"
	@echo "make bench  benchmarks (ratios measured side by side)"

$(UV):
	$(PYTHON) -m venv .venv
	.venv/bin/python -m pip install --quiet --disable-pip-version-check uv

# One stamp per environment; it is rebuilt when pyproject.toml changes.
.venv-af2/.installed: pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv-af2
	$(UV) pip install --quiet --python .venv-af2/bin/python -e ".[dev]" "$(AF2_SPEC)"
	touch $@

.venv-af3/.installed: pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv-af3
	$(UV) pip install --quiet --python .venv-af3/bin/python -e ".[dev]" "$(AF3_SPEC)"
	touch $@

install: .venv-af2/.installed .venv-af3/.installed

lint: .venv-af3/.installed
	.venv-af3/bin/ruff check .
	.venv-af3/bin/ruff format --check .

format: .venv-af3/.installed
	.venv-af3/bin/ruff check --fix .
	.venv-af3/bin/ruff format .

test-af2: .venv-af2/.installed
	.venv-af2/bin/python -m pytest $(PYTEST_ARGS)

test-af3: .venv-af3/.installed
	.venv-af3/bin/python -m pytest $(PYTEST_ARGS)

test: lint test-af2 test-af3

demo: .venv-af3/.installed
	.venv-af3/bin/python scripts/demo.py

bench: .venv-af3/.installed
	.venv-af3/bin/python scripts/bench.py

clean:
	rm -rf .venv .venv-af2 .venv-af3 .airflow-test .airflow-demo .pytest_cache .ruff_cache
