# Everything a fresh machine needs: Python 3.11 with pip. uv comes from PyPI into .venv,
# and each Airflow line gets an environment of its own.
PYTHON   ?= python3
UV       := .venv/bin/uv
AF2_SPEC ?= apache-airflow==2.11.*
AF3_SPEC ?= apache-airflow>=3.0,<4
# The floor runs: every direct dependency at its declared minimum (uv's lowest-direct),
# on the first release of each Airflow line.
FLOOR_AF2_SPEC ?= apache-airflow==2.11.0
FLOOR_AF3_SPEC ?= apache-airflow==3.0.0
# Airflow 2.11.0 and 3.0.0 ask for universal-pathlib with no upper bound, yet their ObjectStoragePath
# refuses every path with 0.3 (later releases bound it, and their constraints files pin 0.2.6).
FLOOR_PINS ?= universal-pathlib<0.3
# requests 2.31 accepts urllib3 1.26 as well as 2.x, and Airflow 2.11.0 does not mind: the 2.11.0 run
# takes the first 1.26 (lowest-direct; "urllib3<2" alone would reach back to 1.21, older than the
# 1.26 this provider supports), so the suite runs on both urllib3 lines.
FLOOR_AF2_PINS ?= urllib3>=1.26,<2
FLOOR_AF3_PINS ?=
PYTEST_ARGS ?=
# The end-to-end triggerer test (real triggerer, deferrable sensors, a triggerer restart) on the newest
# patch of each Airflow 3 minor between the floor and the newest, in lean environments: the provider, that
# Airflow and pytest, nothing else. 2.11 and the newest 3.x run it in their full suites (test-af2/af3).
# Installed without Airflow's constraints, some lines pick up FastAPI/Cadwyn releases that break them:
# pinned here as Airflow's constraints pin them (the README tells users the same).
E2E_MINORS := 3.0 3.1 3.2
E2E_3.0_SPEC ?= apache-airflow==3.0.*
E2E_3.0_PINS ?= fastapi==0.117.1 cadwyn==5.4.6 starlette==0.48.0
E2E_3.1_SPEC ?= apache-airflow==3.1.*
E2E_3.1_PINS ?=
E2E_3.2_SPEC ?= apache-airflow==3.2.*
E2E_3.2_PINS ?= fastapi==0.136.3 cadwyn==7.0.0
E2E_LINES := $(addprefix e2e-,$(E2E_MINORS))
# The four runs mostly wait on sockets and subprocesses: two at a time fill 2 cores.
TEST_JOBS ?= 2

LINES := af2 af3 floor-af2 floor-af3
LINE_af2 := AF2
LINE_af3 := AF3

.PHONY: help install demo test typecheck $(addprefix test-,$(LINES) $(E2E_LINES)) test-engine test-lines lint format bench reliability clean

help:
	@echo "make demo   run the example DAG against the local emulator and show what happened"
	@echo "make test   ruff, then the whole suite on Airflow 2.11 and the newest 3.x, and again with"
	@echo "            every dependency at its declared minimum (Airflow 2.11.0 and 3.0.0), and the"
	@echo "            end-to-end triggerer test on the newest 3.0, 3.1 and 3.2 (test-e2e-3.x), and mypy"
	@echo "make bench  benchmarks (ratios measured side by side)"
	@echo "make reliability  the reliability scenarios at full size; writes docs/reliability.md"

# Bytecode at install, as pip writes it (uv writes none). Without it, and with PYTHONDONTWRITEBYTECODE set,
# every Airflow process compiles all it imports from source at each start (tens of seconds on 2 cores), and
# a trigger's worker thread that imports the hook's libraries holds the GIL while compiling them: the
# triggerer's loop stalls and its watchdog logs "Triggerer's async thread was blocked", which an Airflow
# installed by pip never shows.
COMPILE = $(1)/bin/python -m compileall -q -j 0 $(1)/lib

$(UV):
	$(PYTHON) -m venv .venv
	.venv/bin/python -m pip install --quiet --disable-pip-version-check uv

# The newest releases also get the optional OpenLineage provider (the lineage tests); the floors run
# without it, as a user who never installs it does.
# One stamp per environment; it is rebuilt when pyproject.toml or this file (its specs and pins) changes.
.venv-af2/.installed: pyproject.toml Makefile | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv-af2
	$(UV) pip install --quiet --python .venv-af2/bin/python -e ".[dev,openlineage]" "$(AF2_SPEC)"
	$(call COMPILE,$(@D))
	touch $@

.venv-af3/.installed: pyproject.toml Makefile | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv-af3
	$(UV) pip install --quiet --python .venv-af3/bin/python -e ".[dev,openlineage,typing]" "$(AF3_SPEC)"
	$(call COMPILE,$(@D))
	touch $@

# --reinstall: an environment left from an older pyproject.toml must not keep newer versions.
.venv-floor-%/.installed: pyproject.toml Makefile | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv-floor-$*
	$(UV) pip install --quiet --reinstall --resolution lowest-direct --python .venv-floor-$*/bin/python \
		-e ".[dev]" "$(FLOOR_$(LINE_$*)_SPEC)" $(foreach pin,$(FLOOR_PINS) $(FLOOR_$(LINE_$*)_PINS),"$(pin)")
	$(call COMPILE,$(@D))
	touch $@

# The lean end-to-end lines: pytest-timeout because the e2e test bounds itself with it.
.venv-e2e-%/.installed: pyproject.toml Makefile | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv-e2e-$*
	$(UV) pip install --quiet --python .venv-e2e-$*/bin/python \
		-e . "pytest>=8" "pytest-timeout>=2.3" "$(E2E_$*_SPEC)" $(foreach pin,$(E2E_$*_PINS),"$(pin)")
	$(call COMPILE,$(@D))
	touch $@

install: $(foreach line,$(LINES) $(E2E_LINES),.venv-$(line)/.installed)

# The engine suite (tests/e2e/test_holds_engine.py): Airflow 3 on PostgreSQL, real scheduler, 2 triggerers.
# Its environment is the only one with the PostgreSQL drivers (psycopg2 for Airflow, asyncpg for its
# asynchronous connections); the server itself is Debian's postgresql package (see the README).
.venv-engine/.installed: pyproject.toml Makefile | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv-engine
	$(UV) pip install --quiet --python .venv-engine/bin/python -e ".[dev]" "$(AF3_SPEC)" psycopg2-binary asyncpg
	$(call COMPILE,$(@D))
	touch $@

lint: .venv-af3/.installed
	.venv-af3/bin/ruff check .
	.venv-af3/bin/ruff format --check .

# The package ships py.typed: users' type checkers trust its hints, so they are checked (newest Airflow).
typecheck: .venv-af3/.installed
	.venv-af3/bin/python -m mypy

format: .venv-af3/.installed
	.venv-af3/bin/ruff check --fix .
	.venv-af3/bin/ruff format .

test-af2: .venv-af2/.installed
	.venv-af2/bin/python -m pytest $(PYTEST_ARGS)

test-af3: .venv-af3/.installed
	.venv-af3/bin/python -m pytest $(PYTEST_ARGS)

# The end-to-end triggerer run is left to the newest patch of each minor (test-af2, test-af3, test-e2e-3.x);
# everything else runs on the floors.
# (Explicit rules: make applies no pattern rule to a phony target.)
FLOOR_PYTEST = PCINSIGHTS_FLOOR_RUN=1 $(1)/bin/python -m pytest -m "not e2e" $(PYTEST_ARGS)

test-floor-af2: .venv-floor-af2/.installed
	$(call FLOOR_PYTEST,.venv-floor-af2)

test-floor-af3: .venv-floor-af3/.installed
	$(call FLOOR_PYTEST,.venv-floor-af3)

test-engine: .venv-engine/.installed
	.venv-engine/bin/python -m pytest tests/e2e/test_holds_engine.py $(PYTEST_ARGS)

# Only the end-to-end triggerer test (the event-driven exports e2e runs on the newest 3.x in test-af3);
# --confcutdir keeps tests/conftest.py (the suite's own Airflow home and database) out.
E2E_PYTEST = $(1)/bin/python -m pytest -m e2e --confcutdir=tests/e2e tests/e2e/test_real_triggerer.py $(PYTEST_ARGS)

test-e2e-3.0: .venv-e2e-3.0/.installed
	$(call E2E_PYTEST,.venv-e2e-3.0)

test-e2e-3.1: .venv-e2e-3.1/.installed
	$(call E2E_PYTEST,.venv-e2e-3.1)

test-e2e-3.2: .venv-e2e-3.2/.installed
	$(call E2E_PYTEST,.venv-e2e-3.2)

# The engine suite first: it is the longest, and runs beside the lines rather than after them; the
# short end-to-end lines last.
test-lines: install .venv-engine/.installed
	$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target test-engine $(addprefix test-,$(LINES) $(E2E_LINES)) typecheck

test: lint
	$(MAKE) --no-print-directory test-lines

demo: .venv-af3/.installed
	.venv-af3/bin/python scripts/demo.py

bench: .venv-af3/.installed
	.venv-af3/bin/python scripts/bench.py

# Full size, on the newest Airflow; the fast variants run in make test (tests/reliability).
reliability: .venv-af3/.installed
	.venv-af3/bin/python scripts/reliability.py

clean:
	rm -rf .venv .venv-af2 .venv-af3 .venv-floor-af2 .venv-floor-af3 .venv-engine .venv-e2e-3.0 .venv-e2e-3.1 \
		.venv-e2e-3.2 .airflow-test .airflow-demo .airflow-e2e .airflow-reliability .airflow-engine .pytest_cache \
		.ruff_cache
