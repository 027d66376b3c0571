#!/usr/bin/env bash
# The main job on embedded defaults: set up, build the demo store in ./data (SQLite) with the bundled
# sample capture decoded into it, then show a few flats' readings and monthly use and the checks' findings.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
chmod 600 config/sample-keys.csv  # git does not keep file modes; key files must not be readable by others
DATA=${METERD_DATA:-data}
if [ ! -f "$DATA/meterd.sqlite" ]; then
    .venv/bin/meterd demo --data "$DATA"
else
    .venv/bin/meterd db upgrade --data "$DATA"
    # a demo store made before staff pages existed gets the demo staff login (once; later runs find it)
    if ! .venv/bin/meterd account list --data "$DATA" | grep -q '^obsluga '; then
        echo demo-obsluga-1 | .venv/bin/meterd account add obsluga --role staff --password-stdin --data "$DATA"
    fi
    .venv/bin/meterd ingest config/sample-capture.hex --keys config/sample-keys.csv --data "$DATA"
fi
.venv/bin/meterd report --data "$DATA" --premises D2 D3 K1
echo
.venv/bin/meterd check --data "$DATA"
echo
echo "Account view of the demo store: .venv/bin/meterd serve --data $DATA, then http://127.0.0.1:8080/"
echo "(tenant of flat D2: login lokator.d2, password demo-haslo-2; staff pages at /staff: obsluga, demo-obsluga-1)"
