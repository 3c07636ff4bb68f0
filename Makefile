# Modelbay: `make run` starts the app, `make test` runs every check. Both work on a fresh
# Debian machine: they create .venv, install what is missing, then do their job.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint typecheck unit test-noqt bench package clean

# ------------------------------------------------------------------ environments
$(VENV)/.run-installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.dev-installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.run-installed

# ------------------------------------------------------------------ the app
run: $(VENV)/.run-installed
	@bash tests/setup/system-packages.sh run
	$(BIN)/modelbay

# ------------------------------------------------------------------ the checks
test: $(VENV)/.dev-installed
	@bash tests/setup/system-packages.sh test
	@bash tests/setup/docker.sh
	$(MAKE) lint typecheck
	$(MAKE) test-noqt
	$(MAKE) unit

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check app tests
	$(BIN)/ruff format --check app tests
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

# The services and the CLI once more with Qt made unimportable: proves they never need it.
# The slow integration tests (Docker builds, shipping, PostgreSQL) run once, in `unit`.
test-noqt: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -p tests.block_qt -p no:pytest-qt \
		-o addopts="-ra --strict-markers -p no:cacheprovider" \
		-W "ignore::pytest.PytestConfigWarning" \
		--ignore=tests/ui --ignore=tests/benchmarks -m "not integration" -q

# The whole suite (last, so its summary line closes the output).
unit: $(VENV)/.dev-installed
	$(BIN)/python -m pytest --ignore=tests/benchmarks

# Benchmarks run on demand; they print figures and ratios against their peers.
bench: $(VENV)/.dev-installed
	$(BIN)/python -m tests.benchmarks

# The Linux installer: dist/modelbay_<version>_amd64.deb (docs/packaging.md).
package: $(VENV)/.dev-installed
	bash packaging/debian/build-deb.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build dist *.egg-info test-output
