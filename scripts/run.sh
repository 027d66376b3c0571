#!/usr/bin/env bash
# The main job on embedded defaults: set up, then run meterd on the bundled sample capture.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
chmod 600 config/sample-keys.csv  # git does not keep file modes; key files must not be world-readable
exec .venv/bin/meterd listen --dongle hex --port config/sample-capture.hex --keys config/sample-keys.csv "$@"
