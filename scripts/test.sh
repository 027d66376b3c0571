#!/usr/bin/env bash
# Set up, then run the whole test suite, the type checker and the linter.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/debian-packages.sh
.venv/bin/ruff check meterd tests bench scripts
.venv/bin/mypy meterd
exec .venv/bin/python -m pytest "$@"
