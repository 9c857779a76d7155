#!/usr/bin/env bash
# Run the test suite; a run that collects no test fails (pytest exit 5).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin/python
# loadgroup keeps tests that share an HDL build directory on one worker.
"$PY" -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadgroup --durations=20 "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "run-tests: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit "$rc"
