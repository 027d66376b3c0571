#!/usr/bin/env bash
# Set up, then run the whole test suite, the type checker and the linter.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/debian-packages.sh
.venv/bin/ruff check meterd tests bench scripts
.venv/bin/mypy meterd
# two workers (the tests wait on subprocesses and services much of the time); tests that share one
# resource of the machine are grouped onto one worker (xdist_group); `-n 0` runs them in one process
exec .venv/bin/python -m pytest -n "${METERD_TEST_WORKERS:-2}" --dist loadgroup "$@"
