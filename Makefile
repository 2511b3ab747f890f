# Yaofang — one command to run, one to test. See README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run test bench translations clean-db

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Yaofang needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

# Migrate the embedded SQLite database (instance/yaofang.db), load the demo store if it is empty, and serve with
# the scheduler in-process. Set YAOFANG_DATABASE_URL to use PostgreSQL instead.
run: install
	$(BIN)/yaofang init --demo
	$(BIN)/yaofang serve --host $(HOST) --port $(PORT)

# The test suite on SQLite, or on PostgreSQL when YAOFANG_TEST_DATABASE_URL is set. Browser tests run in Debian's
# Chromium when it is installed (skipped locally otherwise, and said so; a failure in CI).
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@if [ -z "$$YAOFANG_TEST_DATABASE_URL" ]; then \
	  echo "make test: ran on SQLite. PostgreSQL NOT tested here: set YAOFANG_TEST_DATABASE_URL=postgresql://user@127.0.0.1:5432/yaofang_test (.ci/run does both)."; \
	else echo "make test: ran on PostgreSQL."; fi

bench: install
	bash bench/run_all.sh

translations: install
	$(BIN)/python -m core.i18n_tools update

clean-db:
	rm -f instance/yaofang.db instance/yaofang.db-wal instance/yaofang.db-shm
