#!/usr/bin/env bash
# Install meterd as a system service on Debian 12 (as root):
#   scripts/install.sh --role gateway|central|portal [--root DIR]
# A virtual environment in /opt/meterd, the system user `meterd` (sysusers.d), its directories
# (tmpfiles.d), /etc/meterd/meterd.toml and meterd.env from the examples when there are none (never
# overwritten), a key-encryption key in /etc/meterd/kek when there is none, and the role's units in
# /etc/systemd/system (the gateway's also the udev rules of the dongles). --root DIR writes the same
# tree under DIR (for packaging and tests) and touches nothing of the running system. Running it again
# changes only what changed. Then: systemctl enable --now <the unit it names>.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
ROLE=""
ROOT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --role) ROLE=${2:-}; shift 2 ;;
        --role=*) ROLE=${1#--role=}; shift ;;
        --root) ROOT=${2:-}; shift 2 ;;
        --root=*) ROOT=${1#--root=}; shift ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (--role gateway|central|portal [--root DIR])" >&2; exit 2 ;;
    esac
done
case "$ROLE" in
    gateway) UNITS="meterd.service" ;;
    central) UNITS="meterd-ingest.service" ;;
    portal) UNITS="meterd-serve.service meterd-notices.service meterd-notices.timer" ;;
    *) echo "install.sh: --role gateway, central or portal" >&2; exit 2 ;;
esac
if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT"
    ROOT=$(cd "$ROOT" && pwd)
elif [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (or with --root DIR to write the tree elsewhere)" >&2
    exit 2
fi
SHARE="$SRC/meterd/share"
OPT="$ROOT/opt/meterd"
VENV="$OPT/.venv"
ETC="$ROOT/etc/meterd"
PYTHON=${PYTHON:-python3}

say() { echo "install.sh: $*"; }

# put FILE at TARGET with MODE, when it differs (a unit or rule of ours: replaced on upgrade)
put() {
    local file=$1 target=$2 mode=$3
    mkdir -p "$(dirname "$target")"
    if [ ! -f "$target" ] || ! cmp -s "$file" "$target"; then
        install -m "$mode" "$file" "$target"
        say "wrote ${target#$ROOT}"
    fi
}

# put FILE at TARGET only when there is none (a configuration: an edited one is never overwritten)
keep() {
    local file=$1 target=$2 mode=$3
    mkdir -p "$(dirname "$target")"
    if [ -e "$target" ]; then
        if ! cmp -s "$file" "$target"; then say "kept ${target#$ROOT} (edited; the example is $file)"; fi
    else
        install -m "$mode" "$file" "$target"
        say "wrote ${target#$ROOT} (edit it)"
    fi
}

# the program: a virtual environment with this meterd, reinstalled when the source's version differs
want=$(sed -n 's/^version = "\(.*\)"/\1/p' "$SRC/pyproject.toml" | head -1)
have=""
if [ -x "$VENV/bin/python" ]; then
    have=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("meterd"))' 2>/dev/null || true)
fi
if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$OPT"
    "$PYTHON" -m venv "$VENV"
fi
if [ "$have" != "$want" ] || [ "${METERD_REINSTALL:-}" = 1 ]; then
    say "installing meterd $want into ${VENV#$ROOT}"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location "$SRC"
fi
mkdir -p "$OPT/docs"
for doc in README.md docs/operations.md docs/interfaces.md docs/store.md; do
    put "$SRC/$doc" "$OPT/docs/$(basename "$doc")" 0644
done

# the user and the directories
put "$SHARE/systemd/meterd.sysusers" "$ROOT/usr/lib/sysusers.d/meterd.conf" 0644
put "$SHARE/systemd/meterd.tmpfiles" "$ROOT/usr/lib/tmpfiles.d/meterd.conf" 0644
if [ -z "$ROOT" ]; then
    systemd-sysusers meterd.conf
    systemd-tmpfiles --create meterd.conf
fi
mkdir -p "$ETC" "$ROOT/var/lib/meterd"
chmod 0750 "$ETC"
chmod 0700 "$ROOT/var/lib/meterd"

# the configuration (never overwritten) and the key-encryption key (made once, root's alone)
keep "$SHARE/meterd.toml" "$ETC/meterd.toml" 0640
keep "$SHARE/meterd.env" "$ETC/meterd.env" 0640
if [ ! -e "$ETC/kek" ]; then
    "$VENV/bin/meterd" keys new-kek --out "$ETC/kek" >/dev/null
    say "wrote ${ETC#$ROOT}/kek (back it up apart from the data: docs/operations.md)"
fi
if [ -z "$ROOT" ]; then
    chgrp meterd "$ETC" "$ETC/meterd.toml" "$ETC/meterd.env"
    chown -R meterd:meterd /var/lib/meterd
fi

# the role's units (and a gateway's udev rules)
for unit in $UNITS; do
    put "$SHARE/systemd/$unit" "$ROOT/etc/systemd/system/$unit" 0644
done
if [ "$ROLE" = gateway ]; then
    put "$SHARE/systemd/99-wmbus-dongles.rules" "$ROOT/etc/udev/rules.d/99-wmbus-dongles.rules" 0644
fi
if [ -z "$ROOT" ]; then
    systemctl daemon-reload
    if [ "$ROLE" = gateway ]; then udevadm control --reload-rules && udevadm trigger --subsystem-match=tty || true; fi
fi
first=${UNITS%% *}
[ "$ROLE" = portal ] && first="meterd-serve.service meterd-notices.timer"
say "done: edit /etc/meterd/meterd.toml (meterd config check /etc/meterd/meterd.toml), then: systemctl enable --now $first"
