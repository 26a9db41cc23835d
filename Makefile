# Two commands on a fresh clone:  `make demo` (the DAG against the Airbyte emulator) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
AIRFLOW_VERSION := 3.3.2

PIP := $(BIN)/pip install --quiet --disable-pip-version-check "apache-airflow==$(AIRFLOW_VERSION)"

.PHONY: setup demo test bench lint clean

# What the demo needs: Airflow and this package.
$(VENV)/.base: pyproject.toml
	@echo "Installing Apache Airflow $(AIRFLOW_VERSION) and this package into $(VENV) (once; about 3 minutes)..."
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) -e .
	@touch $@

# What the tests need on top: pytest and friends, the Celery stack's packages, Playwright.
setup: $(VENV)/.installed

$(VENV)/.installed: $(VENV)/.base
	$(PIP) -e ".[test,celery,browser]"
	touch $@

demo: $(VENV)/.base
	@$(BIN)/python scripts/demo.py

# Two workers: the tests that start Airflow services run one after another on one of them (tests/conftest.py).
test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup

bench: setup
	$(BIN)/python benchmarks/run.py

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

clean:
	rm -rf $(VENV) .demo .pytest_cache
