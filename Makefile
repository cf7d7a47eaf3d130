# The course's commands. `make book` on a fresh machine installs everything and builds the
# website into _build/html; `make test` runs the tests. See README.md.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup lock book chapters check-chapters lint test test-fast grade bench browser clean

setup: $(STAMP)

# requirements-lock.txt pins every package (constraints), so every machine gets the versions
# the tests passed with.
$(STAMP): requirements.txt requirements-dev.txt requirements-lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt -c requirements-lock.txt
	$(BIN)/pip install -q --no-deps d2l==0.17.6
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

# After changing a requirements file: `make setup`, then this, then commit requirements-lock.txt.
lock: setup
	{ grep '^#' requirements-lock.txt; \
	  $(BIN)/pip freeze --all --exclude-editable --exclude pip --exclude d2l; } > requirements-lock.txt.new
	mv requirements-lock.txt.new requirements-lock.txt
	touch $(STAMP)  # the environment is the lock: nothing to reinstall

book: setup
	$(BIN)/rnn-course book

chapters: setup
	$(BIN)/rnn-course generate

check-chapters: setup
	$(BIN)/rnn-course generate --check

# Debian's Chromium, for the test that looks at the built website.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "Install Chromium (Debian/Ubuntu: sudo apt-get install chromium), then run make test again." >&2; exit 1; fi; }

# Lint and format (ruff) and type-check (mypy, autograde/ only), configured in pyproject.toml.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup browser lint
	$(BIN)/python -m pytest -q

# Lint, and the tests that need no notebook kernel, nbgrader run or book build: under a minute.
test-fast: setup lint
	$(BIN)/python -m pytest -q -m "not slow"

grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=path/to/submissions [ASSIGNMENT=lstm-scratch]" >&2; exit 2; }
	$(BIN)/rnn-course grade "$(SUBMISSIONS)" $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT))

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf _build grading
