# Two commands for a newcomer: `make app` (set up, start the app) and `make test`
# (set up, install the browser, run every test). Both work from a clean clone.
VENV ?= .venv
PY := $(VENV)/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup app train test browser bench lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,lab,bench,cluster]"
	touch $@

app: setup
	$(VENV)/bin/playground serve

train: setup
	$(VENV)/bin/playground train --dataset moons --epochs 20

# Debian's Chromium for the browser tests (Playwright cannot download its own here).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else sudo apt-get update -q && sudo apt-get install -y -q chromium; fi; }

test: setup browser
	$(VENV)/bin/ruff check playground tests benchmarks
	$(VENV)/bin/pytest

# The speed figures of the README table (a few minutes; `--quick` is what CI runs).
bench: setup browser
	$(PY) -m benchmarks

lint: setup
	$(VENV)/bin/ruff check playground tests benchmarks
