# Two set-up commands: `make demo` and `make test`. Both start from nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The suite starts a few hundred Python processes (the launcher, sandboxes, pip): each
# one would compile every module it imports again if bytecode were never cached, as some
# machines' environments ask (PYTHONDONTWRITEBYTECODE=1). That doubled the suite's CPU.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-all lint unit pythons bench docs screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	# uv resolves and installs the extras in seconds where pip takes a minute
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[sandbox,test,docs]'
	touch $(STAMP)

DEMO_LEDGER := $(VENV)/demo-ledger.jsonl
DEMO_WAIT_LEDGER := $(VENV)/demo-wait-ledger.jsonl

# The demo spends nothing: it dispatches to the embedded sandbox on a loopback port.
demo: $(STAMP)
	$(BIN)/launcher validate manifests/examples
	rm -f $(DEMO_LEDGER)
	EXAMPLE_TOKEN=demo-not-a-secret $(BIN)/launcher run manifests/examples --sandbox --ledger $(DEMO_LEDGER)
	@echo "--- the same run again: every entry is already in the ledger, nothing is sent"
	EXAMPLE_TOKEN=demo-not-a-secret $(BIN)/launcher run manifests/examples --sandbox --ledger $(DEMO_LEDGER)
	$(BIN)/launcher ledger summary $(DEMO_LEDGER)
	@echo "--- follow-through: dispatch, then watch each session to its end (sandbox sessions work ~5 s)"
	rm -f $(DEMO_WAIT_LEDGER)
	EXAMPLE_TOKEN=demo-not-a-secret $(BIN)/launcher run manifests/examples --sandbox --wait --poll-interval 1 --ledger $(DEMO_WAIT_LEDGER)
	$(BIN)/launcher ledger summary $(DEMO_WAIT_LEDGER)
	@echo "--- launcher is installed in $(VENV)/bin: run '. $(VENV)/bin/activate' to put it on PATH"

lint: $(STAMP)
	$(BIN)/ruff check launcher tests bench scripts noxfile.py
	$(BIN)/ruff format --check launcher tests bench scripts noxfile.py
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	# pytest-xdist: most tests wait on sockets and real processes. Four workers fed one test
	# at a time, longest first (tests/conftest.py), keep both cores busy to the end.
	$(BIN)/pytest -q -n 4 --maxschedchunk 1

# Every interpreter the classifiers claim: the default one runs the whole suite (`unit`),
# each other one present runs the fast loop through nox (a missing one is reported as
# skipped, by name). `make test-all` runs the whole suite on each of them.
DEFAULT_PY := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
SUPPORTED_PY := $(shell sed -n 's/.*"Programming Language :: Python :: \(3\.[0-9]*\)".*/\1/p' pyproject.toml)
OTHER_PY := $(filter-out $(DEFAULT_PY),$(SUPPORTED_PY))

pythons: $(STAMP)
	$(BIN)/nox --non-interactive -s fast -p $(OTHER_PY)

# The whole suite and the other interpreters' fast loops side by side: the suite waits on
# sockets and processes often enough to leave a third of a core to the fast loops (each
# target's output is kept together).
test: lint
	$(MAKE) --no-print-directory -j2 --output-sync=target unit pythons

test-all: lint $(STAMP)
	$(BIN)/nox --non-interactive -s full

# The site, from docs/ and mkdocs.yml: a missing page or anchor fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# docs/assets/live-table.png: a real run's live table on a terminal (needs tmux, chromium).
screenshots: $(STAMP)
	$(BIN)/python scripts/live_table_png.py

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) site .nox .pytest_cache .mypy_cache .ruff_cache .hypothesis
