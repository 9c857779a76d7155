# Both targets bootstrap .venv from nothing (scripts/bootstrap.sh), then run.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
unexport VIRTUAL_ENV

.PHONY: venv demo test test-long lint docs clean

venv:
	@bash scripts/bootstrap.sh

demo: venv
	$(PY) examples/demo.py

# The whole suite. pytest's exit 5 (nothing collected) is a failure here.
test: venv
	bash scripts/run-tests.sh

# The long randomized regressions too (see docs/testing.md).
test-long: venv
	SPIKEMESH_LONG=1 bash scripts/run-tests.sh

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf build .pytest_cache
